"""Hooks of the PolygloToxicityPrompts tasks: the prompts of one language, scored by the multilingual classifier."""

from __future__ import annotations

from toxft import data, settings
from toxft.tasks.toxft.utils import as_dataset, configure, process_results, score_with

__all__ = ["ptp_prompts", "score_responses", "process_results"]


def ptp_prompts(ptp_language: str, ptp_subset: str, **metadata):
    """The task's documents: ``n_severe`` or ``n_random`` prompts of one language (its YAML's dataset_kwargs)."""
    options = configure(metadata)
    split = str(metadata.get("ptp_split", "small"))
    if split not in data.PTP_SPLITS:
        raise SystemExit(f"toxft: bad --metadata value: ptp_split={split!r} (small or full)")
    n = options[f"n_{ptp_subset}"]
    return as_dataset(lambda: data.ptp_docs(ptp_language, ptp_subset, n, options["seed"], options["data_dir"],
                                            options["revision"], split),
                      settings.current().multilingual())


def score_responses(resps: list[list[str]], docs: list[dict]) -> list[list[float]]:
    """Harness filter: each continuation's P(toxic) under the multilingual classifier, in one batched pass."""
    return score_with(resps, settings.current().multilingual())
