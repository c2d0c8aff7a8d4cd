"""toxft: does fine-tuning make a language model more toxic?

Harness tasks for the prompt suite of Hawkins, Mittelstadt & Russell (2024), a fast
local toxicity scorer, Dolly LoRA fine-tuning, BEST comparisons and model-card tables.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("toxft")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__", "score", "tasks_path", "measurement_path"]


def score(texts: list[str], *, model: str | None = None, device: str | None = None, batch_size: int | None = None,
          label: str | None = None, activation: str | None = None) -> list[float]:
    """P(label) for each text (default: P(`hate`) from the paper's classifier); see :func:`toxft.scorer.score`."""
    from toxft.scorer import score as _score

    return _score(texts, model=model, device=device, batch_size=batch_size, label=label, activation=activation)


def tasks_path() -> Path:
    """The folder to pass to ``lm_eval --include_path``."""
    import toxft.tasks

    return Path(toxft.tasks.__file__).resolve().parent


def measurement_path() -> Path:
    """The folder of the ``evaluate`` measurement, for ``evaluate.load(path)``."""
    return Path(__file__).resolve().parent / "measurements" / "toxft_toxicity"
