"""The study's report: the paper's Tables 1-3 and Figures 1-4 from the finished harness runs."""

from __future__ import annotations

import json
from pathlib import Path

from toxft.report import COLUMNS, TITLES, Report, plot_rates, to_markdown, write_atomically
from toxft.runs import Run, RunError, load_run
from toxft.study.config import ModelEntry, Study
from toxft.study.plan import results_folder

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
    missing = [entry.name for entry in study.models() if entry.name not in runs]
    if missing:
        lines += [f"Not evaluated yet (left out below): {', '.join(missing)}.", ""]
    if not names:
        lines.append("No model has results yet.")
        return _write(root, lines, {})
    overview = Report([runs[n] for n in names], names)
    plot_rates(overview, figures / "rates.png")
    lines += ["## All models", "", to_markdown(overview), "![% toxic per subset and model](figures/rates.png)", ""]
    options = {"draws": 1000, "tune": 1000, "seed": 3407,
               **{k: v for k, v in study.analysis.items() if k not in ("best", "verdict")}}
    use_best = study.analysis.get("best", True)
    method = study.analysis.get("verdict", "paired")
    record = {}
    table_number = 0
    for experiment, pairs in study.pairs().items():
        pairs = [(ref, other) for ref, other in pairs if ref.name in runs and other.name in runs]
        if not pairs:
            continue
        table_number += 1
        lines += [f"## Table {table_number} / Figure {table_number}: {_TITLES[experiment]}", ""]
        comparisons = []
        for reference, other in pairs:
            progress(f"comparing {other.name} with {reference.name}")
            comparisons.append(compare_runs(runs[other.name], runs[reference.name], run_best=use_best,
                                            warn=lambda message: None, **options))
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
        plot_differences(comparisons, figure)
        lines += [f"![{_TITLES[experiment]}: posterior differences](figures/{figure.name})", ""]
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

