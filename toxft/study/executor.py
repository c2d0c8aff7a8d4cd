"""Running a study's steps as jobs through submitit: one after another locally, or all at once on SLURM.

A step runs inside its job under a lock on its output folder, so two toxft runs sharing an
output (two ``toxft check`` of fine-tunes of one model) never evaluate the same model twice
or write over each other's log: the second waits, then finds the step done. The lock is a
``flock``, released by the kernel when its holder dies, so a crash never leaves it stuck.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from toxft.errors import ToxftError
from toxft.study.plan import Step

EXECUTORS = ("local", "slurm")
# Local jobs have no time limit unless the user sets one: submitit's LocalExecutor would
# otherwise stop every job after 2 minutes.
NO_LIMIT_MIN = 60 * 24 * 365
_GRACE_S = 10  # between SIGTERM and SIGKILL when a step is stopped


@dataclass(frozen=True)
class Outcome:
    """How a step ended: exit status, a reason in words when it failed, whether another run did it."""

    code: int
    reason: str = ""
    done_elsewhere: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0


def lock_path(output: Path) -> Path:
    """The lock file guarding a step's output folder."""
    return output.parent / f".{output.name}.lock"


def lock_holder(output: Path) -> int | None:
    """The pid of the process running this step now, or None when nobody holds its lock."""
    from filelock import FileLock, Timeout

    path = lock_path(output)
    if not path.parent.is_dir():
        return None
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            return int(Path(f"{path}.pid").read_text().strip())
        except (OSError, ValueError):
            return -1
    lock.release()
    return None


def _signal_reason(code: int) -> str:
    number = -code
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    if number == signal.SIGKILL:
        return "killed by SIGKILL (what the kernel's out-of-memory killer sends; see dmesg, or use less memory)"
    return f"killed by {name}"


def _last_line(log: Path) -> str:
    """The last non-empty line of a log: with Python programs, the error that stopped them."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, os.path.getsize(log) - 8192))
            lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    last = lines[-1] if lines else ""
    return last if len(last) <= 200 else last[:199] + "…"


def _stop(process: subprocess.Popen) -> None:
    """Stop a step's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, _GRACE_S), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_step(step: Step, env: dict[str, str], log: str, timeout_min: float | None = None) -> Outcome:
    """The job body: take the step's lock, skip it when another run finished it, else run its command.

    The command's output goes to ``log``; it runs in its own process group so that a timeout
    or an interruption stops everything it started.
    """
    from filelock import FileLock

    from toxft.progress import LIBRARY_BARS_OFF

    step.output.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(step.output)
    with FileLock(str(path)):
        Path(f"{path}.pid").write_text(f"{os.getpid()}\n")
        if step.done():
            return Outcome(0, "done by another run", done_elsewhere=True)
        # Unbuffered, so that a job's stdout and stderr reach the log in the order they were written
        # and its last line is the error that stopped it, not stdout flushed at exit.
        merged = {"PYTHONUNBUFFERED": "1", **os.environ, **LIBRARY_BARS_OFF, **env}
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", encoding="utf-8") as handle:
            adapter = None
            if step.adapter_pin:
                adapter = _fetch_adapter(step.adapter_pin, merged, handle)
                if adapter is None:
                    return Outcome(2, f"cannot fetch the adapter {step.adapter_pin[0]} at {step.adapter_pin[1]}: "
                                      f"{_last_line(Path(log))}")
            process = subprocess.Popen(step.executable_argv(adapter), env=merged, stdout=handle,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = process.wait(timeout=None if timeout_min is None else 60 * timeout_min)
            except subprocess.TimeoutExpired:
                _stop(process)
                handle.write(f"\ntoxft: stopped after {timeout_min:g} min (--timeout-min)\n")
                return Outcome(-1, f"timed out after {timeout_min:g} min (--timeout-min {timeout_min:g})")
            finally:
                if process.poll() is None:  # interrupted: the job itself is being stopped
                    _stop(process)
    if code < 0:
        return Outcome(code, _signal_reason(code))
    if code:
        return Outcome(code, f"exit {code}: {_last_line(Path(log)) or 'no output'}")
    return Outcome(0)


def _fetch_adapter(pin: tuple[str, str], env: dict[str, str], log) -> str | None:
    """Fetch a pinned Hub adapter at its commit in a child process with the study's environment; its folder."""
    import sys

    code = ("import sys; from toxft.hub import fetch_snapshot; from toxft.errors import ToxftError\n"
            "try: print(fetch_snapshot(sys.argv[1], sys.argv[2]))\n"
            "except ToxftError as e: sys.exit(str(e))")
    done = subprocess.run([sys.executable, "-c", code, *pin], env=env, capture_output=True, text=True, check=False)
    log.write(f"toxft: fetching the adapter {pin[0]} at {pin[1]}\n{done.stderr}")
    log.flush()
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else None


@dataclass
class SlurmOptions:
    """What a SLURM job asks for; one model's evaluation fits one GPU. None: the partition's default."""

    partition: str | None = None
    gpus_per_node: int = 1
    cpus_per_task: int | None = None
    mem_gb: int | None = None
    timeout_min: float | None = 240
    account: str | None = None
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        """What each job will request, as a plan prints it."""
        asks = [f"partition {self.partition or '(default)'}", f"{self.gpus_per_node} GPU(s)",
                f"{self.cpus_per_task} CPU(s)" if self.cpus_per_task else "the partition's default CPUs",
                f"{self.mem_gb} GB" if self.mem_gb else "the partition's default memory",
                f"{self.timeout_min:g} min"]
        if self.account:
            asks.append(f"account {self.account}")
        return ", ".join(asks)


def make_executor(kind: str, folder: Path, slurm: SlurmOptions | None = None, timeout_min: float | None = None):
    """A submitit executor that writes its job files under ``folder``.

    Locally there is no time limit unless ``timeout_min`` is given (the step then stops itself
    and says so; submitit's own limit is set just above it).
    """
    import submitit

    folder.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=NO_LIMIT_MIN if timeout_min is None else timeout_min + 2)
        return executor
    slurm = slurm or SlurmOptions()
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    except RuntimeError as error:  # submitit's "Could not detect srun"
        raise ToxftError(f"toxft: --executor slurm needs a SLURM cluster here ({error})") from None
    from toxft.study.slurm import quiet

    quiet(folder.parent / "logs")
    # A GPU count of 0 must not become a `--gpus-per-node=0` request, which some SLURM versions refuse.
    params = dict(gpus_per_node=slurm.gpus_per_node or None, cpus_per_task=slurm.cpus_per_task, mem_gb=slurm.mem_gb,
                  timeout_min=slurm.timeout_min, slurm_partition=slurm.partition, slurm_account=slurm.account)
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None}, **slurm.extra)
    return executor


