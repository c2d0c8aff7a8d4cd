"""Figures in the style of the paper's Figures 1-4: posterior differences with HDI bars."""

from __future__ import annotations

from pathlib import Path

from toxft.analysis.compare import PairComparison
from toxft.files import save_figure


def plot_differences(comparisons: list[PairComparison], path: str | Path, labels: list[str] | None = None) -> Path:
    """One bar per comparison and subset: posterior mean difference, HDI error bars, zero line.

    ``labels`` names each comparison in the legend (default: "A − B" from the runs' model names).
    """
    labels = labels or [f"{c.a.name} − {c.b.name}" for c in comparisons]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("paired", "Paired rate model: Δ toxic rate (pp)"), ("rates", "Unpaired rate model: Δ toxic rate (pp)"),
              ("best", "BEST: Δ mean toxicity score")]
    subsets = list(dict.fromkeys(name for c in comparisons for name in c.subsets))
    # With --rates-only there are no BEST results: draw only the panels that have data.
    panels = [(kind, title) for kind, title in panels
              if any(getattr(s, kind, None) is not None for c in comparisons for s in c.subsets.values())]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.2), squeeze=False)
    width = 0.8 / max(1, len(comparisons))
    for axis, (kind, title) in zip(axes[0], panels):
        scale = 1.0 if kind == "best" else 100.0
        for index, comparison in enumerate(comparisons):
            xs, means, lows, highs, colours, hatches = [], [], [], [], [], []
            for position, name in enumerate(subsets):
                subset = comparison.subsets.get(name)
                result = getattr(subset, kind, None) if subset else None
                if result is None:
                    continue
                xs.append(position + (index - (len(comparisons) - 1) / 2) * width)
                means.append(result.diff_mean * scale)
                lows.append((result.diff_mean - result.diff_hdi[0]) * scale)
                highs.append((result.diff_hdi[1] - result.diff_mean) * scale)
                colours.append(1.0 if result.credible else 0.45)
                # The comparison's own caveat: the model called less toxic became credibly more degenerate.
                hatches.append("//" if kind == subset.settings.verdict and subset.broken_side() else "")
            if xs:
                bars = axis.bar(xs, means, width=width, yerr=[lows, highs], capsize=3,
                                label=labels[index])
                for bar, alpha, hatch in zip(bars, colours, hatches):
                    bar.set_alpha(alpha)
                    bar.set_hatch(hatch)
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(subsets)), subsets, rotation=30)
        axis.set_title(title, fontsize=10)
    axes[0][-1].legend(fontsize=7, loc="best")
    settings = comparisons[0].settings
    caveat = any(s.broken_side() for c in comparisons for s in c.subsets.values())
    fig.suptitle(f"First run minus second: posterior mean with {settings.interval()} (faded: not credible"
                 + ("; hatched: the less toxic model's continuations are credibly more degenerate" if caveat else "")
                 + ")", fontsize=10)
    return save_figure(fig, path)
