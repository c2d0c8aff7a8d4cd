"""Running a study's steps as jobs through submitit: one after another locally, or all at once on SLURM."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from toxft.errors import ToxftError
from toxft.study.plan import Step

EXECUTORS = ("local", "slurm")


def run_command(argv: list[str], env: dict[str, str], log: str) -> int:
    """The job body: run one command with the study's environment, its output to ``log``; the exit status."""
    # The log is a file: carriage-return bars from the harness and the Hub libraries would make it one long
    # line. Their log lines and toxft's own line progress still show each stage.
    from toxft.progress import LIBRARY_BARS_OFF

    merged = {**os.environ, **LIBRARY_BARS_OFF, **env}
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle:
        return subprocess.run(argv, env=merged, stdout=handle, stderr=subprocess.STDOUT, check=False).returncode


@dataclass
class SlurmOptions:
    """What a SLURM job asks for; one model's evaluation fits one GPU."""

    partition: str | None = None
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 64
    timeout_min: int = 240
    account: str | None = None
    extra: dict = field(default_factory=dict)


def make_executor(kind: str, folder: Path, slurm: SlurmOptions | None = None):
    """A submitit executor that writes its job files under ``folder``."""
    import submitit

    folder.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        return submitit.LocalExecutor(folder=str(folder))
    slurm = slurm or SlurmOptions()
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    except RuntimeError as error:  # submitit's "Could not detect srun"
        raise ToxftError(f"toxft: --executor slurm needs a SLURM cluster here ({error})") from None
    params = dict(gpus_per_node=slurm.gpus_per_node, cpus_per_task=slurm.cpus_per_task, mem_gb=slurm.mem_gb,
                  timeout_min=slurm.timeout_min, slurm_partition=slurm.partition, slurm_account=slurm.account)
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None}, **slurm.extra)
    return executor


def run_steps(steps: list[Step], executor, env: dict[str, str], logs: Path, parallel: bool,
              on_start=lambda step: None, on_done=lambda step, status: None) -> dict[str, int]:
    """Submit the steps; exit status per step label. ``parallel`` submits all before waiting (a cluster)."""
    def submit(step: Step):
        return executor.submit(run_command, step.executable_argv(), env, str(logs / step.log_name))

    def wait(step: Step, job) -> None:
        status[step.label] = _result(job)
        on_done(step, status[step.label])

    status: dict[str, int] = {}
    if parallel:
        for step, job in [(step, submit(step)) for step in steps]:
            wait(step, job)
        return status
    for step in steps:  # one GPU (or one CPU) at a time
        on_start(step)
        wait(step, submit(step))
    return status


def _result(job) -> int:
    try:
        return int(job.result())
    except Exception:  # the job itself died (killed, pre-empted, out of memory): count it as failed
        return -1
