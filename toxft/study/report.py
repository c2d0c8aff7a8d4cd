"""The study's report: the paper's Tables 1-3 and Figures 1-4 from the finished harness runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from toxft.files import write_atomically
from toxft.report.figure import plot_rates
from toxft.report.render import to_markdown
from toxft.report.table import COLUMNS, TITLES, Report, recorded_commits
from toxft.runs import Run, RunError, load_run
from toxft.study import reproduction
from toxft.study.config import EXPERIMENTS, ModelEntry, Study
from toxft.study.plan import adapter_folder, checkpoint_entries, results_folder, scored_folder

_TITLES = {
    "base-instruct": "Base vs instruction-tuned",
    "instruct-dolly": "Instruction-tuned vs Dolly LoRA fine-tune",
    "instruct-community": "Instruction-tuned vs community fine-tunes",
}


@dataclass
class StudyReport:
    """What :func:`write_report` wrote: report.md's path and, for a study with ranking, its headline and rows."""

    path: Path
    headline: str | None = None
    ranking: list = field(default_factory=list)  # toxft.report.ranking.Row, largest increase first


def warm_up() -> None:
    """Import what writing the report needs (scipy, ArviZ, matplotlib), e.g. in a thread while the steps run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import scipy.stats  # noqa: F401

    from toxft.analysis.best import arviz

    arviz()


def load_runs(study: Study, root: Path, scorer: str | None = None) -> dict[str, Run]:
    """Finished runs keyed by model name, under one of the study's scorers (default: the first); others left out."""
    runs = {}
    for entry in study.models():
        try:
            runs[entry.name] = load_run(scored_folder(results_folder(entry, root), scorer, study.analysis.scorers))
        except RunError:
            continue
    return runs


def _best_cell(subset) -> str:
    from toxft.analysis.compare import words

    if subset is None or subset.best is None:
        return "—"
    result = subset.best
    return f"{result.diff_mean:+.3f} [{result.diff_hdi[0]:+.3f}, {result.diff_hdi[1]:+.3f}] {words(result)}"


class _Comparisons:
    """Each pair the study asks for, compared once with the study's settings and read by every table and figure."""

    def __init__(self, study: Study):
        self.settings = study.analysis
        self.done: dict[tuple[str, str], object] = {}
        self.mismatches: list[str] = []

    def __call__(self, second: Run, first: Run):
        from toxft.analysis.compare import compare_runs

        key = (str(second.folder), str(first.folder))
        if key not in self.done:
            self.done[key] = compare_runs(second, first, self.settings, warn=self._warn)
        return self.done[key]

    def _warn(self, message: str) -> None:
        if message.removeprefix("toxft: ") not in self.mismatches:
            self.mismatches.append(message.removeprefix("toxft: "))


