"""The table every report shares: one row per model, one cell per subset, changes against a baseline.

``toxft report``, ``toxft check`` and the study report compare each model with the baseline once
(:func:`toxft.analysis.compare.compare_runs`, with the user's settings) and hand those comparisons
to a :class:`Report`; the renderers (:mod:`toxft.report.render`), the card code
(:mod:`toxft.report.card`) and the figure (:mod:`toxft.report.figure`) read them from there and
compute nothing of their own.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from toxft.analysis.compare import PairComparison
from toxft.analysis.settings import AnalysisSettings
from toxft.degenerate import length
from toxft.runs import Run, hub_snapshot
from toxft.settings import DEFAULT_SCORER
from toxft.suite import COLUMNS, EXTRA_COLUMNS, PTP_LANGUAGES, TASK_OF, TITLES, language_columns

__all__ = ["COLUMNS", "TITLES", "Cell", "Report", "cells", "columns_of", "recorded_commits", "revisions"]


@dataclass
class Cell:
    """One model on one subset: prompts, toxic ones, mean score, degenerate continuations and mean length."""

    n: int
    toxic: int
    mean_score: float
    degenerate: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    mean_words: float = 0.0
    interval: tuple[float, float] = (0.0, 1.0)  # the rate's HDI, Beta(1 + toxic, 1 + n - toxic)

    @property
    def rate(self) -> float:
        return self.toxic / self.n

    @property
    def degenerate_share(self) -> float:
        return self.degenerate / self.n


def columns_of(runs: list[Run]) -> list[str]:
    """The table's columns: the paper's, when any run holds the suite, then other tasks the runs hold, then a
    block per PolygloToxicityPrompts language (pooled, severe, random)."""
    found = [c for c in COLUMNS if any(r.has(c) for r in runs)]
    columns = list(COLUMNS) if found else []
    columns += [c for c in EXTRA_COLUMNS if any(r.has(c) for r in runs)]
    return columns + [c for lang in languages_of(runs) for c in language_columns(lang)]


def languages_of(runs: list[Run]) -> list[str]:
    """The PolygloToxicityPrompts languages any of the runs holds, in the suite's order."""
    return [lang for lang in PTP_LANGUAGES if any(r.has(f"ptp_{lang}") for r in runs)]


def cells(run: Run, columns: list[str] | tuple[str, ...] = COLUMNS, hdi_prob: float = 0.95) -> dict[str, Cell | None]:
    """Each column of the table for one run; None where the run lacks a subset (no invented totals)."""
    from toxft.analysis.rates import rate_hdi

    table: dict[str, Cell | None] = {}
    for column in columns:
        samples = list(run.subset(column).values()) if run.has(column) else []
        if not samples:
            table[column] = None
            continue
        kinds = Counter(s.degenerate for s in samples if s.degenerate)
        toxic = int(sum(s.toxic for s in samples))
        table[column] = Cell(len(samples), toxic, sum(s.score for s in samples) / len(samples), sum(kinds.values()),
                             dict(kinds), sum(length(s.continuation) for s in samples) / len(samples),
                             rate_hdi(toxic, len(samples), hdi_prob))
    return table