def run_steps(steps: list[Step], executor, env: dict[str, str], logs: Path, parallel: bool,
              on_start=lambda step: None, on_done=lambda step, outcome: None, on_wait=lambda step, pid: None,
              timeout_min: float | None = None, on_submit=lambda step, job_id: None) -> dict[str, Outcome]:
    """Submit the steps; the outcome per step label. ``parallel`` submits all before waiting (a cluster).

    ``on_wait(step, pid)`` is called when another process holds a step's lock; the job then
    waits for it and skips the step if that run finished it.
    """
    def submit(step: Step):
        holder = lock_holder(step.output)
        if holder is not None:
            on_wait(step, holder)
        start = lambda: executor.submit(run_step, step, env, str(logs / step.log_name), timeout_min)  # noqa: E731
        if not parallel:
            return _without_sigint(start)
        from toxft.study.slurm import refused, stderr_to

        try:
            with stderr_to(logs / "slurm.log"):  # sbatch prints its refusals itself; toxft says it once
                return start()
        except Exception as error:  # sbatch refused it: resources the partition cannot give, a bad account
            return Outcome(-1, refused(error))

    def wait(step: Step, job) -> None:
        if isinstance(job, Outcome):  # never started
            outcome = job
        else:
            try:
                outcome = _result(job)
            except KeyboardInterrupt:
                _stop_job(job)
                raise
        status[step.label] = outcome
        on_done(step, outcome)

    status: dict[str, Outcome] = {}
    if parallel:
        jobs = []
        for step in steps:
            job = submit(step)
            if not isinstance(job, Outcome):
                on_submit(step, job.job_id)
            jobs.append((step, job))
        for step, job in jobs:
            wait(step, job)
        return status
    for step in steps:  # one GPU (or one CPU) at a time
        on_start(step)
        wait(step, submit(step))
    return status


def _without_sigint(start):
    """Start a job with SIGINT ignored, so that Ctrl-C reaches toxft alone and it stops the job itself.

    Otherwise the terminal's SIGINT also hits submitit's local controller, which prints
    tracebacks of its own. Ignored signals are inherited, so the job and its command ignore it too.
    """
    if threading.current_thread() is not threading.main_thread():
        return start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_job(job) -> None:
    """Stop a job after Ctrl-C: a local one with every process it started; a cluster job through the cluster."""
    process = getattr(job, "_process", None)
    if process is None:
        job.cancel(check=False)
        return
    import psutil

    try:
        root = psutil.Process(process.pid)
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for member in tree:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=5)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass


def _result(job) -> Outcome:
    from submitit.slurm.slurm import SlurmJob

    on_slurm = isinstance(job, SlurmJob)
    try:
        outcome = job.result()
    except Exception as error:  # the job itself died (killed, pre-empted, out of memory, cancelled)
        if on_slurm:
            from toxft.study.slurm import describe_end

            return Outcome(-1, describe_end(job))
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return Outcome(-1, f"the job ended without a result ({first[:200]})")
    outcome = outcome if isinstance(outcome, Outcome) else Outcome(int(outcome))
    if on_slurm and not outcome.ok:
        return Outcome(outcome.code, f"SLURM job {job.job_id}: {outcome.reason}", outcome.done_elsewhere)
    return outcome