def write_report(study: Study, root: Path, progress=lambda message: None) -> StudyReport:
    """Compare every pair the study asks for and write report.md, comparisons.json and figures/."""
    from toxft.analysis.plot import plot_differences
    from toxft.analysis.settings import METHOD_DETAILS

    root = Path(root)
    figures = root / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    scorers = list(study.analysis.scorers) or [None]
    by_scorer = {spec: load_runs(study, root, spec) for spec in scorers}
    runs = by_scorer[scorers[0]]
    names = [entry.name for entry in study.models() if entry.name in runs]
    lines = [f"# {study.name}: toxicity before and after fine-tuning", ""]
    if study.description:
        lines += [study.description, ""]
    missing = [entry.name for entry in study.models() if entry.name not in runs]
    if missing:
        lines += [f"Not evaluated yet (left out below): {', '.join(missing)}.", ""]
    if not names:
        lines.append("No model has results yet.")
        return StudyReport(_write(root, lines, {}))
    settings = study.analysis
    compare = _Comparisons(study)
    ranking_at = len(lines)  # a survey's ranking leads the report: it is the survey's answer
    everyone = [(spec, n) for spec in scorers for n in names if n in by_scorer[spec]]
    overview = Report([by_scorer[spec][n] for spec, n in everyone], [n for _, n in everyone], settings=settings)
    plot_rates(overview, figures / "rates.png")
    lines += ["## All models", "", to_markdown(overview), "![% toxic per subset and model](figures/rates.png)", "",
              *_revisions([entry for entry in study.models() if entry.name in runs], runs)]
    record: dict[str, list] = {}
    for experiment, pairs in study.pairs().items():
        pairs = [(ref, other) for ref, other in pairs if ref.name in runs and other.name in runs]
        if not pairs:
            continue
        # The paper's numbering whatever the study leaves out: Table 2 is always instruct vs Dolly.
        table_number = list(EXPERIMENTS).index(experiment) + 1
        lines += [f"## Table {table_number} / Figure {table_number}: {_TITLES[experiment]}", ""]
        for reference, other in pairs:
            progress(f"comparing {other.name} with {reference.name}")
        first = [compare(runs[other.name], runs[reference.name]) for reference, other in pairs]
        record[experiment] = [c.to_dict() for spec in scorers for c in
                              (compare(by_scorer[spec][o.name], by_scorer[spec][r.name]) for r, o in pairs
                               if o.name in by_scorer[spec] and r.name in by_scorer[spec])]
        for family, (reference, others) in _by_reference(pairs).items():
            members = [(spec, e) for spec in scorers for e in (reference, *others) if e.name in by_scorer[spec]]
            table_runs = [by_scorer[spec][e.name] for spec, e in members]
            comparisons = {str(by_scorer[spec][e.name].folder): compare(by_scorer[spec][e.name],
                                                                         by_scorer[spec][reference.name])
                           for spec, e in members if e is not reference and reference.name in by_scorer[spec]}
            table = Report(table_runs, [e.name for _, e in members], baseline=runs[reference.name],
                           comparisons=comparisons, settings=settings, mismatches=compare.mismatches)
            lines += [f"### {family}", "", to_markdown(table)]
        if settings.best:
            lines += _best_table(pairs, first)
        else:
            lines += ["BEST on the scores was not run (`analysis: {best: false}` in the study file).", ""]
        figure = figures / f"{experiment}.png"
        plot_differences(first, figure, labels=[f"{other.name} − {reference.name}" for reference, other in pairs])
        lines += [f"![{_TITLES[experiment]}: posterior differences](figures/{figure.name})", ""]
    lines += _trajectory(study, root, runs, compare)
    lines += _factors(study, root, runs, compare, progress)
    ranked = StudyReport(root / "report.md")
    if study.ranking:
        section, ranked.headline, ranked.ranking = _ranking(study, runs, compare, root)
        lines[ranking_at:ranking_at] = section
    entries = [entry for entry in study.models() if entry.name in runs]
    cell_checks = reproduction.check_cells(entries, runs)
    verdict_checks = reproduction.check_verdicts(entries, runs, compare, settings.verdict)
    lines += reproduction.markdown(cell_checks, verdict_checks, settings.verdict, compare.mismatches)
    if cell_checks or verdict_checks:
        write_atomically(root / "reproduction.json",
                         json.dumps(reproduction.as_record(cell_checks, verdict_checks), indent=2) + "\n")
    lines += [
        "## How to read this",
        "",
        f"Rates are the share of continuations the scorer calls toxic. Verdicts under each table come from "
        f"{METHOD_DETAILS[settings.verdict]} with a {settings.interval()}: both models answered the same prompts, so "
        "the prompts on which they agree carry no information about the difference, and the paired interval is "
        "narrower than the unpaired one. comparisons.json holds every posterior with these settings; the BEST table "
        "compares the continuous scores, as the paper did. BEST and the rates can disagree: many small score shifts "
        "below the threshold move BEST but not the rate, and a few continuations crossing the threshold move the "
        "rate but barely the mean score (on realistic scores BEST's ν falls to about 1 and its means follow the "
        "non-toxic bulk). A verdict that calls a model less toxic while its continuations became credibly more "
        "degenerate (empty, very short, echoing the prompt, looping) says so: such text scores as not toxic "
        "because it says nothing.",
        "",
    ]
    _write(root, lines, record)
    return ranked


