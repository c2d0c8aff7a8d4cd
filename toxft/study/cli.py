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

from toxft.arguments import nonnegative_int, positive_float, positive_int
from toxft.errors import ToxftError
from toxft.study.config import load_study
from toxft.study.executor import EXECUTORS, SlurmOptions, make_executor, run_steps
from toxft.study.plan import Step, plan


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


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how the steps run: here or on SLURM, with a time limit (study run/plan, survey)."""
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: one job after another on this machine; slurm: every job at once")
    parser.add_argument("--timeout-min", type=positive_float, metavar="MIN",
                        help="stop a step that runs longer than this (default: no limit locally, "
                             f"{SlurmOptions().timeout_min:g} on SLURM)")
    slurm = parser.add_argument_group("SLURM (with --executor slurm)")
    defaults = SlurmOptions()
    slurm.add_argument("--partition", help="SLURM partition")
    slurm.add_argument("--account", help="SLURM account")
    slurm.add_argument("--gpus-per-node", type=nonnegative_int, default=defaults.gpus_per_node)
    slurm.add_argument("--cpus-per-task", type=positive_int, default=defaults.cpus_per_task,
                       help="CPUs per job (default: the partition's)")
    slurm.add_argument("--mem-gb", type=positive_int, default=defaults.mem_gb,
                       help="memory per job in GB (default: the partition's)")


def run(args: argparse.Namespace) -> int:
    study = load_study(args.study, dolly=args.dolly)
    if args.study_command == "plan" and args.check:
        return _check(study, args.output)
    steps = plan(study, args.output)
    for warning in study.unmatched():
        print(f"toxft: warning: {warning}", file=sys.stderr)
    if args.study_command == "plan":
        return _print_plan(study, steps, args)
    failed = _run(study, steps, args) if args.study_command == "run" else []
    from toxft.study.report import write_report

    path = write_report(study, args.output.resolve(), progress=lambda m: print(f"toxft: {m}", file=sys.stderr))
    print(f"toxft: report in {path}", file=sys.stderr)
    if failed:
        raise ToxftError(f"toxft: study failed: {len(failed)} step(s) did not finish ({', '.join(failed)}); "
                         f"fix the cause, then resume with: {resume_command(args)}")
    return 0


def resume_command(args: argparse.Namespace) -> str:
    """The command line that goes on with this study where it stopped."""
    import shlex

    argv = ["toxft", "study", "run", str(args.study), "--output", str(args.output)]
    if getattr(args, "executor", "local") != "local":
        argv += ["--executor", args.executor]
        defaults = SlurmOptions()
        for flag in ("partition", "account", "gpus_per_node", "cpus_per_task", "mem_gb"):
            value = getattr(args, flag, None)
            if value is not None and value != getattr(defaults, flag):
                argv += [f"--{flag.replace('_', '-')}", str(value)]
    if getattr(args, "timeout_min", None):
        argv += ["--timeout-min", f"{args.timeout_min:g}"]
    return shlex.join(argv)


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


def _slurm_options(args: argparse.Namespace) -> SlurmOptions:
    return SlurmOptions(args.partition, args.gpus_per_node, args.cpus_per_task, args.mem_gb,
                        args.timeout_min or SlurmOptions.timeout_min, args.account)


def _print_plan(study, steps: list[Step], args: argparse.Namespace) -> int:
    if args.executor == "slurm":
        print(f"# each step is a SLURM job requesting: {_slurm_options(args).describe()}")
    else:
        limit = f"at most {args.timeout_min:g} min each" if args.timeout_min else "no time limit"
        print(f"# each step runs here, one after another, {limit}")
    for name, value in study.env.items():
        print(f"export {name}={value}")
    for step in steps:
        state = "done" if step.done() else "resume" if step.interrupted() else "todo"
        print(f"# {step.label} [{state}]")
        if step.adapter_pin:
            print(f"# (the adapter {step.adapter_pin[0]} is fetched at {step.adapter_pin[1]} and loaded from that copy)")
        print(step.shell() + (" --resume" if state == "resume" else ""))
    print(f"# then: compare ({', '.join(study.comparisons)}) and write report.md")
    return 0


def _run(study, steps: list[Step], args: argparse.Namespace) -> list[str]:
    """Run the steps not done yet; the labels of those that failed."""
    from toxft.progress import progress

    root = args.output.resolve()
    todo = [step for step in steps if not step.done()]
    for step in todo:
        if step.interrupted():
            step.argv.append("--resume")
    skipped = len(steps) - len(todo)
    if skipped:
        print(f"toxft: {skipped} of {len(steps)} steps already done, skipped", file=sys.stderr)
    slurm = _slurm_options(args)
    local_limit = args.timeout_min if args.executor == "local" else None
    executor = make_executor(args.executor, root / "jobs", slurm, timeout_min=local_limit)
    failed: list[str] = []
    bar = progress(total=len(todo), desc="toxft: study", unit="step", estimate=False)

    def on_done(step: Step, outcome) -> None:
        bar.set_postfix_str(step.label)
        bar.update(1)
        if outcome.done_elsewhere:
            bar.write(f"toxft: {step.label}: finished meanwhile by another toxft run; not redone")
        elif not outcome.ok:
            failed.append(step.label)
            log = root / "logs" / step.log_name
            log = log if log.is_file() else root / "logs" / "slurm.log"  # a job that never ran has only SLURM's
            bar.write(f"toxft: {step.label} failed: {outcome.reason}; log: {log}")

    def on_wait(step: Step, pid: int) -> None:
        bar.write(f"toxft: {step.label}: in use by pid {pid} (another toxft run on {root}); waiting for it")

    # Fine-tunes before the evaluations that load their adapters.
    for kind in ("finetune", "evaluate"):
        batch = [s for s in todo if s.kind == kind and not _depends_on_failure(s, failed)]
        if batch:
            run_steps(batch, executor, study.env, root / "logs", parallel=args.executor == "slurm",
                      on_start=lambda step: _started(bar, step), on_done=on_done, on_wait=on_wait,
                      timeout_min=local_limit,
                      on_submit=lambda step, job_id: bar.write(f"toxft: {step.label}: SLURM job {job_id}"))
    bar.close()
    return failed


def _started(bar, step: Step) -> None:
    from toxft.progress import interactive

    bar.set_postfix_str(step.label)
    if not interactive():  # in a log, say what runs now: a step can take an hour
        bar.write(f"toxft: study: {step.label} ...")


def _depends_on_failure(step: Step, failed: list[str]) -> bool:
    return step.kind == "evaluate" and f"finetune {step.entry.name}" in failed
