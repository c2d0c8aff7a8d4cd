"""Running a study's steps: one after another on this machine, or all at once as SLURM jobs through submitit.

Locally, each step runs in a fork of a warm worker (:mod:`toxft.study.worker`) that has imported
the harness once, so a small evaluation does not pay 15 s of imports and task indexing each
time; on SLURM each step is a submitit job that runs its command as a new process on its node.
Either way a step runs under a lock on its output folder, so two toxft runs sharing an output
(two ``toxft check`` of fine-tunes of one model) never evaluate the same model twice or write
over each other's log: the second waits, then finds the step done. The lock is a ``flock``,
released by the kernel when its holder dies, so a crash never leaves it stuck.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from toxft.errors import ToxftError
from toxft.study.plan import Step

EXECUTORS = ("local", "slurm")
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


def _stop(pid: int) -> None:
    """Stop a step's whole process group (its leader is ``pid``): SIGTERM, then SIGKILL after a grace period."""
    import time

    for sig, wait in ((signal.SIGTERM, _GRACE_S), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def step_environment(study_env: dict[str, str]) -> dict[str, str]:
    """The environment every step of a study runs in: this one, library bars off, the study's ``env:`` on top.

    Unbuffered, so that a job's stdout and stderr reach the log in the order they were written and
    its last line is the error that stopped it, not stdout flushed at exit.
    """
    from toxft.progress import LIBRARY_BARS_OFF

    return {"PYTHONUNBUFFERED": "1", **os.environ, **LIBRARY_BARS_OFF, **study_env}


def run_step(step: Step, env: dict[str, str], log: str, timeout_min: float | None = None, worker=None) -> Outcome:
    """The job body: take the step's lock, skip it when another run finished it, else run its command.

    The command's output goes to ``log``; it runs in its own process group so that a timeout or an
    interruption stops everything it started. With a ``worker`` (local steps) it runs in a fork of
    that warm process; without one (a SLURM job) as a new process.
    """
    from filelock import FileLock

    step.output.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(step.output)
    with FileLock(str(path)):
        Path(f"{path}.pid").write_text(f"{os.getpid()}\n")
        if step.done():
            return Outcome(0, "done by another run", done_elsewhere=True)
        merged = step_environment(env)
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", encoding="utf-8") as handle:
            adapter = None
            if step.adapter_pin:
                adapter = _fetch_adapter(step.adapter_pin, merged, handle)
                if adapter is None:
                    return Outcome(2, f"cannot fetch the adapter {step.adapter_pin[0]} at {step.adapter_pin[1]}: "
                                      f"{_last_line(Path(log))}")
        seconds = None if timeout_min is None else 60 * timeout_min
        try:
            code = (_in_worker(worker, step, adapter, log, seconds) if worker is not None
                    else _in_process(step, adapter, merged, log, seconds))
        except TimeoutError:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"\ntoxft: stopped after {timeout_min:g} min (--timeout-min)\n")
            return Outcome(-1, f"timed out after {timeout_min:g} min (--timeout-min {timeout_min:g})")
    if code is None:
        return Outcome(-1, "the job ended without a result (its worker process died)")
    if code < 0:
        return Outcome(code, _signal_reason(code))
    if code:
        return Outcome(code, f"exit {code}: {_last_line(Path(log)) or 'no output'}")
    return Outcome(0)


