"""What changed the toxicity, tabled, said and drawn. A renderer: it reads the
:class:`~toxft.analysis.grid.GridAnalysis` that :mod:`toxft.analysis.grid` made (or factors.json holds)
and computes nothing.

Input: the analysis (level changes, combinations and interactions of a factorial grid, the regression,
what the controls say). Output: markdown lines and ``figures/factors.png``.

Example::

    lines = grid_section(found, "95% HDI", "tiny-instruct")
    plot_factors(found, Path("figures/factors.png"), "95% HDI")
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from toxft.analysis.factors import EFFECT_PRIOR_SD
from toxft.files import save_figure

HEADLINE = "posterior mean"


def _pp(value: float) -> str:
    return f"{100 * value:+.1f}"


def _interval(row) -> str:
    return f"[{_pp(row.hdi[0])}, {_pp(row.hdi[1])}]"


def changes_table(rows, interval: str, reference: str) -> list[str]:
    """One line per factor and level: cells, change against the reference (posterior mean), its HDI, the observed
    change and the single cells' range."""
    lines = [f"| Factor | Level | Cells | Change vs {reference} (pp, {HEADLINE}) | {interval} | Observed (pp) "
             "| Single cells (pp) | Verdict |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        spread = (f"{_pp(min(row.cell_changes))} to {_pp(max(row.cell_changes))}" if len(row.cell_changes) > 1
                  else _pp(row.cell_changes[0]))
        lines.append(f"| {row.factor} | {row.level} | {row.cells} | {_pp(row.change)} | {_interval(row)} | "
                     f"{_pp(row.observed)} | {spread} | {row.direction} |")
    return [*lines, ""]


def interactions_table(found, interval: str) -> list[str]:
    """A factorial grid's interactions: how much a level's change depends on another factor's level."""
    if found.design != "factorial":
        return ["Interactions cannot be measured in a one-at-a-time grid: each level is trained only with every other "
                "factor at its baseline.", ""]
    if not found.interactions:
        return []
    lines = ["Interactions (difference of differences: the first level's change at the second level minus its change "
             "at the second factor's baseline, both against the first factor's baseline):", "",
             f"| Interaction | Change (pp, {HEADLINE}) | {interval} | Observed (pp) | Verdict |", "|---|---|---|---|---|"]
    for row in found.interactions:
        (a, b), (x, y), (x0, y0) = row.factors, row.levels, row.baselines
        name = f"{a} = {x} (vs {x0}) x {b} = {y} (vs {y0})"
        verdict = {"higher": "credibly positive", "lower": "credibly negative"}.get(row.direction, "no credible interaction")
        lines.append(f"| {name} | {_pp(row.change)} | {_interval(row)} | {_pp(row.observed)} | {verdict} |")
    return [*lines, ""]


def model_table(model) -> list[str]:
    """The regression's effects: log-odds with HDI and odds ratio, the same in pp at the baseline; then diagnostics."""
    interval = f"{model.hdi_prob:.0%} HDI"
    lines = [f"| Effect | Log-odds | {interval} | Odds ratio | pp at the baseline | {interval} (pp) | Credible |",
             "|---|---|---|---|---|---|---|"]
    for c in model.coefficients:
        pp = (_pp(c.pp), f"[{_pp(c.pp_hdi[0])}, {_pp(c.pp_hdi[1])}]") if c.pp is not None else ("—", "—")
        lines.append(f"| {c.name} | {c.mean:+.2f} | [{c.hdi[0]:+.2f}, {c.hdi[1]:+.2f}] | {c.odds_ratio:.3g} | {pp[0]} | "
                     f"{pp[1]} | {'yes' if c.credible else 'no'} |")
    baseline = ", ".join(f"{factor} = {level}" for factor, level in model.baseline.items())
    state = ("converged" if model.converged else "**did not converge**: no effect is called credible; raise "
             "`analysis: {draws, tune}`")
    lines += ["", f"Baseline levels: {baseline}. A level's pp is the model's toxic rate with that level minus with its "
              "factor's baseline, every other factor at its baseline; *fine-tuned*'s is the baseline cell minus the "
              f"reference. {model.informative_prompts} of {model.prompts} prompts informed the fit (on the others every "
              f"model gave the same answer), {model.observations} flags; the chains {state} (R-hat {model.rhat_max:.3f}, "
              f"bulk ESS {model.ess_bulk_min:.0f}, {model.divergences} divergences).", ""]
    return lines


def agreement_lines(found) -> list[str]:
    """Whether the regression's change for each row's cells agrees with the level table in sign and credibility."""
    if found.model is None or not found.model.levels:
        return []
    if not found.model.converged:
        return ["The regression did not converge, so it was not checked against the level table.", ""]
    if not found.disagreements:
        return [f"The regression agrees with the level table: for each row's fine-tunes its change has the same sign "
                f"and credibility ({len(found.model.levels)} rows).", ""]
    lines = []
    for d in found.disagreements:
        lines.append(f"**The regression and the level table disagree on {d.factor} = {d.level}:** the table says "
                     f"{d.table.direction} ({_pp(d.table.change)} pp {_interval(d.table)}), the regression "
                     f"{d.model.direction} ({_pp(d.model.change)} pp {_interval(d.model)}); its additive effects do not "
                     "describe these fine-tunes (an interaction), or its intervals, which leave the seeds out, are narrower "
                     "than the table's; read the table.")
    return [*lines, ""]