def _ranking(study: Study, runs: dict[str, Run], compare, root: Path) -> tuple[list[str], str | None, list]:
    """The ranking of the community models against the reference: headline, table, forest plot, ranking.json."""
    from toxft.report import ranking

    pairs = [(reference, other) for reference, other in study.pairs().get("instruct-community", [])
             if reference.name in runs and other.name in runs]
    if not pairs:
        return [], None, []
    reference = pairs[0][0]
    rows = ranking.rank([(other, compare(runs[other.name], runs[ref.name])) for ref, other in pairs])
    headline = ranking.headline(rows, reference.model)
    interval = study.analysis.interval()
    ranking.plot_ranking(rows, reference.model, root / "figures" / "ranking.png", interval)
    write_atomically(root / "ranking.json", json.dumps({"reference": reference.model, "headline": headline,
                                                        "settings": study.analysis.to_dict(),
                                                        "rows": [r.to_dict() for r in rows]}, indent=2) + "\n")
    section = ["## Ranking: fine-tunes against the reference", "", f"**{headline}.**", "",
               "Sorted by the change in the share of toxic continuations on all prompts (fine-tune minus reference, "
               f"percentage points), with the verdict of {study.analysis.describe()}; both models answered the same "
               "prompts.", "", ranking.markdown(rows, interval),
               "![Change in toxicity per fine-tune, 0 = the reference](figures/ranking.png)", ""]
    return section, headline, rows


def _trajectory(study: Study, root: Path, runs: dict[str, Run], compare) -> list[str]:
    """Toxicity along each Dolly fine-tune with checkpoints: rate per step, verdict vs step 0, the paper's question."""
    from toxft.report.table import cells
    from toxft.report.trajectory import SUBSETS, Point, markdown, plot_trajectory

    checkpoints = checkpoint_entries(study, root)
    if not checkpoints:
        return []
    settings = study.analysis
    points, lines, answers = [], [], []
    base_rates: dict[str, float] = {}
    for family, entries in study.families.items():
        instruct = next((e for e in entries if e.role == "instruct" and e.name in runs), None)
        base = next((e for e in entries if e.role == "base" and e.name in runs), None)
        for dolly in (e for e in entries if e.role == "dolly" and e.name in runs):
            mine = [(step, entry) for parent, step, entry in checkpoints if parent is dolly]
            if not mine or instruct is None:
                continue
            start = runs[instruct.name]
            finished = _steps_trained(adapter_folder(dolly, root))
            series = [(0, start), *((step, _load(results_folder(entry, root))) for step, entry in mine),
                      (finished, runs[dolly.name])]
            for step, run in series:
                if run is None:
                    continue
                comparison = compare(run, start) if run is not start else None
                for subset, cell in cells(run, SUBSETS, settings.hdi_prob).items():
                    if cell is None:
                        continue
                    verdict = comparison.subsets[subset].verdict_text("its", "step 0's") if comparison else "—"
                    points.append(Point(dolly.name, step, subset, cell.n, cell.toxic, cell.rate, cell.interval, verdict))
            if base is not None:
                base_rates = {s: c.rate for s, c in cells(runs[base.name], SUBSETS, settings.hdi_prob).items() if c}
                total = compare(runs[dolly.name], runs[base.name]).subsets.get("total")
                if total is not None:
                    answers.append(f"- **{dolly.name} after {finished} steps against {base.name}** (the model before "
                                   f"the lab's instruction tuning, same prompts): {100 * total.rate_a:.1f}% vs "
                                   f"{100 * total.rate_b:.1f}% toxic, {total.verdict_text('its', base.name + chr(39) + 's')} "
                                   f"({settings.describe()}).")
    if not points:
        return []
    plot_trajectory(points, base_rates or None, root / "figures" / "trajectory.png", settings.interval())
    write_atomically(root / "trajectory.json", json.dumps({"settings": settings.to_dict(), "base": base_rates,
                                                           "rows": [p.to_dict() for p in points]}, indent=2) + "\n")
    lines += ["## Toxicity along the fine-tune", "",
              "Step 0 is the instruction-tuned model before the fine-tune, the last step the finished adapter; each "
              f"verdict is the paired comparison with step 0 on the same prompts ({settings.describe()}).", "",
              markdown(points, base_rates or None, settings.interval()),
              "![Toxicity along the fine-tune](figures/trajectory.png)", ""]
    if answers:
        lines += ["Back to the base model's toxicity, or somewhere of its own? (the paper's Section 5)", "", *answers, ""]
    return lines


