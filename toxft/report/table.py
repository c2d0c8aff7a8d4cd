"""The table every report shares: one row per model, one cell per subset, changes against a baseline.

``toxft report``, ``toxft check`` and the study report all build a :class:`Report` and hand it
to a renderer (:mod:`toxft.report.render`), the card code (:mod:`toxft.report.card`) or the
figure (:mod:`toxft.report.figure`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from toxft.runs import TASKS, Run
from toxft.settings import DEFAULT_SCORER

COLUMNS = ["total", "severe", "random", "race", "gender", "age", "religion"]
TITLES = {"total": "Total", "severe": "Severe", "random": "Random", "race": "Race", "gender": "Gender",
          "age": "Age", "religion": "Religion"}

@dataclass
class Cell:
    """One model on one subset: prompts, toxic ones, mean score."""

    n: int
    toxic: int
    mean_score: float

    @property
    def rate(self) -> float:
        return self.toxic / self.n


def cells(run: Run) -> dict[str, Cell | None]:
    """Each column of the table for one run; None where the run lacks a subset (no invented totals)."""
    table: dict[str, Cell | None] = {}
    for column in COLUMNS:
        if not run.has(column):
            table[column] = None
            continue
        samples = list(run.subset(column).values())
        table[column] = Cell(len(samples), int(sum(s.toxic for s in samples)),
                             sum(s.score for s in samples) / len(samples))
    return table


def _change(run: Run, baseline: Run, column: str, method: str, warn=lambda message: None) -> str:
    from toxft.analysis.compare import compare_runs, verdict

    comparison = compare_runs(run, baseline, subsets=[column], run_best=method == "best", warn=warn,
                              seed=0, draws=1000, tune=1000)
    subset = comparison.subsets.get(column)
    if subset is None:
        return "—"
    return f"{(subset.rate_a - subset.rate_b) * 100:+.1f} pp, {verdict(subset.result(method))}"


@dataclass
class Report:
    """The runs, their names and (optionally) the baseline they are compared with."""

    runs: list[Run]
    names: list[str]
    baseline: Run | None = None
    verdict: str = "paired"
    # Comparisons made on the prompts two runs share, when they scored different ones: said under the table.
    mismatches: list[str] = field(default_factory=list)

    def by_scorer(self) -> dict[str, "Report"]:
        """The runs grouped by the classifier that scored them, each group with the baseline if it is theirs."""
        groups: dict[str, list[int]] = {}
        for index, run in enumerate(self.runs):
            groups.setdefault(run.scorer or DEFAULT_SCORER, []).append(index)
        if len(groups) == 1:
            return {next(iter(groups)): self}
        return {scorer: Report([self.runs[i] for i in indexes], [self.names[i] for i in indexes],
                               self.baseline if any(self.runs[i] is self.baseline for i in indexes) else None,
                               self.verdict, self.mismatches)
                for scorer, indexes in groups.items()}

    def _mismatch(self, message: str) -> None:
        text = message.removeprefix("toxft: ")
        if text not in self.mismatches:
            self.mismatches.append(text)

    @property
    def baseline_name(self) -> str | None:
        return self.names[self.runs.index(self.baseline)] if self.baseline is not None else None

    def rows(self) -> list[dict]:
        """One dict per model: name, folder and each column's rate, n and change vs the baseline."""
        rows = []
        for run, name in zip(self.runs, self.names):
            row = {"model": name, "folder": str(run.folder), "columns": {}}
            for column, cell in cells(run).items():
                entry = None if cell is None else {"n": cell.n, "toxic": cell.toxic, "rate": cell.rate,
                                                   "mean_score": cell.mean_score}
                if entry and self.baseline is not None and run is not self.baseline:
                    entry["change_vs_baseline"] = _change(run, self.baseline, column, self.verdict,
                                                          warn=self._mismatch)
                row["columns"][column] = entry
            rows.append(row)
        return rows

    def settings(self) -> dict:
        """Scorer, generation settings, harness version and date as recorded in the first run."""
        results = self.runs[0].results
        config = next((c for t, c in results.get("configs", {}).items() if t in TASKS.values()), {})
        metadata = config.get("metadata", {})
        date = results.get("date")
        return {
            "scorer": self.runs[0].scorer or metadata.get("scorer", DEFAULT_SCORER),
            "threshold": metadata.get("threshold", 0.5),
            "generation": config.get("generation_kwargs", {}),
            "chat_template": bool(results.get("chat_template")),
            "harness_version": results.get("lm_eval_version", "unknown"),
            "date": dt.datetime.fromtimestamp(date, dt.timezone.utc).strftime("%Y-%m-%d") if date else "unknown",
        }


def recorded_commits(run: Run) -> list[tuple[str, str | None]]:
    """(weights, commit) and, with an adapter, (adapter, commit), as the harness recorded them."""
    from toxft.runs import hub_snapshot

    config = run.results.get("config", {})
    found = []
    for key, sha in (("pretrained", "model_sha"), ("peft", "peft_sha")):
        if run.model_args.get(key):
            # A repository toxft fetched at a commit is loaded from the Hub cache: the path names both.
            found.append(hub_snapshot(str(run.model_args[key])) or (str(run.model_args[key]), config.get(sha) or None))
    return found


def revisions(report: Report) -> dict[str, str]:
    """The commit of each model and adapter as the harness recorded it, where it recorded one."""
    found = {}
    for run, name in zip(report.runs, report.names):
        parts = [f"{what} @ {sha[:12]}" for what, sha in recorded_commits(run) if sha]
        if parts:
            found[name] = " + ".join(parts)
    return found


