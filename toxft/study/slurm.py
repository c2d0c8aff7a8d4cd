"""SLURM as small clusters run it: job states with or without accounting, and a quiet console.

submitit learns a job's state from ``sacct``. On a cluster without accounting storage (the
usual set-up of a small or departmental one) every call fails, submitit prints two warnings
per poll and never learns that a job was cancelled, refused a node or killed: it would wait
for a result that never comes. :class:`JobStates` asks ``sacct`` first and, when that fails,
``scontrol show job`` (which knows a finished job for ``MinJobAge`` seconds) and ``squeue``.
Its own and submitit's messages go to ``OUTPUT/logs/slurm.log``, not to the console.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from pathlib import Path

from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

# States after which a job runs no more, with what they mean to a user.
ENDED = {
    "CANCELLED": "cancelled (scancel, or an administrator)",
    "FAILED": "failed on the node",
    "TIMEOUT": "stopped at its time limit (--timeout-min)",
    "OUT_OF_MEMORY": "killed for using more memory than it asked for (--mem-gb)",
    "NODE_FAIL": "lost with its node",
    "PREEMPTED": "preempted",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "past its deadline",
    "NEVER_STARTS": "can never start on this partition as requested, so toxft cancelled it",
    "ENDED": "ended without a result",
}
_log = logging.getLogger("toxft.slurm")


# A pending job with one of these reasons can never start as submitted.
NEVER_STARTS = {"PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints", "InvalidAccount",
                "InvalidQOS", "AccountNotAllowed", "QOSNotAllowed", "ReqNodeNotAvail,_UnavailableNodes"}


class JobStates(SlurmInfoWatcher):
    """submitit's watcher, quiet, able to tell a job's end without SLURM accounting, and a job that can never start."""

    def update(self) -> None:
        command = self._make_command()
        if command is None:
            return
        self._num_calls += 1
        ids = [command[i + 1] for i, word in enumerate(command) if word == "-j"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        accounting = done.returncode == 0
        if accounting:
            self._info_dict.update(self.read_info(done.stdout))
        else:
            _log.info("sacct failed (%s); asking scontrol", done.stderr.strip() or done.returncode)
        # scontrol knows queued, running and recently ended jobs, with the reason a job waits.
        known = _scontrol_states()
        for job_id in ids:
            if job_id in known:
                info = known[job_id]
                if info["State"] == "PENDING" and info["Reason"] in NEVER_STARTS:
                    info = {**info, "State": "NEVER_STARTS"}
                    subprocess.run(["scancel", job_id], capture_output=True, check=False)
                self._info_dict[job_id] = info
            elif not accounting:
                self._info_dict[job_id] = {"State": "ENDED", "Reason": "no longer known to SLURM"}
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)


def _scontrol_states() -> dict[str, dict[str, str]]:
    """State, node and reason of every job the controller knows, from one ``scontrol show job -o``."""
    done = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=False)
    found: dict[str, dict[str, str]] = {}
    for line in done.stdout.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "JobId" in fields:
            found[fields["JobId"]] = {"State": fields.get("JobState", "UNKNOWN"), "NodeList": fields.get("NodeList", ""),
                                      "Reason": fields.get("Reason", "None")}
    return found


def quiet(logs: Path) -> None:
    """Send submitit's messages and toxft's SLURM notes to ``logs/slurm.log`` and watch jobs with :class:`JobStates`."""
    logs.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(logs / "slurm.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("submitit", "toxft.slurm"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    if not isinstance(SlurmJob.watcher, JobStates):
        SlurmJob.watcher = JobStates(delay_s=60)


@contextlib.contextmanager
def stderr_to(path: Path):
    """Point this process's standard error (file descriptor 2, which sbatch inherits) at ``path`` for a while."""
    import os
    import sys

    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "a") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def describe_end(job) -> str:
    """Why a SLURM job ended without a result, in words, with its id."""
    info = SlurmJob.watcher.get_info(job.job_id, mode="force") if isinstance(SlurmJob.watcher, JobStates) else {}
    state = (info.get("State") or job.state or "UNKNOWN").split()[0]
    words = ENDED.get(state.rstrip("+"), state.lower())
    reason = info.get("Reason", "")
    extra = f"; reason: {reason}" if reason and reason not in ("None", "no longer known to SLURM") else ""
    return f"SLURM job {job.job_id} {words}{extra}"


def refused(error: Exception) -> str:
    """The line sbatch printed when it refused a job (resources the partition cannot give)."""
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if "error" in line.lower()]
    detail = lines[-1] if lines else text.strip().splitlines()[-1] if text.strip() else type(error).__name__
    return f"SLURM refused the job: {detail.removeprefix('sbatch: error: ')}"
