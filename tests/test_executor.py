"""Local study steps at the length users run them: no hidden time limit, failures said plainly, one run per output.

The steps here are small Python programs standing in for `lm_eval` and `toxft finetune`, run
through the same local executor (a fork of its warm worker per step) and job body as a study's steps.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from toxft.study.config import ModelEntry
from toxft.study.executor import LocalExecutor, lock_path, run_steps
from toxft.study.plan import Step



@dataclass
class ScriptStep(Step):
    """A step whose command is a Python snippet; done when its output folder has a DONE file."""

    code: str = ""

    def program(self, adapter_folder: str | None = None) -> tuple[str, list[str]]:
        return "-c", [self.code]

    def executable_argv(self, adapter_folder: str | None = None) -> list[str]:
        return [sys.executable, "-c", self.code]

    def done(self) -> bool:
        return (self.output / "DONE").is_file()


def _step(tmp_path: Path, code: str, name: str = "m") -> ScriptStep:
    output = tmp_path / "results" / name
    finish = f"import pathlib; p = pathlib.Path({str(output)!r}); p.mkdir(parents=True, exist_ok=True); " \
             "(p / 'DONE').write_text('ok'); open(p / 'runs', 'a').write('x')"
    return ScriptStep("evaluate", ModelEntry("f", "base", "m", name), ["lm_eval"], output,
                      code=code.replace("FINISH", finish))


def _running(pid: int) -> bool:
    """Whether a process is alive (a zombie waiting for its reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _run(tmp_path: Path, step: Step, timeout_min: float | None = None, **callbacks):
    with LocalExecutor({}, preload=()) as executor:
        return run_steps([step], executor, {}, tmp_path / "logs", timeout_min=timeout_min, **callbacks)[step.label]


@pytest.mark.slow
def test_a_step_longer_than_two_minutes_completes(tmp_path):
    """Local steps have no time limit unless one is set (submitit's LocalExecutor stopped jobs after 2 minutes)."""
    step = _step(tmp_path, "import time; print('working', flush=True); time.sleep(130); FINISH")
    started = time.perf_counter()
    outcome = _run(tmp_path, step)
    assert outcome.ok, outcome
    assert time.perf_counter() - started >= 130 and step.done()


def test_a_timeout_stops_the_whole_step_and_says_so(tmp_path):
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; "
            f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
            f"open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(300)")
    started = time.perf_counter()
    outcome = _run(tmp_path, _step(tmp_path, code), timeout_min=0.05)
    assert not outcome.ok and outcome.reason == "timed out after 0.05 min (--timeout-min 0.05)"
    assert time.perf_counter() - started < 60
    grandchild = int(pid_file.read_text())
    time.sleep(0.5)
    assert not _running(grandchild)  # the step's own children are stopped too
    assert "stopped after 0.05 min" in (tmp_path / "logs" / "evaluate-m.log").read_text()


@pytest.mark.parametrize(("code", "reason"), [
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL (what the kernel's out-of-memory"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", "killed by SIGTERM"),
    ("print('loading'); raise SystemExit('ValueError: no such task toxft_x')", "exit 1: ValueError: no such task"),
])
def test_a_failed_step_says_why(tmp_path, code, reason):
    outcome = _run(tmp_path, _step(tmp_path, code))
    assert not outcome.ok and outcome.reason.startswith(reason), outcome.reason


def test_two_runs_on_one_output_run_the_step_once(tmp_path):
    """The second waits for the first (told its pid), then finds the step done instead of redoing it."""
    step = _step(tmp_path, "import time; time.sleep(6); FINISH")
    outcomes, waits = {}, []

    def one(name: str, delay: float) -> None:
        time.sleep(delay)
        folder = tmp_path / name
        with LocalExecutor({}, preload=()) as executor:
            outcomes[name] = run_steps([step], executor, {}, folder / "logs",
                                       on_wait=lambda s, pid: waits.append((name, pid)))[step.label]

    threads = [threading.Thread(target=one, args=("first", 0.0)), threading.Thread(target=one, args=("second", 2.5))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert outcomes["first"].ok and not outcomes["first"].done_elsewhere
    assert outcomes["second"].ok and outcomes["second"].done_elsewhere
    assert (step.output / "runs").read_text() == "x"  # the command ran once
    assert [name for name, _ in waits] == ["second"] and waits[0][1] > 0
    assert not (tmp_path / "second" / "logs" / "evaluate-m.log").exists()  # nothing of the first's overwritten


def test_a_crashed_holder_does_not_block_a_rerun(tmp_path):
    """The lock is released by the kernel when its holder dies, so a rerun after a crash goes on at once."""
    import subprocess

    step = _step(tmp_path, "FINISH")
    step.output.parent.mkdir(parents=True)
    # A toxft run that took the step's lock and was killed (SIGKILL: no clean-up of its own).
    holder = subprocess.run([sys.executable, "-c", "import os, signal, sys; from filelock import FileLock; "
                             "lock = FileLock(sys.argv[1]); lock.acquire(); open(sys.argv[1] + '.pid', 'w')"
                             ".write(str(os.getpid())); os.kill(os.getpid(), signal.SIGKILL)", str(lock_path(step.output))],
                            check=False)
    assert holder.returncode == -9 and Path(f"{lock_path(step.output)}.pid").is_file()
    started = time.perf_counter()
    assert _run(tmp_path, step).ok and time.perf_counter() - started < 30


def test_a_step_that_kills_its_worker_fails_and_the_next_step_runs(tmp_path):
    """The worker a step runs in may die (the step kills it, the kernel's OOM killer): a failure, then a new worker."""
    crash = _step(tmp_path, "import os, signal; os.kill(os.getppid(), signal.SIGKILL)", name="crash")
    after = _step(tmp_path, "FINISH", name="after")
    with LocalExecutor({}, preload=()) as executor:
        outcomes = run_steps([crash, after], executor, {}, tmp_path / "logs")
    assert not outcomes[crash.label].ok and "worker process died" in outcomes[crash.label].reason
    assert outcomes[after.label].ok and after.done()


def test_a_plan_on_nodes_with_several_gpus_says_each_step_uses_one_process():
    """toxft launches one process per step: a plan asking for several GPUs per node says so, and how to train
    data-parallel instead (toxft finetune under torchrun, tests/test_multiprocess.py)."""
    from toxft.study.executor import SlurmOptions

    several = SlurmOptions(partition="gpu", gpus_per_node=4).describe()
    assert "each step is ONE process, which uses one of the 4 GPUs" in several
    assert "torchrun --nproc_per_node 4 -m toxft.cli finetune" in several
    assert "ONE process" not in SlurmOptions(partition="gpu", gpus_per_node=1).describe()
