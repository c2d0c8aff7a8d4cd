"""The paper's numbers beside a study's: rates judged as two samples, CEB counts, stated verdicts against ours.

A study model is matched to a row of the paper's tables by its ``paper:`` key, else by its name.

* **Sampled subsets** (severe, random): our 1,000 prompts are our own draw, not the paper's, so
  both numbers carry sampling error. A cell is compatible when our count is a plausible draw
  from the posterior predictive of the paper's count (Beta-Binomial with a uniform prior; a
  two-sided mid-p value above 0.05), allowing for the paper's rounding to 0.1 point. If the
  true rates were identical, about 95% of cells would be compatible.
* **CEB** cells are the paper's own 100 prompts per group, decoded greedily: the same question
  asked again. They show both counts and match when they differ by at most
  :data:`CEB_TOLERANCE` prompts (greedy ties and numerical differences between library
  versions flip a few continuations); a run with another number of prompts is not judged.
* **Total** pools both kinds; it is shown with the sampled rule but not counted again.
* **Verdicts**: the paper's (BEST on the mean scores) beside ours from each method, counted per
  method; "practically equivalent" agrees with "no credible difference", and a BEST fit that did
  not converge is not counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from toxft import paper
from toxft.report.table import cells
from toxft.runs import Run
from toxft.study.config import ModelEntry
from toxft.suite import CEB_GROUPS, COLUMNS, RTP_SUBSETS, TITLES

ROUNDING = 0.05  # the paper prints one decimal
SAMPLED = RTP_SUBSETS
CEB_COLUMNS = CEB_GROUPS
CEB_TOLERANCE = 2  # prompts, of the paper's 100 per group
ALPHA = 0.05


@dataclass
class CellCheck:
    """One model on one column: the paper's rate and count, ours, and whether they agree (None: not judged)."""

    model: str
    column: str
    paper: float  # % toxic, as printed
    paper_n: int
    ours: float  # % toxic
    toxic: int
    n: int
    kind: str  # "sampled", "same prompts" or "total"
    agrees: bool | None
    low: float | None = None  # the range of our rate compatible with the paper's (sampled rule), in %
    high: float | None = None
    p_value: float | None = None

    @property
    def paper_count(self) -> str:
        count = self.paper * self.paper_n / 100
        return f"{count:.0f}" if abs(count - round(count)) < 1e-6 else f"≈{count:.1f}"


def paper_counts(rate: float, n: int) -> list[int]:
    """The counts out of ``n`` that print as ``rate`` % to one decimal."""
    found = [k for k in range(n + 1) if abs(100.0 * k / n - rate) <= ROUNDING + 1e-9]
    return found or [round(rate * n / 100)]


def sampled_check(toxic: int, n: int, paper_rate: float, paper_n: int) -> tuple[bool, float, float, float]:
    """(compatible, low %, high %, p) for our ``toxic`` of ``n`` against the paper's rate on ``paper_n`` prompts.

    Our count is compared with the posterior predictive of a fresh ``n``-prompt draw given the
    paper's count, Beta-Binomial(n, 1 + k, 1 + paper_n − k), with a two-sided mid-p value; every
    count the paper's rounded rate allows is tried, and the most favourable one decides.
    """
    from scipy.stats import betabinom

    best, low, high = 0.0, 100.0, 0.0
    for count in paper_counts(paper_rate, paper_n):
        predictive = betabinom(n, 1 + count, 1 + paper_n - count)
        below = predictive.cdf(toxic - 1) + 0.5 * predictive.pmf(toxic)
        above = predictive.sf(toxic) + 0.5 * predictive.pmf(toxic)
        best = max(best, min(1.0, 2.0 * float(min(below, above))))
        lo, hi = predictive.ppf([ALPHA / 2, 1 - ALPHA / 2])
        low, high = min(low, 100.0 * float(lo) / n), max(high, 100.0 * float(hi) / n)
    return bool(best > ALPHA), low, high, best


def ceb_check(toxic: int, n: int, paper_rate: float, paper_n: int) -> bool | None:
    """Whether our count on the paper's own prompts matches its count (None: other prompts, not judged)."""
    if n != paper_n:
        return None
    return any(abs(toxic - count) <= CEB_TOLERANCE for count in paper_counts(paper_rate, paper_n))


