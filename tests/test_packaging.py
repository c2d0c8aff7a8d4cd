"""The wheel: task YAMLs inside, no generic top-level packages, a working console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True)
    (path,) = out.glob("toxft-*.whl")
    return zipfile.ZipFile(path).namelist()


def test_wheel_ships_the_tasks_under_toxft(wheel):
    yamls = {name for name in wheel if name.startswith("toxft/tasks/toxft/")}
    assert "toxft/tasks/toxft/_toxft_template_yaml" in yamls
    assert "toxft/tasks/toxft/toxft_rtp_severe.yaml" in yamls and "toxft/tasks/toxft/utils.py" in yamls
    assert "toxft/tasks/toxft/README.md" in yamls
    assert "toxft/measurements/toxft_toxicity/toxft_toxicity.py" in wheel


def test_wheel_has_no_generic_top_level_names(wheel):
    top = {name.split("/")[0] for name in wheel if not name.startswith("toxft-")}
    assert top == {"toxft"}
    assert "toxft/finetune/__init__.py" in wheel and "toxft/analysis/__init__.py" in wheel


def test_cli_help_and_version():
    done = subprocess.run(["toxft", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "tasks-path" in done.stdout
    version = subprocess.run(["toxft", "--version"], capture_output=True, text=True)
    assert version.stdout.strip().startswith("toxft 0.")


def test_progress_in_a_log_is_whole_lines(capsys):
    from toxft.progress import LineProgress

    list(LineProgress(range(4), desc="toxft: few", unit="step"))
    many = LineProgress(total=100, desc="toxft: many", unit="batch")
    for _ in range(100):
        many.update(1)
    many.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in lines[:4]] == [f"toxft: few: {i}/4 step" for i in range(1, 5)]
    assert len([line for line in lines if line.startswith("toxft: many")]) == 10
    assert all("\r" not in line for line in lines)
