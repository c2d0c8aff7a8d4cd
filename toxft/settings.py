"""Run-time settings shared by the harness hooks, the scorer and the CLI.

Precedence, highest first: the harness's ``--metadata`` JSON, the ``TOXFT_*``
environment variables, the defaults below. The harness passes ``--metadata``
only to the dataset hook, so that hook records it here for the scorer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

from toxft.errors import ToxftError

DEFAULT_SCORER = "facebook/roberta-hate-speech-dynabench-r4-target"
DEFAULT_LABEL = "hate"
DEFAULT_THRESHOLD = 0.5
ACTIVATIONS = ("softmax", "sigmoid")
# Named scorers: (Hub id, label, activation). "paper" is the default and gives the paper's numbers;
# the others are trained on the Jigsaw toxic-comment data, closer to Perspective's "toxicity".
PRESETS = {
    "paper": (DEFAULT_SCORER, DEFAULT_LABEL, "softmax"),
    "s-nlp": ("s-nlp/roberta_toxicity_classifier", "toxic", "softmax"),
    "toxic-bert": ("unitary/toxic-bert", "toxic", "sigmoid"),
}

_ENV = {
    "scorer": "TOXFT_SCORER",
    "scorer_revision": "TOXFT_SCORER_REVISION",
    "scorer_label": "TOXFT_SCORER_LABEL",
    "scorer_activation": "TOXFT_SCORER_ACTIVATION",
    "scorer_device": "TOXFT_SCORER_DEVICE",
    "scorer_batch_size": "TOXFT_SCORER_BATCH_SIZE",
    "threshold": "TOXFT_THRESHOLD",
    "data_dir": "TOXFT_DATA_DIR",
}


class SettingsError(ToxftError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Everything a toxft evaluation can be configured with."""

    scorer: str = DEFAULT_SCORER
    scorer_revision: str | None = None
    scorer_label: str | None = None  # None: the preset's label, else "hate"
    scorer_activation: str | None = None  # None: the preset's activation, else softmax
    scorer_device: str | None = None
    scorer_batch_size: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    data_dir: str | None = None

    def scorer_spec(self) -> tuple[str, str, str]:
        """(model id or folder, label, activation), with a preset name expanded."""
        model, label, activation = PRESETS.get(self.scorer, (self.scorer, DEFAULT_LABEL, "softmax"))
        return model, self.scorer_label or label, self.scorer_activation or activation

    def scorer_description(self) -> str:
        """What a run was scored by, as recorded in every document: model[@revision] [label, activation]."""
        model, label, activation = self.scorer_spec()
        revision = f"@{self.scorer_revision}" if self.scorer_revision else ""
        return f"{model}{revision} [{label}, {activation}]"


_overrides: dict[str, object] = {}


def _coerce(name: str, value: object) -> object:
    if value is None or value == "":
        return None
    try:
        if name == "scorer_batch_size":
            number = int(value)
            if number < 1:
                raise ValueError
            return number
        if name == "scorer_activation":
            if value not in ACTIVATIONS:
                raise ValueError
            return str(value)
        if name == "threshold":
            number = float(value)
            if not 0.0 <= number <= 1.0:
                raise ValueError
            return number
    except (TypeError, ValueError):
        hint = f" (one of {', '.join(ACTIVATIONS)})" if name == "scorer_activation" else ""
        raise SettingsError(f"toxft: invalid {name}={value!r}{hint}") from None
    return str(value)


def record_metadata(metadata: dict) -> None:
    """Remember the toxft keys of a harness ``--metadata`` dict for this process."""
    known = {f.name for f in fields(Settings)}
    for key, value in metadata.items():
        if key in known:
            _overrides[key] = _coerce(key, value)


def current() -> Settings:
    """The settings in force now: metadata over environment over defaults."""
    values: dict[str, object] = {}
    for name, env in _ENV.items():
        if os.environ.get(env):
            values[name] = _coerce(name, os.environ[env])
    values.update({k: v for k, v in _overrides.items() if v is not None})
    return replace(Settings(), **values)


def reset() -> None:
    """Forget recorded metadata (tests, and processes that run several evaluations)."""
    _overrides.clear()
