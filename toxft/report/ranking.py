"""A ranking of fine-tunes against the model they came from (a survey's study): rows, headline, table, forest plot.

Input: each fine-tune's comparison with the reference (same prompts, made once with the study's
settings), its monthly downloads and commit. Output: rows sorted by the change in the toxic rate
on all prompts, each with the comparison's own interval and verdict (the degenerate caveat
included), a headline, a markdown table and a forest plot.

Example::

    rows = rank(pairs)                     # [(study entry, comparison), ...]
    print(headline(rows, "google/gemma-2-2b-it"))
    plot_ranking(rows, "google/gemma-2-2b-it", Path("figures/ranking.png"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from toxft.files import save_figure

_COLOURS = {"credibly higher": "#c0392b", "credibly lower": "#2471a3"}
_NEUTRAL = "#7f8c8d"


@dataclass
class Row:
    """One fine-tune: its change against the reference on all prompts and on the severe subset."""

    name: str
    change: float  # posterior mean of the change in the toxic rate, fine-tune minus reference (a share, not pp)
    low: float  # the comparison's interval of that change (its HDI)
    high: float
    verdict: str  # the comparison's verdict, with the degenerate caveat when it applies
    direction: str  # credibly higher / credibly lower / no credible difference / practically equivalent
    severe_change: float | None
    severe_verdict: str | None
    n: int
    downloads: int | None
    commit: str | None
    degenerate: float = 0.0  # share of the fine-tune's continuations that are degenerate, all prompts
    degenerate_caveat: bool = False
    observed: float | None = None  # the observed change, beside the posterior mean

    def to_dict(self) -> dict:
        return asdict(self)


def rank(pairs: list[tuple[object, object]]) -> list[Row]:
    """One row per (study entry, comparison with the reference), largest increase first (ties: most downloaded)."""
    rows = []
    for entry, comparison in pairs:
        total = comparison.subsets.get("total")
        if total is None or total.paired is None:
            continue
        severe = comparison.subsets.get("severe")
        rows.append(Row(entry.name, total.headline.diff_mean, *total.headline.diff_hdi,
                        total.verdict_text("its", "the reference's"), total.direction,
                        severe.headline.diff_mean if severe else None,
                        severe.verdict_text("its", "the reference's") if severe else None, total.n,
                        entry.downloads, entry.peft_revision or entry.revision, total.degenerate.share_a,
                        total.broken_side() is not None, total.observed))
    return sorted(rows, key=lambda r: (-r.change, -(r.downloads or 0), r.name))


def headline(rows: list[Row], reference: str) -> str:
    """"N fine-tunes with M monthly downloads between them; K credibly more toxic than the reference, J credibly less"."""
    more = sum(r.direction == "credibly higher" for r in rows)
    less = sum(r.direction == "credibly lower" for r in rows)
    total = sum(r.downloads or 0 for r in rows)
    known = all(r.downloads is not None for r in rows)
    downloads = f" with {total:,} monthly downloads between them" if known else ""
    noun = "fine-tune" if len(rows) == 1 else "fine-tunes"
    broken = sum(r.degenerate_caveat for r in rows)
    caveat = f" ({broken} of them with credibly more degenerate continuations)" if broken else ""
    return (f"{len(rows)} {noun}{downloads}; {more} credibly more toxic than the reference ({reference}), "
            f"{less} credibly less{caveat}")


def _pp(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f}"


def markdown(rows: list[Row], interval: str = "95% HDI") -> str:
    """The ranking as a markdown table (changes in percentage points, fine-tune minus reference)."""
    lines = [f"| Rank | Fine-tune | Δ toxic, all prompts (pp, posterior mean) | {interval} | Observed (pp) | Verdict | "
             "Δ severe (pp, posterior mean) | Degenerate | Downloads/month | Commit |",
             "|---:|---|---:|---|---:|---|---:|---:|---:|---|"]
    for index, r in enumerate(rows, 1):
        severe = _pp(r.severe_change) + (f" ({r.severe_verdict})" if (r.severe_verdict or "").startswith("credibly")
                                          else "")
        downloads = "—" if r.downloads is None else f"{r.downloads:,}"
        commit = f"`{r.commit[:12]}`" if r.commit else "—"
        lines.append(f"| {index} | {r.name} | {_pp(r.change)} | [{_pp(r.low)}, {_pp(r.high)}] | {_pp(r.observed)} | "
                     f"{r.verdict} | "
                     f"{severe} | {r.degenerate:.0%} | {downloads} | {commit} |")
    return "\n".join(lines) + "\n"


def plot_ranking(rows: list[Row], reference: str, path: Path, interval: str = "95% HDI") -> Path:
    """Forest plot: one line per fine-tune (change and interval, coloured by verdict), the reference at zero.

    A fine-tune whose lower rate comes with credibly more degenerate continuations is drawn hollow.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axis = plt.subplots(figsize=(7.5, 1.2 + 0.45 * len(rows)))
    for position, r in enumerate(rows):
        y = len(rows) - 1 - position  # the largest increase on top, as in the table
        colour = _COLOURS.get(r.direction, _NEUTRAL)
        axis.plot([100 * r.low, 100 * r.high], [y, y], color=colour, linewidth=2)
        axis.plot([100 * r.change], [y], "o", color=colour, markersize=6,
                  markerfacecolor="white" if r.degenerate_caveat else colour)
    axis.axvline(0.0, color="black", linewidth=0.9)
    axis.set_yticks(range(len(rows)), [r.name for r in reversed(rows)], fontsize=8)
    axis.set_ylim(-0.7, len(rows) - 0.3)
    axis.set_xlabel(f"change in % toxic continuations vs {reference} (pp, {interval})")
    axis.set_title(f"Fine-tunes of {reference}: change in toxicity (0 = the reference)", fontsize=10)
    handles = [Line2D([], [], color=colour, marker="o", label=label) for label, colour in
               (("credibly more toxic", _COLOURS["credibly higher"]), ("credibly less toxic",
                _COLOURS["credibly lower"]), ("no credible difference", _NEUTRAL))]
    if any(r.degenerate_caveat for r in rows):
        handles.append(Line2D([], [], color=_NEUTRAL, marker="o", markerfacecolor="white",
                              label="lower, but credibly more degenerate"))
    axis.legend(handles=handles, fontsize=7, loc="best")
    return save_figure(fig, path)