def _in_process(step: Step, adapter: str | None, env: dict[str, str], log: str, seconds: float | None) -> int:
    """Run the step's command as a new process in its own session; its return code."""
    with open(log, "a", encoding="utf-8") as handle:
        process = subprocess.Popen(step.executable_argv(adapter), env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            _stop(process.pid)
            process.wait()
            raise TimeoutError from None
        finally:
            if process.poll() is None:  # interrupted: the job itself is being stopped
                _stop(process.pid)


def _in_worker(worker, step: Step, adapter: str | None, log: str, seconds: float | None) -> int | None:
    """Run the step in a fork of the warm worker; its return code, None when the worker itself died."""
    from toxft.study.worker import WorkerError

    module, argv = step.program(adapter)
    try:
        pid = worker.start(module, argv, log)
    except WorkerError:
        return None
    try:
        return worker.wait(seconds)
    except TimeoutError:
        _stop(pid)
        _drain(worker)
        raise
    except WorkerError:
        return None
    except BaseException:  # Ctrl-C: stop the step and everything it started, then let it go on up
        _stop(pid)
        _drain(worker)
        raise


def _drain(worker) -> None:
    """Read the stopped step's end from the worker, so that the next step's answers are its own."""
    from toxft.study.worker import WorkerError

    try:
        worker.wait(_GRACE_S + 10)
    except (TimeoutError, WorkerError):
        worker.close()


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
    timeout_min: int = 240  # SLURM's --time is whole minutes
    account: str | None = None
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        """What each job will request, as a plan prints it."""
        asks = [f"partition {self.partition or '(default)'}", f"{self.gpus_per_node} GPU(s)",
                f"{self.cpus_per_task} CPU(s)" if self.cpus_per_task else "the partition's default CPUs",
                f"{self.mem_gb} GB" if self.mem_gb else "the partition's default memory",
                f"{self.timeout_min} min"]
        if self.account:
            asks.append(f"account {self.account}")
        text = ", ".join(asks)
        if self.gpus_per_node > 1:
            text += (f"; each step is ONE process, which uses one of the {self.gpus_per_node} GPUs unless its model "
                     "arguments spread the model (parallelize=True): for a data-parallel fine-tune run "
                     f"`torchrun --nproc_per_node {self.gpus_per_node} -m toxft.cli finetune ...` yourself")
        return text

    def parameters(self) -> dict:
        """submitit's ``update_parameters`` keywords, each of the type it checks for."""
        # A GPU count of 0 must not become a `--gpus-per-node=0` request, which some SLURM versions refuse.
        params = dict(gpus_per_node=int(self.gpus_per_node) or None,
                      cpus_per_task=None if self.cpus_per_task is None else int(self.cpus_per_task),
                      mem_gb=None if self.mem_gb is None else int(self.mem_gb), timeout_min=int(self.timeout_min),
                      slurm_partition=self.partition, slurm_account=self.account)
        return {**{k: v for k, v in params.items() if v is not None}, **self.extra}


class LocalExecutor:
    """Local steps, one after another, each in a fork of a warm worker that has imported the harness once.

    A context manager: the worker starts (or is taken over from :func:`toxft.study.worker.warm`, or from an
    earlier run in this process) on entry, and is kept for the next run on exit (stopped when the process ends).
    """

    parallel = False

    def __init__(self, study_env: dict[str, str], preload: tuple[str, ...] | None = None):
        from toxft.study import worker

        self.study_env = dict(study_env)
        self.preload = worker.PRELOAD if preload is None else tuple(preload)
        self.worker = None

    def __enter__(self) -> "LocalExecutor":
        from toxft.study import worker

        self.worker = worker.take(step_environment(self.study_env), self.preload)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        from toxft.study import worker

        if self.worker is not None:
            if exc_type is None:  # idle and well: the next run in this process with this environment takes it
                worker.give_back(self.worker)
            else:
                self.worker.close()
            self.worker = None

    def run(self, step: Step, log: str, timeout_min: float | None) -> Outcome:
        from toxft.study import worker

        if self.worker is None or not self.worker.alive():  # a step that killed its worker: start another
            self.worker = worker.take(step_environment(self.study_env), self.preload)
        return run_step(step, self.study_env, log, timeout_min, worker=self.worker)


class SlurmExecutor:
    """Every step as a SLURM job through submitit, submitted at once; each runs its command as a new process."""

    parallel = True

    def __init__(self, folder: Path, slurm: SlurmOptions | None = None):
        import submitit

        folder.mkdir(parents=True, exist_ok=True)
        try:
            self.executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        except RuntimeError as error:  # submitit's "Could not detect srun"
            raise ToxftError(f"toxft: --executor slurm needs a SLURM cluster here ({error})") from None
        from toxft.study.slurm import quiet

        quiet(folder.parent / "logs")
        self.executor.update_parameters(**(slurm or SlurmOptions()).parameters())

    def __enter__(self) -> "SlurmExecutor":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, step: Step, env: dict[str, str], log: str):
        return self.executor.submit(run_step, step, env, log, None)


def make_executor(kind: str, folder: Path, study_env: dict[str, str], slurm: SlurmOptions | None = None,
                  preload: tuple[str, ...] | None = None):
    """``local`` (a :class:`LocalExecutor` whose worker imports ``preload``) or ``slurm`` (a :class:`SlurmExecutor`
    writing its job files under ``folder``)."""
    if kind == "local":
        return LocalExecutor(study_env, preload)
    return SlurmExecutor(folder, slurm)


def run_steps(steps: list[Step], executor, env: dict[str, str], logs: Path,
              on_start=lambda step: None, on_done=lambda step, outcome: None, on_wait=lambda step, pid: None,
              timeout_min: float | None = None, on_submit=lambda step, job_id: None) -> dict[str, Outcome]:
    """Run the steps; the outcome per step label. Locally one after another; on SLURM all submitted, then awaited.

    ``on_wait(step, pid)`` is called when another process holds a step's lock; the step then
    waits for it and is skipped if that run finished it.
    """
    status: dict[str, Outcome] = {}

    def finished(step: Step, outcome: Outcome) -> None:
        status[step.label] = outcome
        on_done(step, outcome)

    def announce(step: Step) -> None:
        holder = lock_holder(step.output)
        if holder is not None:
            on_wait(step, holder)

    if not executor.parallel:
        for step in steps:  # one GPU (or one CPU) at a time
            on_start(step)
            announce(step)
            finished(step, executor.run(step, str(logs / step.log_name), timeout_min))
        return status
    from toxft.study.slurm import refused, stderr_to

    jobs = []
    for step in steps:
        announce(step)
        try:
            with stderr_to(logs / "slurm.log"):  # sbatch prints its refusals itself; toxft says it once
                job = executor.submit(step, env, str(logs / step.log_name))
        except Exception as error:  # sbatch refused it: resources the partition cannot give, a bad account
            jobs.append((step, Outcome(-1, refused(error))))
            continue
        on_submit(step, job.job_id)
        jobs.append((step, job))
    for step, job in jobs:
        if isinstance(job, Outcome):  # never started
            finished(step, job)
            continue
        try:
            finished(step, _result(job))
        except KeyboardInterrupt:
            job.cancel(check=False)
            raise
    return status


def _result(job) -> Outcome:
    from toxft.study.slurm import describe_end

    try:
        outcome = job.result()
    except Exception:  # the job itself died (killed, pre-empted, out of memory, cancelled)
        return Outcome(-1, describe_end(job))
    outcome = outcome if isinstance(outcome, Outcome) else Outcome(int(outcome))
    if not outcome.ok:
        return Outcome(outcome.code, f"SLURM job {job.job_id}: {outcome.reason}", outcome.done_elsewhere)
    return outcome
