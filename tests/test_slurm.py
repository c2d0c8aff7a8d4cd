"""`toxft study run --executor slurm` against a real single-node SLURM cluster (tests/slurm/up.sh).

`.ci/run` brings the cluster up from Debian's packages; elsewhere these tests start it when
they can (root, Debian) and skip when they cannot. Accounting storage is off, as on many
small clusters, so job states come from scontrol.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow
UP = Path(__file__).resolve().parent / "slurm" / "up.sh"
# The README's SLURM example, as written (the test cluster's partition is "cpu"; accounting takes any account).
SLURM = ["--executor", "slurm", "--partition", "cpu", "--account", "toxft-tests", "--gpus-per-node", "0",
         "--cpus-per-task", "1", "--mem-gb", "4", "--timeout-min", "30"]


def _cluster_is_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and any(state in done.stdout for state in ("idle", "mix", "alloc"))


@pytest.fixture(scope="session")
def slurm_cluster():
    if not _cluster_is_up():
        if os.geteuid() != 0 or not Path("/etc/debian_version").is_file():
            pytest.skip("no SLURM cluster here, and none can be started (needs root on Debian)")
        done = subprocess.run(["bash", str(UP)], capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0 or not _cluster_is_up():
            pytest.skip(f"a SLURM cluster could not be started: {done.stderr.strip()[-300:]}")
    return True


@pytest.fixture(scope="module")
def slurm_study(study_file) -> Path:
    """The tiny study the local executor's tests run, without BEST (the same table either way, sooner)."""
    path = study_file.parent / "slurm-study.yaml"
    path.write_text(study_file.read_text().replace("analysis: {best: true, draws: 150, tune: 150, chains: 2}",
                                                   "analysis: {best: false}"))
    return path


def _toxft(*argv: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toxft.cli", *argv], capture_output=True, text=True, check=False,
                          timeout=900, **options)


def _table(report: Path) -> str:
    text = report.read_text()
    return text[text.index("## All models"):text.index("Values are")]


def test_the_study_gives_the_same_table_under_slurm_quietly(slurm_cluster, slurm_study, tmp_path):
    local = _toxft("study", "run", str(slurm_study), "--output", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr[-3000:]
    started = time.perf_counter()
    done = _toxft("study", "run", str(slurm_study), "--output", str(tmp_path / "slurm"), *SLURM)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _table(tmp_path / "slurm" / "report.md") == _table(tmp_path / "local" / "report.md")
    lines = done.stderr.splitlines()
    noise = [line for line in lines if not line.startswith("toxft: ")]
    assert len(noise) < 10 and not any("accounting" in line or "sacct" in line for line in lines), noise
    # The Dolly evaluation was submitted only once its fine-tune had finished.
    finetune_done = next(i for i, line in enumerate(lines) if "step (finetune tiny-dolly)" in line)
    dolly_submitted = next(i for i, line in enumerate(lines) if line.startswith("toxft: evaluate tiny-dolly: SLURM job"))
    assert finetune_done < dolly_submitted
    assert "sacct failed" in (tmp_path / "slurm" / "logs" / "slurm.log").read_text()  # kept, off the console
    print(f"SLURM study: {time.perf_counter() - started:.0f} s")


def test_a_cancelled_job_is_one_line_and_a_rerun_completes_the_study(slurm_cluster, slurm_study, tmp_path):
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "toxft.cli", "study", "run", str(slurm_study), "--output",
                                str(runs), *SLURM], stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line.rstrip("\n"))
        found = re.match(r"toxft: evaluate tiny-base: SLURM job (\d+)$", lines[-1])
        if found:
            job_id = found.group(1)
            subprocess.run(["scancel", job_id], check=True)
            break
    lines += process.stderr.read().splitlines()
    assert process.wait(600) == 2
    failure = next(line for line in lines if line.startswith("toxft: evaluate tiny-base failed: "))
    assert f"SLURM job {job_id} cancelled" in failure and "log: " in failure
    assert lines[-1].startswith("toxft: study failed: 1 step(s)") and "--executor slurm" in lines[-1]
    again = _toxft("study", "run", str(slurm_study), "--output", str(runs), *SLURM)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 4 steps already done, skipped" in again.stderr
    assert (runs / "report.md").read_text().count("| tiny-") >= 3


def _one_model(slurm_study: Path, tmp_path: Path) -> Path:
    text = slurm_study.read_text()
    kept = [line for line in text.splitlines() if "role: instruct" not in line and "role: dolly" not in line]
    path = tmp_path / "one.yaml"
    path.write_text("\n".join(kept).replace("comparisons: [base-instruct, instruct-dolly]", "comparisons: []") + "\n")
    return path


@pytest.mark.parametrize(("options", "reason"), [
    (["--gpus-per-node", "1"], "SLURM refused the job: Invalid generic resource"),
    (["--gpus-per-node", "0", "--cpus-per-task", "64"], "can never start on this partition as requested"),
])
def test_a_job_slurm_cannot_run_is_one_line(slurm_cluster, slurm_study, tmp_path, options, reason):
    done = _toxft("study", "run", str(_one_model(slurm_study, tmp_path)), "--output", str(tmp_path / "runs"),
                  "--executor", "slurm", *options)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert [line for line in lines if not line.startswith("toxft: ")] == []
    (failure,) = [line for line in lines if " failed: " in line and not line.startswith("toxft: study failed")]
    assert failure.startswith("toxft: evaluate tiny-base failed: ") and reason in failure
    # Nothing of this run is left queued (other jobs on the cluster are not this test's business).
    queued = subprocess.run(["squeue", "-h", "-o", "%o"], capture_output=True, text=True, check=True).stdout
    assert [command for command in queued.split() if command.startswith(str(tmp_path))] == []
