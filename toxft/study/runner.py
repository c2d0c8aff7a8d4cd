"""Planning and running a loaded study: what ``toxft study plan/run`` do, as functions other commands call.

:class:`ExecutorOptions` says where the steps run (here, or as SLURM jobs) and for how long at
most; :func:`print_plan` prints the commands, :func:`run_study` runs what is not done yet, and
:func:`resume_command` is the command line that goes on after a failure. ``toxft survey`` builds
its study and calls these directly.

Example::

    study = load_study("studies/paper.yaml")
    failed = run_study(study, Path("runs"), ExecutorOptions())
    report = write_report(study, Path("runs"))       # toxft.study.report
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from toxft.arguments import nonnegative_int, positive_float, positive_int
from toxft.finetune.methods import ignored_settings
from toxft.study.config import Study
from toxft.study.executor import EXECUTORS, SlurmOptions, make_executor, run_steps
from toxft.study.plan import KINDS, Step, depends_on, plan


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the steps run and for how long at most."""

    kind: str = "local"  # local or slurm
    timeout_min: float | None = None  # locally: no limit unless given
    slurm: SlurmOptions = field(default_factory=SlurmOptions)

    def describe(self) -> str:
        if self.kind == "slurm":
            return f"each step is a SLURM job requesting: {self.slurm.describe()}"
        limit = f"at most {self.timeout_min:g} min each" if self.timeout_min else "no time limit"
        return f"each step runs here, one after another, {limit}"

    def flags(self) -> list[str]:
        """The command-line flags that ask for these options (those that differ from the defaults)."""
        argv: list[str] = []
        if self.kind != "local":
            argv += ["--executor", self.kind]
            defaults = SlurmOptions()
            for name in ("partition", "account", "gpus_per_node", "cpus_per_task", "mem_gb"):
                value = getattr(self.slurm, name)
                if value is not None and value != getattr(defaults, name):
                    argv += [f"--{name.replace('_', '-')}", str(value)]
        if self.timeout_min:
            argv += ["--timeout-min", f"{self.timeout_min:g}"]
        return argv


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how the steps run: here or on SLURM, with a time limit (study run/plan, survey)."""
    defaults = SlurmOptions()
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: one job after another on this machine; slurm: every job at once")
    parser.add_argument("--timeout-min", type=positive_float, metavar="MIN",
                        help="stop a step that runs longer than this (default: no limit locally, "
                             f"{defaults.timeout_min} on SLURM, where a fraction of a minute counts as a whole one)")
    slurm = parser.add_argument_group("SLURM (with --executor slurm)")
    slurm.add_argument("--partition", help="SLURM partition (default: the cluster's)")
    slurm.add_argument("--account", help="SLURM account (default: the one SLURM gives you)")
    slurm.add_argument("--gpus-per-node", type=nonnegative_int, default=defaults.gpus_per_node,
                       help="GPUs per job; each step is one process")
    slurm.add_argument("--cpus-per-task", type=positive_int, default=defaults.cpus_per_task,
                       help="CPUs per job (default: the partition's)")
    slurm.add_argument("--mem-gb", type=positive_int, default=defaults.mem_gb,
                       help="memory per job in GB (default: the partition's)")


def executor_options(args: argparse.Namespace) -> ExecutorOptions:
    """The options :func:`add_executor_arguments` parsed."""
    # SLURM's --time is whole minutes: a fraction asks for the next whole minute.
    minutes = math.ceil(args.timeout_min) if args.timeout_min else SlurmOptions.timeout_min
    slurm = SlurmOptions(args.partition, args.gpus_per_node, args.cpus_per_task, args.mem_gb, minutes, args.account)
    return ExecutorOptions(args.executor, args.timeout_min, slurm)


def resume_command(study_path: Path, root: Path, options: ExecutorOptions) -> str:
    """The command line that goes on with this study where it stopped."""
    return shlex.join(["toxft", "study", "run", str(study_path), "--output", str(root), *options.flags()])


def print_plan(study: Study, root: Path, options: ExecutorOptions) -> None:
    """The commands a run would execute, with which are done, to standard output."""
    steps = plan(study, root)
    print(f"# {options.describe()}")
    if study.axes:
        cells = study.cells()
        print(f"# grid ({study.design}): {len(cells)} fine-tunes over " +
              ", ".join(f"{axis} [{', '.join(map(str, levels))}]" for axis, levels in study.axes.items()))
        for left_out, same in study.same_cells.items():
            print(f"#   [{left_out}] is the same fine-tune as [{same}] (its method ignores what they differ in): "
                  "trained once")
        trained = {step.entry.name: step for step in steps if step.kind == "finetune"}
        for entry in cells:
            step = trained[entry.name]
            state = "done" if step.done() else "resume" if step.interrupted() else "todo"
            ignored = ignored_settings({**study.finetune, **entry.cell})
            said = f" (its method ignores {', '.join(ignored)})" if ignored else ""
            print(f"#   {entry.name} [{state}] -> {step.output}{said}")
    for name, value in study.env.items():
        print(f"export {name}={value}")
    for step in steps:
        state = "done" if step.done() else "resume" if step.interrupted() else "todo"
        print(f"# {step.label} [{state}]")
        if step.adapter_pin:
            print(f"# (the adapter {step.adapter_pin[0]} is fetched at {step.adapter_pin[1]} and loaded from that copy)")
        print(step.shell() + (" --resume" if state == "resume" else ""))
    print(f"# then: compare ({', '.join(study.comparisons)}) and write report.md")


def run_study(study: Study, root: Path, options: ExecutorOptions) -> list[str]:
    """Run every step not done yet; the labels of those that failed or could not start."""
    from toxft.progress import progress

    root = Path(root).resolve()
    steps = plan(study, root)
    todo = [step for step in steps if not step.done()]
    for step in todo:
        if step.interrupted():
            step.argv.append("--resume")
    done = len(steps) - len(todo)
    if done:
        print(f"toxft: {done} of {len(steps)} steps already done, skipped", file=sys.stderr)
    if not todo:
        return []
    import threading

    from toxft.study.report import warm_up

    # The report's libraries load while the steps run (this process only waits for them meanwhile).
    threading.Thread(target=warm_up, name="toxft-report-imports", daemon=True).start()
    local_limit = options.timeout_min if options.kind == "local" else None
    failed: list[str] = []
    skipped: set[str] = set()  # steps whose input a failed step should have made
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

    from toxft.study.worker import preload_for

    with make_executor(options.kind, root / "jobs", study.env, options.slurm,
                       preload_for(step.kind for step in todo)) as executor:
        # Fine-tunes before the evaluations that load their adapters, evaluations before their rescores.
        for kind in KINDS:
            batch = [s for s in todo if s.kind == kind
                     and not any(d.label in failed or d.label in skipped for d in depends_on(s, steps))]
            skipped.update(s.label for s in todo if s.kind == kind and s not in batch)
            if batch:
                run_steps(batch, executor, study.env, root / "logs", on_start=lambda step: _started(bar, step),
                          on_done=on_done, on_wait=on_wait, timeout_min=local_limit,
                          on_submit=lambda step, job_id: bar.write(f"toxft: {step.label}: SLURM job {job_id}"))
    bar.close()
    return failed + sorted(skipped)


def _started(bar, step: Step) -> None:
    from toxft.progress import interactive

    bar.set_postfix_str(step.label)
    if not interactive():  # in a log, say what runs now: a step can take an hour
        bar.write(f"toxft: study: {step.label} ...")
