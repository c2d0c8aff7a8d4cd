"""Safety tables for model cards: the paper's table from harness runs, as Markdown, JSON, CSV,
Hub `model-index` metadata, a model-card section, or a figure.

examples:
  toxft report results/google__gemma-2-2b-it results/me__gemma-2-2b-it-dolly --baseline results/google__gemma-2-2b-it
  toxft report results/me__tuned --format model-index
  toxft report results/me__tuned --baseline results/base --card README.md --plot rates.png
  toxft report results/me__tuned --push-to-hub me/tuned --dry-run
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from toxft.errors import ToxftError
from toxft.files import FIGURE_SUFFIXES, check_output, save_figure, write_atomically
from toxft.runs import TASKS, Run, load_run
from toxft.settings import DEFAULT_SCORER

COLUMNS = ["total", "severe", "random", "race", "gender", "age", "religion"]
TITLES = {"total": "Total", "severe": "Severe", "random": "Random", "race": "Race", "gender": "Gender",
          "age": "Age", "religion": "Religion"}
SECTION_TITLE = "## Toxicity evaluation (toxft)"
START, END = "<!-- toxft:start -->", "<!-- toxft:end -->"
SOURCE = {"name": "toxft", "url": "https://arxiv.org/abs/2410.15821"}
DATASETS = {
    "severe": ("allenai/real-toxicity-prompts", "RealToxicityPrompts, severe (toxft)", "train"),
    "random": ("allenai/real-toxicity-prompts", "RealToxicityPrompts, random (toxft)", "train"),
    **{g: ("Song-SW/CEB", f"CEB-Continuation-T {g} (toxft)", g) for g in ("race", "gender", "age", "religion")},
    "total": ("toxft", "toxft suite: RealToxicityPrompts + CEB-Continuation-T", "test"),
}


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


def _change(run: Run, baseline: Run, column: str, method: str) -> str:
    from toxft.analysis.compare import compare_runs, verdict

    comparison = compare_runs(run, baseline, subsets=[column], run_best=method == "best", warn=lambda m: None,
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
                    entry["change_vs_baseline"] = _change(run, self.baseline, column, self.verdict)
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


def _sizes(rows: list[dict]) -> dict[str, set[int]]:
    return {c: {r["columns"][c]["n"] for r in rows if r["columns"][c]} for c in COLUMNS}


def to_markdown(report: Report) -> str:
    """The paper's table: % toxic per subset, n in the header, changes vs the baseline."""
    rows = report.rows()
    sizes = _sizes(rows)
    header = [f"{TITLES[c]} (n={next(iter(sizes[c]))})" if len(sizes[c]) == 1 else f"{TITLES[c]}†" for c in COLUMNS]
    lines = ["| Model | " + " | ".join(header) + " |", "|---|" + "---:|" * len(COLUMNS)]
    notes = set()
    for row in rows:
        values = []
        for column in COLUMNS:
            entry = row["columns"][column]
            if entry is None:
                values.append("not run")
                notes.add("*not run*: the run has no samples for that subset (or, for Total, not all six), so no total is shown.")
            else:
                values.append(f"{entry['rate'] * 100:.1f}")
        lines.append(f"| {row['model']} | " + " | ".join(values) + " |")
        if any(e and "change_vs_baseline" in e for e in row["columns"].values()):
            changes = [(e or {}).get("change_vs_baseline", "—") for e in (row["columns"][c] for c in COLUMNS)]
            lines.append(f"| ↳ vs {report.baseline_name} | " + " | ".join(changes) + " |")
    if any(len(s) > 1 for s in sizes.values()):
        notes.add("†: the models were scored on different numbers of prompts in this column; see the JSON output.")
    settings = report.settings()
    generation = settings["generation"]
    from toxft.analysis.compare import METHOD_NAMES

    method = METHOD_NAMES[report.verdict]
    lines += [
        "",
        "Values are % of continuations whose score is above " + f"{settings['threshold']}" + " (lower is better)."
        + (f" Changes are percentage points against the baseline; the verdict comes from {method}, 95% HDI." if report.baseline else ""),
        *[f"- {note}" for note in sorted(notes)],
        f"- Scorer: `{settings['scorer']}` (model [label, activation]: the score is P(label)).",
        f"- Generation: {'greedy' if not generation.get('do_sample') else 'sampled'}, at most "
        f"{generation.get('max_gen_toks', '?')} new tokens, chat template {'on' if settings['chat_template'] else 'off'}.",
        f"- lm-evaluation-harness {settings['harness_version']}, toxft tasks, evaluated {settings['date']}.",
        *[f"- {name}: {text}" for name, text in revisions(report).items()],
    ]
    return "\n".join(lines) + "\n"


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


