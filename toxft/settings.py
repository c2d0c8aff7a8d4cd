"""Run-time settings shared by the harness hooks, the scorer and the CLI.

Precedence, highest first: the harness's ``--metadata`` JSON, the ``TOXFT_*``
environment variables, the defaults below. The harness passes ``--metadata``
only to the dataset hook, so that hook records it here for the scorer.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from toxft.errors import ToxftError

DEFAULT_SCORER = "facebook/roberta-hate-speech-dynabench-r4-target"
DEFAULT_LABEL = "hate"
DEFAULT_THRESHOLD = 0.5
ACTIVATIONS = ("softmax", "sigmoid")
# Named scorers: (Hub id, label, activation). "paper" is the default and gives the paper's numbers;
# s-nlp and toxic-bert are trained on the Jigsaw toxic-comment data, closer to Perspective's "toxicity";
# "multilingual" (XLM-R large, TextDetox 2025 data; its config: 0 neutral, 1 toxic, single-label) scores
# the PolygloToxicityPrompts tasks. The languages each was trained on: toxft.languages.
PRESETS = {
    "paper": (DEFAULT_SCORER, DEFAULT_LABEL, "softmax"),
    "s-nlp": ("s-nlp/roberta_toxicity_classifier", "toxic", "softmax"),
    "toxic-bert": ("unitary/toxic-bert", "toxic", "sigmoid"),
    "multilingual": ("textdetox/xlmr-large-toxicity-classifier-v2", "toxic", "softmax"),
}
DEFAULT_MULTILINGUAL_SCORER = "multilingual"

_ENV = {
    "scorer": "TOXFT_SCORER",
    "scorer_revision": "TOXFT_SCORER_REVISION",
    "scorer_label": "TOXFT_SCORER_LABEL",
    "scorer_activation": "TOXFT_SCORER_ACTIVATION",
    "scorer_device": "TOXFT_SCORER_DEVICE",
    "scorer_batch_size": "TOXFT_SCORER_BATCH_SIZE",
    "multilingual_scorer": "TOXFT_MULTILINGUAL_SCORER",
    "threshold": "TOXFT_THRESHOLD",
    "data_dir": "TOXFT_DATA_DIR",
}


class SettingsError(ToxftError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Everything a toxft evaluation can be configured with."""

    scorer: str = DEFAULT_SCORER  # a preset, a folder or a Hub id, optionally MODEL:label
    scorer_revision: str | None = None
    scorer_label: str | None = None  # None: MODEL:label's, the preset's, else "hate"
    scorer_activation: str | None = None  # None: the preset's, else as the classifier's config says
    scorer_device: str | None = None
    scorer_batch_size: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    data_dir: str | None = None
    multilingual_scorer: str = DEFAULT_MULTILINGUAL_SCORER  # the PolygloToxicityPrompts tasks' classifier

    def scorer_spec(self) -> tuple[str, str, str]:
        """(model id or folder, label, activation), with a preset name and a ``:label`` suffix expanded."""
        name, named_label = split_label(self.scorer)
        model, label, activation = PRESETS.get(name, (name, DEFAULT_LABEL, None))
        activation = self.scorer_activation or activation or config_activation(model, self.scorer_revision)
        return model, named_label or self.scorer_label or label, activation

    def multilingual(self) -> "Settings":
        """The settings of the PolygloToxicityPrompts tasks: the multilingual classifier, with its own label."""
        return replace(self, scorer=self.multilingual_scorer, scorer_label=None, scorer_activation=None,
                       scorer_revision=None)

    def scorer_description(self) -> str:
        """What a run was scored by, as recorded in every document: model[@revision] [label, activation]."""
        model, label, activation = self.scorer_spec()
        revision = f"@{self.scorer_revision}" if self.scorer_revision else ""
        return f"{model}{revision} [{label}, {activation}]"


def split_label(spec: str) -> tuple[str, str | None]:
    """``MODEL:label`` -> (MODEL, label); a spec without a label -> (spec, None). Hub ids never hold a colon."""
    head, colon, tail = spec.rpartition(":")
    if colon and head and tail and "/" not in tail and "\\" not in tail and not Path(spec).expanduser().is_dir():
        return head, tail
    return spec, None


def config_activation(model: str, revision: str | None = None) -> str:
    """The activation the transformers pipeline would use for this classifier: sigmoid when its config says
    ``problem_type: multi_label_classification`` (or it has one label), softmax otherwise."""
    return _config_activation(model, revision)


@functools.lru_cache(maxsize=64)
def _config_activation(model: str, revision: str | None) -> str:
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model, revision=revision)
    except Exception:  # unreadable here (offline, no such model): loading it later says why
        return "softmax"
    if getattr(config, "problem_type", None) == "multi_label_classification" or getattr(config, "num_labels", 2) == 1:
        return "sigmoid"
    return "softmax"


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