def same_words(ours: str | None, paper_verdict: str) -> bool | None:
    """Whether our verdict says what the paper's does; None when ours cannot be counted (not run, not converged)."""
    if ours in (None, "not converged", "-"):
        return None
    normal = {"practically equivalent": "no credible difference"}
    return normal.get(ours, ours) == normal.get(paper_verdict, paper_verdict)


@dataclass
class VerdictCheck:
    """A comparison the paper states, with our verdict from every method that ran."""

    first: str
    second: str
    subset: str
    paper: str
    ours: dict[str, str]  # method -> verdict words
    method: str  # the study's own verdict method
    inferred: bool = False  # the paper does not name the subset; placed on the total by inference
    by_method: dict[str, bool | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_method = {m: same_words(self.ours.get(m), self.paper) for m in ("paired", "rates", "best")}

    @property
    def agrees(self) -> bool | None:
        return self.by_method.get(self.method)


def paper_name(entry: ModelEntry) -> str:
    return entry.paper or entry.name


def check_cells(entries: list[ModelEntry], runs: dict[str, Run]) -> list[CellCheck]:
    """One check per model the paper reported and the study ran, per column both have."""
    published = paper.rates()
    checks = []
    for entry in entries:
        row = published.get(paper_name(entry))
        if row is None or entry.name not in runs:
            continue
        for column, cell in cells(runs[entry.name]).items():
            if cell is None:
                continue
            checks.append(make_check(entry.name, column, row[column], cell.toxic, cell.n))
    return checks


def make_check(model: str, column: str, paper_rate: float, toxic: int, n: int) -> CellCheck:
    """The check of one cell by its kind (sampled, same prompts, total)."""
    paper_n = paper.SIZES[column]
    if column in CEB_COLUMNS:
        return CellCheck(model, column, paper_rate, paper_n, 100.0 * toxic / n, toxic, n, "same prompts",
                         ceb_check(toxic, n, paper_rate, paper_n))
    agrees, low, high, p_value = sampled_check(toxic, n, paper_rate, paper_n)
    kind = "sampled" if column in SAMPLED else "total"
    return CellCheck(model, column, paper_rate, paper_n, 100.0 * toxic / n, toxic, n, kind, agrees, low, high, p_value)


def check_verdicts(entries: list[ModelEntry], runs: dict[str, Run], compare, method: str) -> list[VerdictCheck]:
    """Our verdicts (every method there is) for each comparison the paper states, where both models ran.

    ``compare(second_run, first_run)`` returns a PairComparison (second minus first).
    """
    from toxft.analysis.compare import VERDICTS, words

    by_paper = {paper_name(e): e for e in entries if e.name in runs}
    checks = []
    for stated in paper.verdicts():
        first, second = by_paper.get(stated.first), by_paper.get(stated.second)
        if first is None or second is None:
            continue
        subset = compare(runs[second.name], runs[first.name]).subsets.get(stated.subset)
        if subset is None:
            continue
        ours = {m: words(subset.result(m)) for m in VERDICTS if subset.result(m) is not None}
        checks.append(VerdictCheck(first.name, second.name, stated.subset, stated.verdict, ours, method,
                                   inferred=stated.inferred))
    return checks


def _counted(values) -> tuple[int, int]:
    judged = [v for v in values if v is not None]
    return sum(judged), len(judged)


def headline(cell_checks: list[CellCheck], verdict_checks: list[VerdictCheck]) -> dict[str, tuple[int, int]]:
    """(agree, judged) for sampled-subset rates, CEB cells and each verdict method; the total is not counted."""
    counts = {"sampled": _counted(c.agrees for c in cell_checks if c.kind == "sampled"),
              "ceb": _counted(c.agrees for c in cell_checks if c.kind == "same prompts")}
    for method in ("paired", "rates", "best"):
        counts[f"verdicts_{method}"] = _counted(v.by_method[method] for v in verdict_checks)
    return counts


def _mark(agrees: bool | None) -> str:
    return "—" if agrees is None else "✓" if agrees else "✗"


def _cell(check: CellCheck) -> str:
    both = f"{check.paper:.1f} ({check.paper_count}/{check.paper_n:,}) / {check.ours:.1f} ({check.toxic}/{check.n:,})"
    if check.kind == "same prompts":
        return f"{both} {_mark(check.agrees)}"
    return f"{both} [{check.low:.1f}, {check.high:.1f}] {_mark(check.agrees)}"


def markdown(cell_checks: list[CellCheck], verdict_checks: list[VerdictCheck], method: str,
             mismatches: list[str] = ()) -> list[str]:
    """The report's reproduction section: what was run, three counts, the rates table, the verdicts table."""
    if not cell_checks and not verdict_checks:
        return []
    lines = ["## Reproduction: the paper's numbers beside ours", ""]
    short = sorted({f"{TITLES[c.column]} ({c.n:,} of the paper's {c.paper_n:,})" for c in cell_checks
                    if c.n < c.paper_n})
    if short:
        lines += [f"**Fewer prompts than the paper** (`--limit` or partial subsets): {', '.join(short)}. Those "
                  "checks are weaker: a wider range of our rates is compatible with the paper's.", ""]
    counts = headline(cell_checks, verdict_checks)
    sampled, ceb = counts["sampled"], counts["ceb"]
    verdict_counts = "; ".join(f"{name} {counts[f'verdicts_{m}'][0]} of {counts[f'verdicts_{m}'][1]}"
                               for m, name in (("paired", "paired"), ("rates", "unpaired"), ("best", "BEST"))
                               if counts[f"verdicts_{m}"][1])
    lines += [f"- **Sampled subsets** (severe, random): **{sampled[0]} of {sampled[1]}** of our rates are compatible "
              "with the paper's given both samples; a perfect reproduction would show about 95%.",
              f"- **CEB** (the paper's own prompts, greedy): **{ceb[0]} of {ceb[1]}** counts within {CEB_TOLERANCE} "
              "prompts of the paper's.",
              f"- **Verdicts** the paper states, agreeing with ours: {verdict_counts or 'none comparable'} "
              "(BEST only where it ran and converged).", ""]
    if cell_checks:
        lines += ["% toxic (count/n): paper / ours. Severe, random and total: [the range of our rate compatible "
                  "with the paper's] and ✓ when ours is in it (the total is shown, not counted). CEB: ✓ when "
                  f"the counts differ by at most {CEB_TOLERANCE}; — not judged (another number of prompts).", "",
                  "| Model | " + " | ".join(TITLES[c] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
        for model in dict.fromkeys(c.model for c in cell_checks):
            row = {c.column: c for c in cell_checks if c.model == model}
            lines.append(f"| {model} | " + " | ".join(_cell(row[c]) if c in row else "—" for c in COLUMNS) + " |")
        lines.append("")
    if verdict_checks:
        lines += ["| Comparison (second − first) | Subset | Paper (BEST) | Ours: paired | unpaired | BEST | Agree "
                  f"({method}) |", "|---|---|---|---|---|---|---|"]
        for v in verdict_checks:
            ours = [v.ours.get(m, "not run") for m in ("paired", "rates", "best")]
            subset = TITLES.get(v.subset, v.subset) + ("*" if v.inferred else "")
            lines.append(f"| {v.second} − {v.first} | {subset} | {v.paper} | " + " | ".join(ours)
                         + f" | {_mark(v.agrees)} |")
        if any(v.inferred for v in verdict_checks):
            lines.append("")
            lines.append("\\* The paper names the subset only for its Figures 3 (total) and 4 (severe); the "
                         "Figures 1-2 verdicts are placed on the total by inference.")
        lines.append("")
    if mismatches:
        lines += ["Compared on the prompts both runs scored (they did not score the same prompts):", "",
                  *[f"- {m.removeprefix('toxft: ')}" for m in mismatches], ""]
    return lines


def as_record(cell_checks: list[CellCheck], verdict_checks: list[VerdictCheck]) -> dict:
    """The same checks as JSON-ready data."""
    counts = headline(cell_checks, verdict_checks)
    return {"summary": {name: {"agree": agree, "judged": judged} for name, (agree, judged) in counts.items()},
            "cells": [asdict(c) for c in cell_checks],
            "verdicts": [{**asdict(v), "agrees": v.agrees} for v in verdict_checks]}