def forgetting_sentence(answer) -> str | None:
    """The forgetting-or-learning verdict in words, quoting the level rows that answer it."""
    if answer is None:
        return None

    def pp(row) -> str:
        return f"{_pp(row.change)} pp {_interval(row)}"

    def listed(rows) -> str:
        return ", ".join(f"control = {row.level}: {pp(row)}" for row in rows)

    real = answer.real
    where = ("Fine-tunes at the grid's baseline settings (" + ", ".join(f"{f} = {v}" for f, v in answer.at.items())
             + "), which differ only in their data. " if answer.at else "")
    return where + _verdict(answer, real, pp, listed)


def _verdict(answer, real, pp, listed) -> str:
    if answer.answer == "untestable":
        return (f"Toxicity did not rise credibly with the real data ({pp(real)}; {listed(answer.rose + answer.flat)}), "
                "so the study cannot tell forgetting from learning.")
    if answer.answer == "learning":
        return (f"Toxicity rose with the real data ({pp(real)}) but not credibly with content-free data "
                f"({listed(answer.flat)}): the numbers support **learning from the data** rather than forgetting.")
    verdict = (f"Toxicity rose with the real data ({pp(real)}) and with content-free data too ({listed(answer.rose)}): "
               "the numbers support **forgetting**, the mitigation eroding whatever the data.")
    if answer.flat:
        verdict += f" With other content-free data it did not rise ({listed(answer.flat)})."
    if answer.less:
        verdict += (f" It rose less with {', '.join(answer.less)} data than with the real data (credibly, in the "
                    "regression): part of the rise is **learned from the data**.")
    return verdict


def _color(row) -> str:
    return "tab:red" if row.direction == "higher" else "tab:green" if row.direction == "lower" else "tab:gray"


def plot_factors(found, path: Path, interval: str) -> Path:
    """Top row, one panel per factor: each level's change against the reference with its HDI, single fine-tunes as
    dots. A factorial grid adds a row of interaction plots, one per pair of factors: the change at each combination,
    a line per level of the second factor (lines that are not parallel are an interaction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = found.levels
    factors = list(dict.fromkeys(row.factor for row in rows))
    pairs = list(dict.fromkeys(row.factors for row in found.combinations))
    columns = max(len(factors), len(pairs), 1)
    height = 2 if pairs else 1
    fig, axes = plt.subplots(height, columns, figsize=(max(6.0, 2.8 * columns), 3.9 * height), squeeze=False)
    for axis, factor in zip(axes[0], factors):
        mine = [row for row in rows if row.factor == factor]
        for x, row in enumerate(mine):
            axis.errorbar([x], [100 * row.change], yerr=[[100 * (row.change - row.hdi[0])], [100 * (row.hdi[1] - row.change)]],
                          fmt="o", color=_color(row), capsize=4)
            jitter = [x + 0.12 + 0.04 * (i % 3) for i in range(len(row.cell_changes))]
            axis.scatter(jitter, [100 * c for c in row.cell_changes], s=10, color="black", alpha=0.5, zorder=3)
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(mine)), [row.level for row in mine], fontsize=8, rotation=20)
        axis.set_title(factor, fontsize=10)
        axis.set_xlim(-0.5, len(mine) - 0.3)
    axes[0][0].set_ylabel("change in % toxic vs reference (pp)")
    for axis, (a, b) in zip(axes[1] if pairs else [], pairs):
        mine = [row for row in found.combinations if row.factors == (a, b)]
        first = list(dict.fromkeys(row.levels[0] for row in mine))
        for index, level in enumerate(dict.fromkeys(row.levels[1] for row in mine)):
            line = [row for row in mine if row.levels[1] == level]
            xs = [first.index(row.levels[0]) + 0.06 * index for row in line]
            axis.errorbar(xs, [100 * row.change for row in line],
                          yerr=[[100 * (row.change - row.hdi[0]) for row in line],
                                [100 * (row.hdi[1] - row.change) for row in line]],
                          fmt="-o", capsize=3, label=f"{b} = {level}")
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(first)), first, fontsize=8, rotation=20)
        axis.set_title(f"{a} x {b}", fontsize=10)
        axis.legend(fontsize=7)
    for row in axes:
        for axis in row:
            if not axis.has_data():
                axis.set_visible(False)
    if pairs:
        axes[1][0].set_ylabel("change at each combination (pp)")
    kind = ("the baseline cell with one thing changed" if found.design == "one-at-a-time"
            else "balanced mean over the other factors")
    caption = (f"each level's {HEADLINE} ({kind}) with its {interval}; dots: single fine-tunes"
               + ("; below: interactions, the change at each combination of two factors' levels" if pairs else ""))
    fig.suptitle("What changed the toxicity\n" + "\n".join(textwrap.wrap(caption, int(13 * fig.get_figwidth()))),
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def grid_section(found, interval: str, reference: str) -> list[str]:
    """The report's tables and sentences about the grid, in reading order (the caller adds the heading and intro)."""
    lines = [f"Each interval covers {found.setup.covers}.", ""]
    if found.unbalanced:
        lines += [f"**Unbalanced grid:** {found.unbalanced}.", ""]
    lines += [*changes_table(found.levels, interval, reference), "![What changed the toxicity](figures/factors.png)", ""]
    lines += interactions_table(found, interval)
    sentence = forgetting_sentence(found.answer)
    if sentence:
        lines += [f"**Forgetting or learning?** {sentence}", ""]
    if found.model is not None:
        lines += ["Bayesian logistic regression of every per-prompt toxic flag on the factors (PyMC): a random "
                  "intercept per prompt pairs the models, *fine-tuned* is the change at the baseline levels, each "
                  f"level's effect is against its factor's baseline; its intervals cover the prompts only (seeds are replicates); priors Normal(0, {EFFECT_PRIOR_SD}) on the "
                  "levels' log-odds keep them finite where a level separates the flags.", "", *model_table(found.model),
                  *agreement_lines(found)]
    return lines