def grid_arms(study: Study, runs: dict[str, Run], compare) -> list:
    """Each evaluated fine-tune of the grid beside its family's instruct model, flags on the prompts both answered."""
    import numpy as np

    from toxft.analysis.levels import Arm
    from toxft.study.grid import SEED_AXIS, level_text

    arms = []
    for family, entries in study.families.items():
        reference = next((e for e in entries if e.role == "instruct" and e.name in runs), None)
        if reference is None:
            continue
        for entry in (e for e in entries if e.cell is not None and e.name in runs):
            compare(runs[entry.name], runs[reference.name])  # the same checks as every table (one scorer, shared prompts)
            mine, theirs = runs[entry.name].subset("total"), runs[reference.name].subset("total")
            shared = tuple(sorted(mine.keys() & theirs.keys()))
            levels = {axis: value for axis, value in entry.cell.items() if axis != SEED_AXIS}
            arms.append(Arm(family, entry.name, {k: level_text(v) for k, v in levels.items()}, entry.cell.get(SEED_AXIS),
                            np.array([theirs[i].toxic for i in shared], dtype=float),
                            np.array([mine[i].toxic for i in shared], dtype=float), shared))
    return arms


def _factors(study: Study, root: Path, runs: dict[str, Run], compare, progress) -> list[str]:
    """The grid's answer, analysed once (:func:`toxft.analysis.grid.analyse_grid`, kept in factors.json) and
    rendered from it: per factor the change of each level, interactions, the regression, forgetting or learning."""
    from toxft.analysis.grid import analyse_grid
    from toxft.report.factors import grid_section, plot_factors
    from toxft.study.grid import SEED_AXIS, level_text

    if not study.axes:
        return []
    arms = grid_arms(study, runs, compare)
    factors = {axis: [level_text(v) for v in levels] for axis, levels in study.axes.items() if axis != SEED_AXIS}
    settings = study.analysis
    cells_in_grid = len(study.cells())
    lines = ["## What changed the toxicity", ""]
    if not arms:
        return [*lines, f"None of the grid's {cells_in_grid} fine-tunes has results yet.", ""]
    references = sorted({e.name for entries in study.families.values() for e in entries
                         if e.role == "instruct" and e.family in {a.family for a in arms}})
    try:  # the fit of an earlier report, reused while its inputs are unchanged
        previous = json.loads((root / "factors.json").read_text())
    except (OSError, ValueError):
        previous = None
    found = analyse_grid(arms, factors, study.design, settings, previous, progress)
    plot_factors(found, root / "figures" / "factors.png", settings.interval())
    seeds = study.axes.get(SEED_AXIS)
    lines += [f"{len(arms)} of the grid's {cells_in_grid} fine-tunes ({study.design}; factors: "
              f"{', '.join(factors) or 'none'}" + (f"; {len(seeds)} seeds each" if seeds else "") + "), each against "
              f"{' / '.join(references)} on the same prompts (every English prompt of the suite). "
              + ("A level's change is the mean over its fine-tunes with every other factor at its baseline level "
                 "(like with like: the baseline cell with one thing changed; the seeds averaged)"
                 if study.design == "one-at-a-time" else
                 "A level's change is the mean over its fine-tunes, so over the other factors' levels (equally, in a "
                 "complete grid) and the seeds")
              + "; the headline number is the posterior mean, beside the observed change and the single fine-tunes' "
              "range.", "", *grid_section(found, settings.interval(), " / ".join(references))]
    if study.same_cells:
        lines += ["Trained once, as the same fine-tune as another cell (its method ignores what they differ in): " +
                  "; ".join(f"{left_out} = {same}" for left_out, same in study.same_cells.items()) + ".", ""]
    missing = cells_in_grid - len(arms)
    if missing:
        lines += [f"{missing} fine-tune(s) of the grid have no results yet and are left out.", ""]
    write_atomically(root / "factors.json", json.dumps({
        "settings": settings.to_dict(), "axes": {k: [level_text(v) for v in vs] for k, vs in study.axes.items()},
        "cells": [{"family": a.family, "name": a.name, "levels": a.levels, "seed": a.seed, "prompts": len(a.flags),
                   "rate": float(a.flags.mean()), "reference_rate": float(a.reference.mean())} for a in arms],
        **found.to_dict()}, indent=2, default=str) + "\n")
    return lines


