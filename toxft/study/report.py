"""The study's report: the paper's Tables 1-3 and Figures 1-4 from the finished harness runs."""

from __future__ import annotations

import json
from pathlib import Path

from toxft.files import write_atomically
from toxft.report.figure import plot_rates
from toxft.report.render import to_markdown
from toxft.report.table import COLUMNS, TITLES, Report, recorded_commits
from toxft.runs import Run, RunError, load_run
from toxft.study import reproduction
from toxft.study.config import EXPERIMENTS, ModelEntry, Study
from toxft.study.plan import results_folder
from toxft.survey.study_file import is_survey

_TITLES = {
    "base-instruct": "Base vs instruction-tuned",
    "instruct-dolly": "Instruction-tuned vs Dolly LoRA fine-tune",
    "instruct-community": "Instruction-tuned vs community fine-tunes",
}


def load_runs(study: Study, root: Path) -> dict[str, Run]:
    """Finished runs keyed by model name; models without results are left out."""
    runs = {}
    for entry in study.models():
        try:
            runs[entry.name] = load_run(results_folder(entry, root))
        except RunError:
            continue
    return runs


def _best_cell(subset) -> str:
    from toxft.analysis.compare import verdict

    if subset is None or subset.best is None:
        return "—"
    result = subset.best
    return f"{result.diff_mean:+.3f} [{result.diff_hdi[0]:+.3f}, {result.diff_hdi[1]:+.3f}] {verdict(result)}"


def write_report(study: Study, root: Path, progress=lambda message: None) -> Path:
    """Compare every pair the study asks for and write report.md, comparisons.json and figures/."""
    from toxft.analysis.compare import METHOD_NAMES, compare_runs
    from toxft.analysis.plot import plot_differences

    root = Path(root)
    figures = root / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    runs = load_runs(study, root)
    names = [entry.name for entry in study.models() if entry.name in runs]
    lines = [f"# {study.name}: toxicity before and after fine-tuning", ""]
    if study.description:
        lines += [study.description, ""]
    missing = [entry.name for entry in study.models() if entry.name not in runs]
    if missing:
        lines += [f"Not evaluated yet (left out below): {', '.join(missing)}.", ""]
    if not names:
        lines.append("No model has results yet.")
        return _write(root, lines, {})
    ranking_at = len(lines)  # a survey's ranking leads the report: it is the survey's answer
    overview = Report([runs[n] for n in names], names)
    plot_rates(overview, figures / "rates.png")
    lines += ["## All models", "", to_markdown(overview), "![% toxic per subset and model](figures/rates.png)", "",
              *_revisions([entry for entry in study.models() if entry.name in runs], runs)]
    options = {"draws": 1000, "tune": 1000, "seed": 3407,
               **{k: v for k, v in study.analysis.items() if k not in ("best", "verdict")}}
    use_best = study.analysis.get("best", True)
    method = study.analysis.get("verdict", "paired")
    record = {}
    done: dict[tuple[str, str], object] = {}

    mismatches: list[str] = []

    def compare(second: Run, first: Run):
        key = (str(second.folder), str(first.folder))
        if key not in done:
            def warn(message: str) -> None:
                if message.removeprefix("toxft: ") not in mismatches:
                    mismatches.append(message.removeprefix("toxft: "))

            done[key] = compare_runs(second, first, run_best=use_best, warn=warn, **options)
        return done[key]

    for experiment, pairs in study.pairs().items():
        pairs = [(ref, other) for ref, other in pairs if ref.name in runs and other.name in runs]
        if not pairs:
            continue
        # The paper's numbering whatever the study leaves out: Table 2 is always instruct vs Dolly.
        table_number = list(EXPERIMENTS).index(experiment) + 1
        lines += [f"## Table {table_number} / Figure {table_number}: {_TITLES[experiment]}", ""]
        comparisons = []
        for reference, other in pairs:
            progress(f"comparing {other.name} with {reference.name}")
            comparisons.append(compare(runs[other.name], runs[reference.name]))
        record[experiment] = [c.to_dict() for c in comparisons]
        for family, group in _by_reference(pairs).items():
            reference, others = group
            table = Report([runs[reference.name], *(runs[o.name] for o in others)],
                           [reference.name, *(o.name for o in others)], baseline=runs[reference.name], verdict=method)
            lines += [f"### {family}", "", to_markdown(table)]
        if use_best:
            lines += _best_table(pairs, comparisons)
        else:
            lines += ["BEST on the scores was not run (`analysis: {best: false}` in the study file).", ""]
        figure = figures / f"{experiment}.png"
        plot_differences(comparisons, figure, labels=[f"{other.name} − {reference.name}" for reference, other in pairs])
        lines += [f"![{_TITLES[experiment]}: posterior differences](figures/{figure.name})", ""]
    if is_survey(study.source.parent):
        lines[ranking_at:ranking_at] = _ranking(study, runs, compare, root)
    entries = [entry for entry in study.models() if entry.name in runs]
    cell_checks = reproduction.check_cells(entries, runs)
    verdict_checks = reproduction.check_verdicts(entries, runs, compare, method)
    lines += reproduction.markdown(cell_checks, verdict_checks, method, mismatches)
    if cell_checks or verdict_checks:
        write_atomically(root / "reproduction.json",
                         json.dumps(reproduction.as_record(cell_checks, verdict_checks), indent=2) + "\n")
    lines += [
        "## How to read this",
        "",
        "Rates are the share of continuations the scorer calls toxic. Verdicts under each table come from "
        f"{METHOD_NAMES[method]}: both models answered the same prompts, so the prompts on which they agree carry "
        "no information about the difference, and the paired interval is narrower than the unpaired one. "
        "comparisons.json also holds the unpaired Beta-Binomial posterior; the BEST table compares the continuous "
        "scores, as the paper did. BEST and the rates can disagree: many small score shifts below the threshold "
        "move BEST but not the rate, and a few continuations crossing the threshold move the rate but barely the "
        "mean score (on realistic scores BEST's ν falls to about 1 and its means follow the non-toxic bulk).",
        "",
    ]
    return _write(root, lines, record)


def _ranking(study: Study, runs: dict[str, Run], compare, root: Path) -> list[str]:
    """A survey's ranking of its fine-tunes against the reference: headline, table, forest plot, ranking.json."""
    from toxft.survey import ranking
    from toxft.survey.study_file import read_downloads

    pairs = [(reference, other) for reference, other in study.pairs().get("instruct-community", [])
             if reference.name in runs and other.name in runs]
    if not pairs:
        return []
    reference = pairs[0][0]
    rows = ranking.rank([(other, compare(runs[other.name], runs[ref.name])) for ref, other in pairs],
                        read_downloads(study.source.parent))
    headline = ranking.headline(rows, reference.model)
    ranking.plot_ranking(rows, reference.model, root / "figures" / "ranking.png")
    write_atomically(root / "ranking.json", json.dumps({"reference": reference.model, "headline": headline,
                                                        "rows": [r.to_dict() for r in rows]}, indent=2) + "\n")
    return ["## Ranking: fine-tunes against the reference", "", f"**{headline}.**", "",
            "Sorted by the change in the share of toxic continuations on all prompts (fine-tune minus reference, "
            "percentage points), with the paired rate model's 95% interval and verdict; both models answered the "
            "same prompts.", "", ranking.markdown(rows),
            "![Change in toxicity per fine-tune, 0 = the reference](figures/ranking.png)", ""]


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
    lines = ["BEST on the scores (difference of means, fine-tuned or second model minus reference, 95% HDI):", "",
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

