"""Run or plan a whole study from one YAML file: the harness for every model, the Dolly fine-tunes
where a model's role is dolly, then the paired, unpaired and BEST comparisons and OUTPUT/report.md.

  toxft study plan studies/paper.yaml --output runs/
  toxft study plan studies/paper.yaml --output runs/ --check              # ids, access, pins, lineage (Hub)
  toxft study run studies/paper.yaml --output runs/                       # one job at a time, here
  toxft study run studies/paper.yaml --output runs/ --executor slurm --partition gpu

Finished steps are skipped, so running the same command again resumes an interrupted study.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from toxft.errors import ToxftError
from toxft.study.config import load_study
from toxft.study.runner import add_executor_arguments, executor_options, print_plan, resume_command, run_study


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    formatter = parser.formatter_class
    for name, text in (("run", "run every step not done yet, then compare and write the report"),
                       ("plan", "print the commands a run would execute, and which are done"),
                       ("report", "compare and write the report from the results there are")):
        action = sub.add_parser(name, help=text, description=text, formatter_class=formatter)
        action.add_argument("study", type=Path, help="the study YAML (e.g. studies/paper.yaml)")
        action.add_argument("--output", type=Path, default=Path("runs"), help="folder for adapters, results, report")
        action.add_argument("--dolly", choices=["published", "train"],
                            help="dolly models: the paper's published adapters, or train them with toxft finetune "
                                 "(default: the study file's dolly_adapters)")
        if name == "plan":
            action.add_argument("--check", action="store_true",
                                help="resolve every model and adapter on the Hub (access, commit, lineage) and pin "
                                     "the commits in OUTPUT/pins.json; exit 1 when one fails")
        if name in ("run", "plan"):
            add_executor_arguments(action)


def run(args: argparse.Namespace) -> int:
    study = load_study(args.study, dolly=args.dolly)
    if args.study_command == "plan" and args.check:
        return _check(study, args.output)
    for warning in study.unmatched():
        print(f"toxft: warning: {warning}", file=sys.stderr)
    if args.study_command == "plan":
        print_plan(study, args.output.resolve(), executor_options(args))
        return 0
    failed = []
    if args.study_command == "run":
        options = executor_options(args)
        failed = run_study(study, args.output, options)
    from toxft.study.report import write_report

    written = write_report(study, args.output.resolve(), progress=lambda m: print(f"toxft: {m}", file=sys.stderr))
    print(f"toxft: report in {written.path}", file=sys.stderr)
    if failed:
        raise ToxftError(f"toxft: study failed: {len(failed)} step(s) did not finish ({', '.join(failed)}); "
                         f"fix the cause, then resume with: {resume_command(args.study, args.output, options)}")
    return 0


def _check(study, output: Path) -> int:
    """Resolve every id, print one line each, write the pins; 1 when an id fails."""
    from toxft.files import write_atomically
    from toxft.study.preflight import PINS_FILE, check_study, format_check

    report = check_study(study, progress=lambda message: print(f"toxft: {message}", file=sys.stderr, flush=True))
    print("\n".join(format_check(report)))
    counts = {kind: [r for r in report.resolutions if r.kind == kind] for kind in ("model", "adapter")}
    resolved = " and ".join(f"{sum(not r.problem for r in found)} of {len(found)} {kind}s"
                            for kind, found in counts.items())
    summary = f"toxft: check: {resolved} resolve; {len(report.warnings)} lineage warning(s)"
    pins = report.pins()
    if pins["models"] or pins["adapters"]:
        output.mkdir(parents=True, exist_ok=True)
        write_atomically(output / PINS_FILE, json.dumps(pins, indent=2, sort_keys=True) + "\n")
        summary += f"; commits pinned in {output / PINS_FILE}"
    print(summary, file=sys.stderr)
    return 1 if report.failures else 0