def to_json(report: Report) -> str:
    return json.dumps({"models": report.rows(), "settings": report.settings(), "revisions": revisions(report),
                       "baseline": report.baseline_name, "verdict_from": report.verdict},
                      indent=2) + "\n"


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "subset", "n", "toxic", "toxic_rate", "mean_score", "change_vs_baseline"])
    for row in report.rows():
        for column in COLUMNS:
            entry = row["columns"][column]
            if entry is None:
                writer.writerow([row["model"], column, "", "", "", "", ""])
            else:
                writer.writerow([row["model"], column, entry["n"], entry["toxic"], f"{entry['rate']:.6f}",
                                 f"{entry['mean_score']:.6f}", entry.get("change_vs_baseline", "")])
    return buffer.getvalue()


def eval_results(run: Run) -> list:
    """huggingface_hub EvalResults: per subset, the toxic rate (%) and the mean score."""
    from huggingface_hub import EvalResult

    results = []
    for column, cell in cells(run).items():
        if cell is None:
            continue
        dataset_type, dataset_name, split = DATASETS[column]
        common = dict(task_type="text-generation", task_name="Toxicity (toxft)", dataset_type=dataset_type,
                      dataset_name=dataset_name, dataset_config=column, dataset_split=split,
                      dataset_args={"prompts": cell.n}, source_name=SOURCE["name"], source_url=SOURCE["url"])
        results.append(EvalResult(metric_type="toxic_rate", metric_name="% toxic continuations",
                                  metric_value=round(cell.rate * 100, 2), **common))
        results.append(EvalResult(metric_type="mean_toxicity", metric_name="mean P(hate)",
                                  metric_value=round(cell.mean_score, 4), **common))
    return results


def card_data(run: Run, name: str):
    """ModelCardData holding this run's model-index entry."""
    from huggingface_hub import ModelCardData

    return ModelCardData(model_name=name, eval_results=eval_results(run))


def update_card(text: str, report: Report, name: str) -> str:
    """The card text with the toxft section and model-index replaced (idempotent; other content kept)."""
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except Exception as error:  # huggingface_hub raises ValueError, KeyError, TypeError... on bad metadata
        raise ToxftError(f"toxft: the card's metadata cannot be parsed by huggingface_hub ({error})") from None
    data = card.data
    kept = [r for r in (data.eval_results or []) if r.source_name != SOURCE["name"]]
    data.eval_results = kept + eval_results(report.runs[0])
    if not getattr(data, "model_name", None):
        data.model_name = name
    section = f"{SECTION_TITLE}\n\n{START}\n{to_markdown(report)}{END}"
    body = card.text
    if START in body and END in body:
        head, rest = body.split(START, 1)
        tail = rest.split(END, 1)[1]
        head = head.rstrip()
        if head.endswith(SECTION_TITLE):
            head = head[: -len(SECTION_TITLE)].rstrip()
        body = (head + "\n\n" if head else "") + section + tail
    else:
        body = body.rstrip() + "\n\n" + section + "\n"
    return f"---\n{data.to_yaml()}\n---\n{body if body.startswith(chr(10)) else chr(10) + body}"


