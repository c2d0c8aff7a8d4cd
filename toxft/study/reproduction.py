"""The paper's numbers beside a study's: rates against our intervals, stated verdicts against ours.

A study model is matched to a row of the paper's tables by its ``paper:`` key, else by its
name. A cell agrees when the paper's rate (rounded to 0.1 points) lies inside our 95%
interval for that rate (equal-tailed, Beta(1 + toxic, 1 + n − toxic)); a verdict agrees
when our default verdict says the same words as the paper's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from toxft import paper
from toxft.report.table import COLUMNS, TITLES, cells
from toxft.runs import Run
from toxft.study.config import ModelEntry

ROUNDING = 0.05  # the paper prints one decimal


@dataclass
class CellCheck:
    model: str
    column: str
    paper: float
    ours: float
    low: float
    high: float
    n: int

    @property
    def agrees(self) -> bool:
        return self.low - ROUNDING <= self.paper <= self.high + ROUNDING


@dataclass
class VerdictCheck:
    first: str
    second: str
    subset: str
    paper: str
    ours: dict[str, str]  # method -> verdict words
    method: str

    @property
    def agrees(self) -> bool:
        return self.ours.get(self.method) == self.paper


def rate_interval(toxic: int, n: int, prob: float = 0.95) -> tuple[float, float]:
    """Equal-tailed posterior interval of a toxic rate under a uniform prior, in percent."""
    from scipy.stats import beta

    tail = (1.0 - prob) / 2.0
    low, high = beta.ppf([tail, 1.0 - tail], 1 + toxic, 1 + n - toxic)
    return 100.0 * float(low), 100.0 * float(high)


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
            low, high = rate_interval(cell.toxic, cell.n)
            checks.append(CellCheck(entry.name, column, row[column], 100.0 * cell.rate, low, high, cell.n))
    return checks


def check_verdicts(entries: list[ModelEntry], runs: dict[str, Run], compare, method: str) -> list[VerdictCheck]:
    """Our verdicts (every method there is) for each comparison the paper states, where both models ran.

    ``compare(second_run, first_run)`` returns a PairComparison (second minus first).
    """
    from toxft.analysis.compare import VERDICTS, verdict

    by_paper = {paper_name(e): e for e in entries if e.name in runs}
    checks = []
    for stated in paper.verdicts():
        first, second = by_paper.get(stated.first), by_paper.get(stated.second)
        if first is None or second is None:
            continue
        subset = compare(runs[second.name], runs[first.name]).subsets.get(stated.subset)
        if subset is None:
            continue
        ours = {m: verdict(subset.result(m)) for m in VERDICTS if subset.result(m) is not None}
        checks.append(VerdictCheck(first.name, second.name, stated.subset, stated.verdict, ours, method))
    return checks


def markdown(cell_checks: list[CellCheck], verdict_checks: list[VerdictCheck], method: str) -> list[str]:
    """The report's reproduction section: a summary line, the rates table and the verdicts table."""
    if not cell_checks and not verdict_checks:
        return []
    agree_cells = sum(c.agrees for c in cell_checks)
    agree_verdicts = sum(v.agrees for v in verdict_checks)
    lines = ["## Reproduction: the paper's numbers beside ours", "",
             f"**{agree_cells} of {len(cell_checks)} rates** of the paper lie inside our 95% interval; "
             f"**{agree_verdicts} of {len(verdict_checks)} verdicts** the paper states agree with ours "
             f"({method} verdict).", ""]
    if cell_checks:
        lines += ["% toxic: paper / ours [95% interval]; ✓ when the paper's value is inside the interval. "
                  f"The paper used n = {', '.join(f'{n:,} {c}' for c, n in paper.SIZES.items())}.", "",
                  "| Model | " + " | ".join(TITLES[c] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
        models = list(dict.fromkeys(c.model for c in cell_checks))
        for model in models:
            row = {c.column: c for c in cell_checks if c.model == model}
            values = [f"{row[c].paper:.1f} / {row[c].ours:.1f} [{row[c].low:.1f}, {row[c].high:.1f}] "
                      f"{'✓' if row[c].agrees else '✗'}" if c in row else "—" for c in COLUMNS]
            lines.append(f"| {model} | " + " | ".join(values) + " |")
        lines.append("")
    if verdict_checks:
        lines += ["| Comparison (second − first) | Subset | Paper (BEST) | Ours: paired | unpaired | BEST | Agree |",
                  "|---|---|---|---|---|---|---|"]
        for v in verdict_checks:
            ours = [v.ours.get(m, "not run") for m in ("paired", "rates", "best")]
            lines.append(f"| {v.second} − {v.first} | {TITLES.get(v.subset, v.subset)} | {v.paper} | "
                         + " | ".join(ours) + f" | {'✓' if v.agrees else '✗'} |")
        lines.append("")
    return lines


def as_record(cell_checks: list[CellCheck], verdict_checks: list[VerdictCheck]) -> dict:
    """The same checks as JSON-ready data."""
    return {"cells": [{**asdict(c), "agrees": c.agrees} for c in cell_checks],
            "verdicts": [{**asdict(v), "agrees": v.agrees} for v in verdict_checks]}
