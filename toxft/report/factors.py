"""What changed the toxicity, drawn and tabled. A renderer: it reads the rows and the regression that
:mod:`toxft.analysis.factors` made and computes nothing.

Input: :class:`~toxft.analysis.factors.LevelChange` rows (per factor and level, the paired change
against the reference with its HDI and each cell's own change), optionally the
:class:`~toxft.analysis.factors.FactorModel` and the forgetting-or-learning sentence. Output: markdown
lines and ``figures/factors.png``.

Example::

    plot_factors(rows, Path("figures/factors.png"), "95% HDI")
"""

from __future__ import annotations

from pathlib import Path

from toxft.files import save_figure


def _pp(value: float) -> str:
    return f"{100 * value:+.1f}"


def changes_table(rows, interval: str, reference: str) -> list[str]:
    """One line per factor and level: cells, change against the reference, its HDI, the single cells' range."""
    lines = [f"| Factor | Level | Cells | Change vs {reference} (pp) | {interval} | Single cells (pp) | Verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        spread = (f"{_pp(min(row.cell_changes))} to {_pp(max(row.cell_changes))}" if len(row.cell_changes) > 1
                  else _pp(row.cell_changes[0]))
        lines.append(f"| {row.factor} | {row.level} | {row.cells} | {_pp(row.change)} | "
                     f"[{_pp(row.hdi[0])}, {_pp(row.hdi[1])}] | {spread} | {row.direction} |")
    return [*lines, ""]


def model_table(model) -> list[str]:
    """The regression's effects: log-odds, HDI, odds ratio, and whether each is credible; then its diagnostics."""
    interval = f"{model.hdi_prob:.0%} HDI"
    lines = [f"| Effect (log-odds) | Mean | {interval} | Odds ratio | Credible |", "|---|---|---|---|---|"]
    for c in model.coefficients:
        lines.append(f"| {c.name} | {c.mean:+.2f} | [{c.hdi[0]:+.2f}, {c.hdi[1]:+.2f}] | {c.odds_ratio:.2f} | "
                     f"{'yes' if c.credible else 'no'} |")
    baseline = ", ".join(f"{factor} = {level}" for factor, level in model.baseline.items())
    state = ("converged" if model.converged else "**did not converge**: no effect is called credible; raise "
             "`analysis: {draws, tune}`")
    lines += ["", f"Baseline levels: {baseline}. {model.informative_prompts} of {model.prompts} prompts informed the fit "
              f"(on the others every model gave the same answer), {model.observations} flags; the chains {state} "
              f"(R-hat {model.rhat_max:.3f}, bulk ESS {model.ess_bulk_min:.0f}, {model.divergences} divergences).", ""]
    return lines


def plot_factors(rows, path: Path, interval: str) -> Path:
    """One panel per factor: each level's change against the reference with its HDI, and every single cell as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    factors = list(dict.fromkeys(row.factor for row in rows))
    fig, axes = plt.subplots(1, len(factors), figsize=(max(6.0, 2.6 * len(factors)), 3.9), sharey=True, squeeze=False)
    for axis, factor in zip(axes[0], factors, strict=True):
        mine = [row for row in rows if row.factor == factor]
        for x, row in enumerate(mine):
            color = "tab:red" if row.direction == "higher" else "tab:green" if row.direction == "lower" else "tab:gray"
            axis.errorbar([x], [100 * row.change], yerr=[[100 * (row.change - row.hdi[0])], [100 * (row.hdi[1] - row.change)]],
                          fmt="o", color=color, capsize=4)
            jitter = [x + 0.12 + 0.04 * (i % 3) for i in range(len(row.cell_changes))]
            axis.scatter(jitter, [100 * c for c in row.cell_changes], s=10, color="black", alpha=0.5, zorder=3)
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(mine)), [row.level for row in mine], fontsize=8, rotation=20)
        axis.set_title(factor, fontsize=10)
        axis.set_xlim(-0.5, len(mine) - 0.3)
    axes[0][0].set_ylabel("change in % toxic vs reference (pp)")
    fig.suptitle(f"What changed the toxicity\nmean of each level with its {interval}; dots: single fine-tunes", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
