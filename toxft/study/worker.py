"""A warm worker for local study steps: it imports the harness once, then runs each step in a fork of itself.

A step started as a new ``python -m lm_eval`` spends most of a small evaluation importing torch,
transformers and the harness and indexing the harness's thousands of built-in task files (about
15 s on a 2-core machine, before its first log line). The worker imports once: it is started with
the study's environment, imports what the steps use, and then forks a child per step; a toxft
evaluation indexes only the toxft tasks (``--include_path``), the only ones it asks for. The child is a fresh process with all of that already loaded;
it runs the step's own command-line entry point (``lm_eval``'s or ``toxft``'s) with the step's
arguments, its output in the step's log, in a session of its own so that a timeout or Ctrl-C
stops everything it started. Nothing has computed anything with torch before the fork, so no
thread pool is inherited.

Protocol, one JSON object per line: the parent sends ``{"module", "argv", "log"}``; the worker
answers ``{"pid"}`` when the child starts and ``{"status"}`` (as ``os.waitpid`` reports it, made
into a return code) when it ends. When the parent goes away (its pipe closes) the worker stops
its child and exits; a child whose worker dies is killed by the kernel (``PR_SET_PDEATHSIG``).

Run as ``python -m toxft.study.worker``; :class:`Worker` is the parent's side. A SLURM job runs its step
with ``python -m toxft.study.worker --step MODULE ARGV...``: no fork, the same preparation.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

# What a study's steps import: the harness and its model class, the scorer and rescoring; fine-tunes also TRL.
PRELOAD = ("torch", "transformers", "datasets", "peft", "lm_eval.__main__", "lm_eval.evaluator",
           "lm_eval.models.huggingface", "toxft.cli", "toxft.scorer", "toxft.rescore")
PRELOAD_TRAINING = ("trl", "toxft.finetune.train")


def preload_for(kinds) -> tuple[str, ...]:
    """What to import for steps of these kinds (TRL costs seconds that evaluation-only runs never use)."""
    return PRELOAD + (PRELOAD_TRAINING if "finetune" in set(kinds) else ())


class WorkerError(RuntimeError):
    """The worker process could not run a step."""


# --- the worker process ---------------------------------------------------------------------


def _preload(modules: list[str]) -> None:
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # import-time notices would land in no step's log
        for name in modules:
            try:
                importlib.import_module(name)
            except ImportError:
                continue


def _toxft_tasks_only(argv: list[str]) -> bool:
    """Whether an lm_eval command asks only for toxft tasks, found through its --include_path."""
    def value(flag: str) -> str | None:
        for index, word in enumerate(argv):
            if word == flag and index + 1 < len(argv):
                return argv[index + 1]
            if word.startswith(flag + "="):
                return word.split("=", 1)[1]
        return None

    tasks = value("--tasks")
    return bool(tasks and value("--include_path")) and all(t.startswith("toxft") for t in tasks.split(","))


def _skip_builtin_tasks() -> None:
    """Let the harness index only --include_path: the toxft tasks need none of its thousands of built-in task files.

    Every ``TaskManager`` otherwise walks and parses all of them (8 s here) before the first log line.
    """
    import functools

    from lm_eval.tasks import TaskManager

    TaskManager.__init__ = functools.partialmethod(TaskManager.__init__, include_defaults=False)


def _quiet_harness_notes() -> None:
    """Drop the harness's note about a local folder named like the task group (we always pass --include_path)."""
    import logging

    class NotAboutTheData(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "A local directory named" not in record.getMessage()

    logging.getLogger("lm_eval.config.evaluate_config").addFilter(NotAboutTheData())


def _child(request: dict) -> None:
    """In the forked child: become the step's process and run its command line; never returns."""
    code = 1
    try:
        os.setsid()
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the step's stdout until exit
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        env = request.get("env") or {}
        os.environ.update(env)
        if env.get("OMP_NUM_THREADS"):
            import torch

            torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
        code = run_here(request["module"], request["argv"])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, int) and done.code is not None:
            print(done.code, file=sys.stderr)
    except BaseException:  # the step's traceback belongs in its log, as a fresh process would print it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_here(module: str, argv: list[str]) -> int:
    """Run one step's command line in this process, prepared as a forked child is (a SLURM job's entry point)."""
    _quiet_harness_notes()
    if module == "lm_eval" and _toxft_tasks_only(argv):
        _skip_builtin_tasks()
    return _run_module(module, argv)