@dataclass
class Report:
    """The runs, their names and, against the baseline, each other run's comparison with it (run minus baseline)."""

    runs: list[Run]
    names: list[str]
    baseline: Run | None = None
    comparisons: dict[str, PairComparison] = field(default_factory=dict)  # by str(run.folder)
    settings: AnalysisSettings | None = None  # how the comparisons were made
    # Comparisons made on the prompts two runs share, when they scored different ones: said under the table.
    mismatches: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = next((c.settings for c in self.comparisons.values()), AnalysisSettings())

    @property
    def columns(self) -> list[str]:
        return columns_of(self.runs)

    def comparison(self, run: Run) -> PairComparison | None:
        """The comparison of ``run`` with the baseline, as it was made."""
        return self.comparisons.get(str(run.folder))

    def baseline_for(self, run: Run) -> Run | None:
        """The baseline of ``run``'s scorer block: the baseline itself, or the baseline model's run under that scorer."""
        if self.baseline is None:
            return None
        scorer = run.scorer or DEFAULT_SCORER
        if (self.baseline.scorer or DEFAULT_SCORER) == scorer:
            return self.baseline
        return next((r for r, n in zip(self.runs, self.names)
                     if n == self.baseline_name and (r.scorer or DEFAULT_SCORER) == scorer), None)

    def by_scorer(self) -> dict[str, "Report"]:
        """The runs grouped by the classifier that scored them, each group with its own run of the baseline model."""
        groups: dict[str, list[int]] = {}
        for index, run in enumerate(self.runs):
            groups.setdefault(run.scorer or DEFAULT_SCORER, []).append(index)
        if len(groups) == 1:
            return {next(iter(groups)): self}
        blocks = {}
        for scorer, indexes in groups.items():
            members = [self.runs[i] for i in indexes]
            blocks[scorer] = Report(members, [self.names[i] for i in indexes], self.baseline_for(members[0]),
                                    self.comparisons, self.settings, self.mismatches)
        return blocks

    @classmethod
    def build(cls, runs: list[Run], names: list[str], baseline: Run | None, settings: AnalysisSettings) -> "Report":
        """A report whose comparisons are made here, once per run and its block's baseline, with ``settings``."""
        from toxft.analysis.compare import compare_runs

        report = cls(runs, names, baseline, {}, settings)
        for run in runs:
            reference = report.baseline_for(run)
            if reference is not None and run is not reference:
                report.comparisons[str(run.folder)] = compare_runs(run, reference, settings, warn=report.note)
        return report

    def note(self, message: str) -> None:
        """Keep a comparison's warning (different prompt sets) to say under the table."""
        text = message.removeprefix("toxft: ")
        if text not in self.mismatches:
            self.mismatches.append(text)

    @property
    def baseline_name(self) -> str | None:
        return self.names[self.runs.index(self.baseline)] if self.baseline is not None else None

    def change(self, run: Run, column: str) -> str | None:
        """"+5.0 pp, credibly higher": the posterior mean of the change (with the degenerate caveat when it applies);
        None without a comparison."""
        comparison = self.comparison(run) if self.baseline is not None and run is not self.baseline else None
        if comparison is None:
            return None
        subset = comparison.subsets.get(column)
        if subset is None:
            return "—"
        return f"{subset.headline.diff_mean * 100:+.1f} pp, {self.verdict(subset)}"

    def verdict(self, subset) -> str:
        """A subset comparison's verdict as this table words it: the row's model is "it"."""
        return subset.verdict_text("its", f"{self.baseline_name}'s")

    def rows(self) -> list[dict]:
        """One dict per model: name, folder and each column's rate, n, degenerate share and change vs the baseline."""
        rows = []
        columns = self.columns
        for run, name in zip(self.runs, self.names):
            row = {"model": name, "folder": str(run.folder), "scorer": run.scorer, "columns": {}}
            comparison = self.comparison(run) if run is not self.baseline else None
            for column, cell in cells(run, columns, self.settings.hdi_prob).items():
                entry = None if cell is None else {
                    "n": cell.n, "toxic": cell.toxic, "rate": cell.rate, "rate_interval": list(cell.interval),
                    "mean_score": cell.mean_score,
                    "degenerate": cell.degenerate_share, "degenerate_kinds": cell.kinds, "mean_words": cell.mean_words}
                change = self.change(run, column) if entry else None
                if change is not None:
                    entry["change_vs_baseline"] = change
                    subset = comparison.subsets.get(column) if comparison else None
                    if subset is not None:
                        entry["verdict"] = self.verdict(subset)
                        entry["credible"] = subset.credible
                        entry["degenerate_caveat"] = subset.broken_side() is not None
                        entry["interval_pp"] = [100 * v for v in subset.result("paired").diff_hdi]
                row["columns"][column] = entry
            rows.append(row)
        return rows

    def mostly_degenerate(self, share: float = 0.5) -> list[tuple[str, list[tuple[str, Cell]]]]:
        """Per model, the columns where at least ``share`` of its continuations are degenerate: there its low toxic
        rate is mostly text that says nothing (an instruct model without its chat template often answers with its
        end-of-turn token at once)."""
        found = []
        for run, name in zip(self.runs, self.names):
            table = cells(run, self.columns, self.settings.hdi_prob)
            hollow = [(column, cell) for column, cell in table.items() if cell and cell.degenerate_share >= share]
            if hollow:
                found.append((name, hollow))
        return found

    def language_scorers(self) -> dict[str, list[str]]:
        """Per classifier that scored a language block, the languages it scored (as the first run recorded it)."""
        found: dict[str, list[str]] = {}
        for lang in languages_of(self.runs):
            run = next(r for r in self.runs if r.has(f"ptp_{lang}"))
            found.setdefault(run.scorer_of(f"ptp_{lang}") or "unknown", []).append(lang)
        return found

    def language_warnings(self) -> list[str]:
        """A sentence per classifier that scored languages it was not trained on (see toxft.languages)."""
        from toxft.languages import classifier_of, warning

        return [text for scorer, langs in self.language_scorers().items()
                if (text := warning(classifier_of(scorer), langs))]

    def settings_recorded(self) -> dict:
        """Scorer, generation settings, harness version and date as recorded in the first run."""
        results = self.runs[0].results
        config = next((c for t, c in results.get("configs", {}).items() if t in TASK_OF.values()), {})
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
