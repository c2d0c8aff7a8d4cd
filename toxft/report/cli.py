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
import sys
from pathlib import Path

from toxft.errors import ToxftError
from toxft.files import FIGURE_SUFFIXES, check_output, write_atomically
from toxft.report.card import card_data, push_card, update_card_file
from toxft.report.figure import plot_rates
from toxft.report.render import to_csv, to_json, to_markdown
from toxft.report.table import Report
from toxft.runs import load_run

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="harness --output_path folders (or model folders)")
    parser.add_argument("--baseline", metavar="RUN", help="compare every other model with this run")
    parser.add_argument("--name", action="append", default=[], metavar="NAME",
                        help="display name per RUN, in order (default: from the harness model_args)")
    parser.add_argument("--format", choices=["markdown", "json", "csv", "model-index"], default="markdown",
                        help="what to write: the paper's table, JSON, CSV or Hub model-index metadata")
    parser.add_argument("--output", type=Path, metavar="PATH", help="write to a file instead of standard output")
    from toxft.analysis.settings import VERDICTS, add_interval_arguments

    parser.add_argument("--verdict", choices=list(VERDICTS), default="paired",
                        help="verdicts vs --baseline from the paired rate model, the unpaired one, or BEST (MCMC)")
    parser.add_argument("--best", action="store_true", help="the same as --verdict best")
    add_interval_arguments(parser)
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
    # One model under several scorers is one name per scorer block; the same name twice within one is ambiguous.
    keys = [(name, run.scorer) for name, run in zip(names, runs)]
    if len(set(keys)) != len(keys):
        duplicates = sorted({n for n, s in keys if keys.count((n, s)) > 1})
        raise ToxftError(f"toxft: two runs are both called {duplicates[0]!r}; tell them apart with --name")
    baseline = runs[paths.index(args.baseline)] if args.baseline else None
    from toxft.analysis.settings import from_arguments

    method = "best" if args.best else args.verdict
    return Report.build(runs, names, baseline, from_arguments(args, verdict=method, best=method == "best"))


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


def _update_cards(args: argparse.Namespace, report: Report) -> None:
    name = report.names[0]
    if args.card:
        update_card_file(args.card, report, name, dry_run=args.dry_run)
    if args.push_to_hub:
        push_card(args.push_to_hub, report, name, create_pr=not args.no_pr, dry_run=args.dry_run)


