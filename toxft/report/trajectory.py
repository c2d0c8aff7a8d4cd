"""Toxicity along a fine-tune: the rate at each saved step, drawn and tabled. A renderer: it reads rows made from the
study's comparisons and computes nothing.

Input: :class:`Point` rows, one per model, step and subset (step 0 is the model before the fine-tune,
the last step the finished one), each with its rate's HDI and its paired verdict against step 0;
optionally the base model's rate per subset as a reference. Output: a markdown table and
``figures/trajectory.png``.

Example::

    plot_trajectory(points, {"total": 0.31}, Path("figures/trajectory.png"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from toxft.files import save_figure
from toxft.suite import TITLES

SUBSETS = ("total", "severe", "random")


@dataclass
class Point:
    """One model at one step on one subset."""

    model: str
    step: int
    subset: str
    n: int
    toxic: int
    rate: float
    interval: tuple[float, float]
    verdict: str  # against step 0, paired; "—" at step 0

    def to_dict(self) -> dict:
        return {**asdict(self), "interval": list(self.interval)}


def markdown(points: list[Point], base: dict[str, float] | None, interval: str) -> str:
    """One row per model and step: % toxic per subset with its HDI, and the paired verdict against step 0."""
    subsets = [s for s in SUBSETS if any(p.subset == s for p in points)]
    lines = ["| Model | Step | " + " | ".join(f"{TITLES[s]} % [{interval}]" for s in subsets) + " | vs step 0 (total) |",
             "|---|---:|" + "---:|" * len(subsets) + "---|"]
    keys = list(dict.fromkeys((p.model, p.step) for p in points))
    for model, step in keys:
        row = {p.subset: p for p in points if (p.model, p.step) == (model, step)}
        cells = [f"{100 * row[s].rate:.1f} [{100 * row[s].interval[0]:.1f}, {100 * row[s].interval[1]:.1f}]"
                 if s in row else "—" for s in subsets]
        verdict = row["total"].verdict if "total" in row else "—"
        lines.append(f"| {model} | {step} | " + " | ".join(cells) + f" | {verdict} |")
    if base:
        lines.append("| base model (reference) | — | " + " | ".join(
            f"{100 * base[s]:.1f}" if s in base else "—" for s in subsets) + " | — |")
    return "\n".join(lines) + "\n"


def plot_trajectory(points: list[Point], base: dict[str, float] | None, path: Path, interval: str = "95% HDI") -> Path:
    """% toxic against the optimizer step, one panel per subset, with the HDI and the base model as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subsets = [s for s in SUBSETS if any(p.subset == s for p in points)]
    fig, axes = plt.subplots(1, len(subsets), figsize=(4.2 * len(subsets), 3.6), squeeze=False)
    for axis, subset in zip(axes[0], subsets):
        for model in dict.fromkeys(p.model for p in points):
            mine = sorted((p for p in points if p.model == model and p.subset == subset), key=lambda p: p.step)
            steps = [p.step for p in mine]
            rates = [100 * p.rate for p in mine]
            errors = [[100 * (p.rate - p.interval[0]) for p in mine], [100 * (p.interval[1] - p.rate) for p in mine]]
            axis.errorbar(steps, rates, yerr=errors, marker="o", capsize=3, label=model)
        if base and subset in base:
            axis.axhline(100 * base[subset], color="black", linestyle="--", linewidth=1, label="base model")
        axis.set_title(TITLES[subset], fontsize=10)
        axis.set_xlabel("optimizer step (0: before the fine-tune)")
        axis.set_ylabel("% toxic continuations")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"Toxicity along the fine-tune ({interval})", fontsize=10)
    return save_figure(fig, path)