def plot_rates(report: Report, path: Path) -> Path:
    """Grouped bars of % toxic per subset and model, with 95% Wilson intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import binomtest

    width = 0.8 / len(report.runs)
    fig, axis = plt.subplots(figsize=(max(6.0, 1.2 * len(COLUMNS) + 0.4 * len(report.runs)), 3.8))
    for index, (run, name) in enumerate(zip(report.runs, report.names)):
        xs, rates, low, high = [], [], [], []
        for position, cell in enumerate(cells(run).values()):
            if cell is None:
                continue
            interval = binomtest(cell.toxic, cell.n).proportion_ci(confidence_level=0.95, method="wilson")
            xs.append(position + (index - (len(report.runs) - 1) / 2) * width)
            rates.append(cell.rate * 100)
            low.append((cell.rate - interval.low) * 100)
            high.append((interval.high - cell.rate) * 100)
        axis.bar(xs, rates, width=width, yerr=[low, high], capsize=3, label=name)
    axis.set_xticks(range(len(COLUMNS)), [TITLES[c] for c in COLUMNS])
    axis.set_ylabel("% toxic continuations")
    axis.set_title("Toxic continuations per subset (95% Wilson intervals; lower is better)", fontsize=10)
    axis.legend(fontsize=8)
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="harness --output_path folders (or model folders)")
    parser.add_argument("--baseline", metavar="RUN", help="compare every other model with this run")
    parser.add_argument("--name", action="append", default=[], metavar="NAME",
                        help="display name per RUN, in order (default: from the harness model_args)")
    parser.add_argument("--format", choices=["markdown", "json", "csv", "model-index"], default="markdown")
    parser.add_argument("--output", type=Path, metavar="PATH", help="write to a file instead of standard output")
    from toxft.analysis.compare import VERDICTS

    parser.add_argument("--verdict", choices=list(VERDICTS), default="paired",
                        help="verdicts vs --baseline from the paired rate model, the unpaired one, or BEST (MCMC)")
    parser.add_argument("--best", action="store_true", help="the same as --verdict best")
    parser.add_argument("--card", type=Path, metavar="README.md", help="insert or update the toxft section of a model card")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="update the card of a Hub model repository")
    parser.add_argument("--no-pr", action="store_true", help="with --push-to-hub: commit directly instead of opening a PR")
    parser.add_argument("--dry-run", action="store_true", help="with --card/--push-to-hub: print the new card, change nothing")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="also draw %% toxic per subset and model (PNG, PDF, SVG)")


def build_report(args: argparse.Namespace) -> Report:
    paths = list(args.runs)
    if args.baseline and args.baseline not in paths:
        paths.append(args.baseline)
    runs = [load_run(p) for p in paths]
    folders = [r.folder.resolve() for r in runs]
    if len(set(folders)) != len(folders):
        raise ToxftError("toxft: the same run is listed twice")
    if len(args.name) > len(runs):
        raise ToxftError(f"toxft: {len(args.name)} --name values for {len(runs)} runs")
    names = args.name + [r.name for r in runs[len(args.name):]]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ToxftError(f"toxft: two runs are both called {duplicates[0]!r}; tell them apart with --name")
    baseline = runs[paths.index(args.baseline)] if args.baseline else None
    return Report(runs, names, baseline, verdict="best" if args.best else args.verdict)


def run(args: argparse.Namespace) -> int:
    if args.output:
        check_output(args.output, "--output", {"markdown": (".md", ".markdown", ".txt"), "json": (".json",),
                                               "csv": (".csv",), "model-index": (".yaml", ".yml", ".md")}[args.format])
    if args.plot:
        check_output(args.plot, "--plot", FIGURE_SUFFIXES)
    if args.card and not args.dry_run:
        check_output(args.card, "--card")
    report = build_report(args)
    if args.format == "model-index" and len(report.runs) > 1 and not args.baseline:
        raise ToxftError("toxft: --format model-index describes one model; give one RUN")
    if args.card or args.push_to_hub:
        _update_cards(args, report)
    else:
        text = {
            "markdown": to_markdown, "json": to_json, "csv": to_csv,
            "model-index": lambda r: card_data(r.runs[0], r.names[0]).to_yaml() + "\n",
        }[args.format](report)
        if args.output:
            write_atomically(args.output, text)
            print(f"toxft: wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    if args.plot:
        plot_rates(report, args.plot)
        print(f"toxft: wrote {args.plot}", file=sys.stderr)
    return 0


def _print_diff(old: str, new: str, label: str) -> None:
    import difflib

    sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), label, label))


def _update_cards(args: argparse.Namespace, report: Report) -> None:
    name = report.names[0]
    if args.card:
        update_card_file(args.card, report, name, dry_run=args.dry_run)
    if args.push_to_hub:
        push_card(args.push_to_hub, report, name, create_pr=not args.no_pr, dry_run=args.dry_run)


def update_card_file(card: Path, report: Report, name: str, *, dry_run: bool = False, create: bool = False) -> None:
    """Insert or update the toxft section of a local card (``create``: a missing card is started)."""
    try:
        old = "" if create and not card.exists() else card.read_text(encoding="utf-8")
    except OSError as error:
        raise ToxftError(f"toxft: cannot read {card}: {error.strerror}") from None
    if not old.startswith("---"):
        print(f"toxft: {card} has no metadata block; one will be added", file=sys.stderr)
    new = update_card(old, report, name)
    if dry_run:
        _print_diff(old, new, str(card))
    elif new != old:
        write_atomically(card, new)
        print(f"toxft: updated {card}", file=sys.stderr)
    else:
        print(f"toxft: {card} is already up to date", file=sys.stderr)


def push_card(repo_id: str, report: Report, name: str, *, create_pr: bool = True, dry_run: bool = False) -> None:
    """Update a Hub model card, as a pull request unless told otherwise; an unchanged card pushes nothing."""
    from toxft import hub

    old = hub.read_card(repo_id)
    new = update_card(old, report, name)
    _print_diff(old, new, f"{repo_id}/README.md")
    if dry_run:
        return
    if new == old:
        print(f"toxft: the card of {repo_id} is already up to date; nothing pushed", file=sys.stderr)
        return
    print(f"toxft: {hub.push_card(repo_id, new, create_pr=create_pr)}", file=sys.stderr)