def _run_module(module: str, argv: list[str]) -> int:
    """Run a command line in this process, as ``python -m MODULE ARGV`` would (its exit code)."""
    import runpy

    if module == "-c":  # python -c CODE, for programs that are not a module (the tests' stand-in steps)
        sys.argv = ["-c", *argv[1:]]
        exec(compile(argv[0], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
        return 0
    sys.argv = [module, *argv]
    import warnings

    # The module's own entry point (lm_eval's __main__, toxft's cli), with what it imports already loaded;
    # runpy's note that the preloaded module is in sys.modules is about that preloading, not the step.
    warnings.filterwarnings("ignore", message=".*found in sys.modules after import of package", category=RuntimeWarning)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


def _code(status: int) -> int:
    """A waitpid status as subprocess reports it: the exit code, or minus the signal number."""
    return os.waitstatus_to_exitcode(status)


def serve(modules: list[str]) -> None:
    """The worker's loop: import ``modules``, then one child per request, reporting each one's start and end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _preload(modules)
    out = sys.stdout
    print(json.dumps({"ready": os.getpid()}), file=out, flush=True)
    child = None
    buffer = b""
    while True:
        readable, _, _ = select.select([sys.stdin.fileno()], [], [], 0.05)
        if child is not None:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                print(json.dumps({"status": _code(status)}), file=out, flush=True)
                child = None
        if not readable:
            continue
        chunk = os.read(sys.stdin.fileno(), 65536)
        if not chunk:  # the parent is gone: stop the running step with it
            if child is not None:
                _kill_group(child)
            out.flush()
            os._exit(0)  # tearing down the imported libraries module by module takes seconds, and keeps nothing
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _child(request)
            child = pid
            print(json.dumps({"pid": pid}), file=out, flush=True)


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(50):
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.1)


# --- the parent's side ----------------------------------------------------------------------


class Worker:
    """A running worker process with a fixed environment; :meth:`run` runs one step in it at a time."""

    def __init__(self, env: dict[str, str], preload: tuple[str, ...] = PRELOAD):
        self.env, self.preload = dict(env), tuple(preload)
        # Its own session: Ctrl-C at the terminal reaches toxft, which stops the step itself.
        self.process = subprocess.Popen([sys.executable, "-m", "toxft.study.worker", *self.preload],
                                        env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        self._ready = False
        self._ended = False  # seen to end (EOF, a broken pipe) before the kernel may have made it a zombie
        self._buffer = b""

    def _message(self, timeout: float | None = None) -> dict:
        """The worker's next message; TimeoutError when none comes within ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                self._ended = True
                raise WorkerError("the worker process ended")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def alive(self) -> bool:
        """Whether the worker can take a step: running, and not seen to end."""
        # A killed process closes its pipes before it becomes a zombie, so poll() alone can still say "running".
        return not self._ended and self.process.poll() is None

    def start(self, module: str, argv: list[str], log: str, env: dict[str, str] | None = None) -> int:
        """Start a step; its pid (also its process group). Waits for the worker to finish preloading."""
        if not self._ready:
            message = self._message()
            if "ready" not in message:
                raise WorkerError(f"unexpected worker message {message}")
            self._ready = True
        try:
            self.process.stdin.write((json.dumps({"module": module, "argv": argv, "log": log, "env": env or {}})
                                      + "\n").encode())
            self.process.stdin.flush()
        except OSError as error:  # BrokenPipeError: it ended since the last step
            self._ended = True
            raise WorkerError("the worker process ended") from error
        return int(self._message()["pid"])

    def wait(self, timeout: float | None = None) -> int:
        """The running step's return code (minus the signal that ended it); TimeoutError after ``timeout`` s."""
        return int(self._message(timeout)["status"])

    def close(self) -> None:
        """Stop the worker (and a step still running in it)."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


_spares: list[Worker] = []
_spares_lock = threading.Lock()


def warm(env: dict[str, str], preload: tuple[str, ...] = PRELOAD) -> None:
    """Start a worker for this environment now, so that its imports overlap other work; :func:`take` hands it over."""
    with _spares_lock:
        if not any((w.env, w.preload) == (env, tuple(preload)) and w.alive() for w in _spares):
            _spares.append(Worker(env, preload))


def take(env: dict[str, str], preload: tuple[str, ...] = PRELOAD) -> Worker:
    """A worker of one's own for this environment: one :func:`warm` started or an earlier run gave back, else a new one."""
    with _spares_lock:
        for index, worker in enumerate(_spares):
            if (worker.env, worker.preload) == (env, tuple(preload)) and worker.alive():
                return _spares.pop(index)
    return Worker(env, preload)


_KEEP_IDLE = 2  # idle workers kept for later runs in this process (a notebook, a test session); each holds ~0.5 GB


def give_back(worker: Worker) -> None:
    """Keep a worker that finished its steps for the next run in this process with the same environment."""
    if not worker.alive():
        return
    with _spares_lock:
        _spares.append(worker)
        while len(_spares) > _KEEP_IDLE:
            _spares.pop(0).close()


def close_spares() -> None:
    """Stop the workers warmed or given back and not taken again (at exit)."""
    with _spares_lock:
        while _spares:
            _spares.pop().close()


atexit.register(close_spares)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--step"]:  # one step as a process of its own: python -m toxft.study.worker --step MODULE ARGV
        sys.exit(run_here(sys.argv[2], sys.argv[3:]))
    serve(sys.argv[1:])