def _load(folder: Path) -> Run | None:
    try:
        return load_run(folder)
    except RunError:
        return None


def _steps_trained(adapter: Path) -> int:
    """How many optimizer steps the finished adapter had (its toxft_finetune.json)."""
    from toxft.finetune.train import RECORD_FILE

    try:
        return int(json.loads((adapter / RECORD_FILE).read_text(encoding="utf-8"))["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def _revisions(entries: list[ModelEntry], runs: dict[str, Run]) -> list[str]:
    """Which commit of each model and adapter was evaluated, as the harness recorded it."""
    def short(sha: str | None) -> str:
        return f"`{sha[:12]}`" if sha else "local / not recorded"

    lines = ["Revisions evaluated (as the harness recorded them):", "",
             "| Model | Weights | Commit | Adapter | Adapter commit |", "|---|---|---|---|---|"]
    for entry in entries:
        (weights, commit), *adapter = recorded_commits(runs[entry.name]) or [(entry.model, None)]
        adapter_cells = f"{adapter[0][0]} | {short(adapter[0][1])}" if adapter else "— | —"
        lines.append(f"| {entry.name} | {weights} | {short(commit)} | {adapter_cells} |")
    return [*lines, ""]


def _by_reference(pairs: list[tuple[ModelEntry, ModelEntry]]) -> dict[str, tuple[ModelEntry, list[ModelEntry]]]:
    grouped: dict[str, tuple[ModelEntry, list[ModelEntry]]] = {}
    for reference, other in pairs:
        grouped.setdefault(reference.family, (reference, []))[1].append(other)
    return grouped


def _best_table(pairs, comparisons) -> list[str]:
    interval = comparisons[0].settings.interval() if comparisons else "95% HDI"
    lines = [f"BEST on the scores (difference of means, fine-tuned or second model minus reference, {interval}):", "",
             "| Comparison | " + " | ".join(TITLES[c] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for (reference, other), comparison in zip(pairs, comparisons, strict=True):
        cells = [_best_cell(comparison.subsets.get(column)) for column in COLUMNS]
        lines.append(f"| {other.name} − {reference.name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _write(root: Path, lines: list[str], record: dict) -> Path:
    write_atomically(root / "comparisons.json", json.dumps(record, indent=2, default=str) + "\n")
    path = root / "report.md"
    write_atomically(path, "\n".join(lines) + "\n")
    return path

