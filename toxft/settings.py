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
DEFAULT_THRESHOLD = 0.5

_ENV = {
    "scorer": "TOXFT_SCORER",
    "scorer_revision": "TOXFT_SCORER_REVISION",
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
    scorer_device: str | None = None
    scorer_batch_size: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    data_dir: str | None = None


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
        if name == "threshold":
            number = float(value)
            if not 0.0 <= number <= 1.0:
                raise ValueError
            return number
    except (TypeError, ValueError):
        raise SettingsError(f"toxft: invalid {name}={value!r}") from None
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
