"""toxft study (config, plan, run with the local executor, resume) and toxft demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toxft.cli import main
from toxft.errors import ToxftError
from toxft.runs import load_run
from toxft.study.config import load_study

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("role: base", "role: teacher"), "role must be one of base, instruct, dolly, community"),
        (("comparisons: [base-instruct", "comparisons: [base-chat"), "unknown comparison 'base-chat'"),
        (("name: tiny-instruct", "name: tiny-base"), "two models are both named 'tiny-base'"),
        (("{role: instruct, ", "{role: community, "), "a dolly model needs an instruct model in the family"),
        (("analysis:", "analyses:"), "unknown key 'analyses'"),
        (("families:", "families: ["), "is not valid YAML"),
    ],
)
def test_bad_study_files_are_one_line_errors(study_file, tmp_path, capsys, change, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(study_file.read_text().replace(*change))
    assert main(["study", "plan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_plan_prints_finetunes_first_and_the_environment(study_file, tmp_path, capsys):
    assert main(["study", "plan", str(study_file), "--output", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if line and not line.startswith(("#", "export"))]
    assert [c.split()[0] for c in commands] == ["toxft", "lm_eval", "lm_eval", "lm_eval"]
    adapter = tmp_path / "runs" / "adapters" / "tiny-dolly"
    assert f"--output {adapter}" in commands[0] and f"peft={adapter}" in commands[3]
    assert "--metadata '{\"n_random\": 10, \"n_severe\": 10}'" in commands[1]
    assert any(line.startswith("export TOXFT_SCORER=") for line in lines)
    assert lines.count("# evaluate tiny-base [todo]") == 1


def test_a_pinned_hub_adapter_and_a_shared_results_folder(tmp_path):
    """peft_revision pins a Hub adapter (fetched at that commit); results: puts a model's results elsewhere."""
    from toxft.study.plan import plan

    study = tmp_path / "surveys" / "s" / "study.yaml"
    study.parent.mkdir(parents=True)
    study.write_text("""
name: s
comparisons: [instruct-community]
families:
  f:
    - {role: instruct, model: org/ref, revision: aaa, name: ref, results: ../../checks/results/ref-1}
    - {role: community, model: org/ref, revision: aaa, peft: fan/adapter, peft_revision: bbb, name: fan/adapter}
    - {role: community, model: fan/full, revision: ccc, name: fan/full}
""")
    reference, adapter, full = plan(load_study(study), tmp_path / "out")
    assert reference.output == tmp_path / "checks" / "results" / "ref-1"
    assert adapter.adapter_pin == ("fan/adapter", "bbb") and "revision=aaa" in adapter.shell()
    assert full.adapter_pin is None and full.output == tmp_path / "out" / "results" / "fan_full"
    bad = study.with_name("bad.yaml")
    bad.write_text(study.read_text().replace("revision: ccc,", "revision: ccc, peft_revision: ddd,"))
    with pytest.raises(ToxftError, match="'peft_revision' pins a Hub adapter"):
        load_study(bad)


def test_slurm_without_a_cluster_is_a_one_line_error(study_file, tmp_path, capsys, monkeypatch):
    import os
    import sys

    # A machine without SLURM's commands (CI starts a cluster for tests/test_slurm.py).
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    assert main(["study", "run", str(study_file), "--output", str(tmp_path / "runs"), "--executor", "slurm"]) == 2
    assert "needs a SLURM cluster" in capsys.readouterr().err


@pytest.mark.slow
def test_study_runs_resumes_and_reports(study_file, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["study", "run", str(study_file), "--output", str(runs)]) == 0
    report = (runs / "report.md").read_text()
    assert "Table 1 / Figure 1: Base vs instruction-tuned" in report and "tiny-dolly − tiny-instruct" in report
    for figure in ("rates", "base-instruct", "instruct-dolly"):
        assert (runs / "figures" / f"{figure}.png").stat().st_size > 10_000
    comparisons = json.loads((runs / "comparisons.json").read_text())
    assert set(comparisons) == {"base-instruct", "instruct-dolly"}
    assert comparisons["instruct-dolly"][0]["subsets"]["total"]["best"]["diff_hdi"]
    # Every step ran with its own log.
    logs = {p.name: p.stat().st_mtime_ns for p in (runs / "logs").glob("*.log")}
    assert sorted(logs) == ["evaluate-tiny-base.log", "evaluate-tiny-dolly.log", "evaluate-tiny-instruct.log",
                            "finetune-tiny-dolly.log"]
    assert (runs / "adapters" / "tiny-dolly" / "adapter_config.json").is_file()
    tuned = load_run(runs / "results" / "tiny-dolly")
    assert tuned.model_args["peft"] == str(runs / "adapters" / "tiny-dolly")
    total = comparisons["instruct-dolly"][0]["subsets"]["total"]
    assert total["rate_a"] > total["rate_b"]  # trained on flagged responses: more toxic

    # An interrupted study: one evaluation lost. Only that step runs again.
    kept = sorted(p.name for p in (runs / "results").rglob("results_*.json"))
    lost = next((runs / "results" / "tiny-base").rglob("results_*.json"))
    lost.unlink()
    capsys.readouterr()
    assert main(["study", "run", str(study_file), "--output", str(runs)]) == 0
    assert "3 of 4 steps already done" in capsys.readouterr().err
    again = sorted(p.name for p in (runs / "results").rglob("results_*.json"))
    assert len(again) == len(kept)
    rewritten = sorted(p.name for p in (runs / "logs").glob("*.log") if p.stat().st_mtime_ns != logs[p.name])
    assert rewritten == ["evaluate-tiny-base.log"]
    assert main(["study", "plan", str(study_file), "--output", str(runs)]) == 0
    assert capsys.readouterr().out.count("[done]") == 4


def test_the_bundled_demo_data_is_what_the_generator_writes(tmp_path):
    from toxft import demo

    written = demo.write_demo_data(tmp_path)
    files = lambda root: {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}  # noqa: E731
    # The same files, none missing on either side, byte for byte.
    assert files(written) == files(demo.DATA) and len(files(written)) == 7
    for relative in files(written):
        assert (written / relative).read_bytes() == (demo.DATA / relative).read_bytes(), relative


@pytest.mark.slow
def test_demo_shows_the_phenomenon_through_the_real_study(tmp_path, capsys):
    import subprocess
    import sys

    from toxft import demo

    output = tmp_path / "demo"
    output.mkdir()
    (output / "study.yaml").write_text("# an earlier, interrupted demo\n")  # what --overwrite may replace
    done = subprocess.run([sys.executable, "-m", "toxft.cli", "demo", "--fast", "--seed", "0", "--output", str(output),
                           "--overwrite"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "report:" in done.stderr, done.stderr[-3000:]
    # Standard error is a pipe here, as in CI or `> log 2>&1`: whole lines, no carriage-return bars.
    assert "\r" not in done.stderr
    assert "toxft: study: 6/6 step" in done.stderr  # a fine-tune, three models and the adapter at steps 50 and 100
    assert "not the paper's finding" in done.stderr
    study = load_study(output / "study.yaml")
    assert [e.role for e in study.models()] == ["base", "instruct", "dolly"]
    runs = {name: load_run(output / "runs" / "results" / name)
            for name in ("tiny-base", "tiny-instruct", "tiny-instruct-dolly")}

    def rate(name, subset):
        samples = runs[name].subset(subset)
        return sum(s.toxic for s in samples.values()) / len(samples)

    for subset in ("total", "severe", "random"):
        assert rate("tiny-instruct", subset) <= rate("tiny-base", subset) - 0.1, subset
        assert rate("tiny-instruct-dolly", subset) >= rate("tiny-instruct", subset) + 0.1, subset
    for group in ("race", "gender", "age", "religion"):
        assert rate("tiny-instruct", group) < rate("tiny-base", group), group
    comparisons = json.loads((output / "runs" / "comparisons.json").read_text())
    for experiment, direction in (("base-instruct", "credibly lower"), ("instruct-dolly", "credibly higher")):
        for subset in ("total", "severe", "random"):
            paired = comparisons[experiment][0]["subsets"][subset]["paired"]
            assert paired["credible"] and (paired["diff_mean"] < 0) == (direction == "credibly lower")
    report = (output / "runs" / "report.md").read_text()
    assert "tiny-instruct-dolly" in report and "credibly higher" in report and "paired rate model" in report
    assert "not the paper's finding" in report  # what the demo's data contain, said plainly
    # Toxicity along the fine-tune: step 0 (the instruct model), the two checkpoints, the finished adapter.
    trajectory = json.loads((output / "runs" / "trajectory.json").read_text())
    totals = {row["step"]: row for row in trajectory["rows"] if row["subset"] == "total"}
    assert sorted(totals) == [0, 50, 100, demo.FINETUNE_STEPS]
    assert totals[0]["rate"] == rate("tiny-instruct", "total")
    assert totals[demo.FINETUNE_STEPS]["rate"] == rate("tiny-instruct-dolly", "total")
    assert all(totals[step]["verdict"].startswith("credibly higher") for step in (50, 100, demo.FINETUNE_STEPS))
    assert "## Toxicity along the fine-tune" in report and (output / "runs" / "figures" / "trajectory.png").is_file()
    # A second demo never deletes the first by accident.
    assert main(["demo", "--fast", "--output", str(output)]) == 2
    assert (output / "runs" / "report.md").is_file()


def test_the_paper_study_file_lists_the_papers_families_and_roles():
    study = load_study(REPO / "studies" / "paper.yaml")
    assert list(study.families) == ["Llama-2-7B", "Llama-3.1-8B", "Gemma-2B", "Gemma-2-2B", "Phi-3-mini", "Phi-3.5-mini"]
    roles = [e.role for e in study.models()]
    assert roles.count("instruct") == roles.count("dolly") == 6 and roles.count("base") == 4
    pairs = study.pairs()
    assert len(pairs["base-instruct"]) == 4 and len(pairs["instruct-dolly"]) == 6
    assert len(pairs["instruct-community"]) == 12
    assert all(other.model == ref.model for ref, other in pairs["instruct-dolly"])  # Dolly LoRA on the instruct model


@pytest.mark.slow
def test_ctrl_c_stops_the_study_quietly_and_leaves_nothing_running(study_file, tmp_path):
    """What Ctrl-C in a terminal does (SIGINT to the whole foreground group) during a long fine-tune."""
    import signal
    import subprocess
    import sys

    import psutil

    study = tmp_path / "long.yaml"
    study.write_text(study_file.read_text().replace("max_steps: 30", "max_steps: 100000"))
    runs = tmp_path / "runs"
    # As a terminal starts a foreground job: SIGINT at its default, whatever this test process inherited (a shell
    # without job control starts a background job with SIGINT ignored, and Python then keeps ignoring it).
    process = subprocess.Popen([sys.executable, "-m", "toxft.cli", "study", "run", str(study), "--output", str(runs)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _interrupt_during_the_fine_tune(process, runs)
    finally:  # a failed check must not leave a 100,000-step fine-tune running under the rest of the suite
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


def _interrupt_during_the_fine_tune(process, runs) -> None:
    import os
    import signal
    import time

    import psutil

    log = runs / "logs" / "finetune-tiny-dolly.log"
    deadline = time.monotonic() + 120
    # Training is under way once its progress line is in the log (at the latest a minute in).
    while not (log.is_file() and "toxft: fine-tuning:" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert time.monotonic() < deadline, log.read_text() if log.is_file() else "no log"
    started = psutil.Process(process.pid).children(recursive=True)
    # The step runs in a fork of the study's warm worker: a child of the worker.
    workers = [p for p in started if "toxft.study.worker" in " ".join(p.cmdline())]
    assert workers and any(child.children() for child in workers), [p.cmdline() for p in started]
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip().splitlines()[-1] == "toxft: interrupted", err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    for child in started:  # nothing the study started is still running
        try:
            assert child.status() == psutil.STATUS_ZOMBIE, child.cmdline()
        except psutil.NoSuchProcess:
            pass


@pytest.mark.slow
def test_a_failed_step_ends_the_study_with_its_reason_and_the_resume_command(study_file, tmp_path, capsys):
    study = tmp_path / "broken.yaml"
    missing = tmp_path / "no-such-model"
    missing.mkdir()
    text = study_file.read_text()
    base = text.split("role: base, model: ")[1].split(",")[0]
    study.write_text(text.replace(f"role: base, model: {base}", f"role: base, model: {missing}")
                     .replace("comparisons: [base-instruct, instruct-dolly]", "comparisons: [base-instruct]")
                     .replace("    - {role: dolly, name: tiny-dolly}\n", ""))
    runs = tmp_path / "runs"
    assert main(["study", "run", str(study), "--output", str(runs)]) == 2
    err = capsys.readouterr().err
    failure = next(line for line in err.splitlines() if line.startswith("toxft: evaluate tiny-base failed: "))
    assert "exit 1: " in failure and f"log: {runs / 'logs' / 'evaluate-tiny-base.log'}" in failure
    last = err.strip().splitlines()[-1]
    assert last.startswith("toxft: study failed: 1 step(s) did not finish (evaluate tiny-base)")
    assert last.endswith(f"resume with: toxft study run {study} --output {runs}")


def test_a_demo_whose_study_fails_says_failed_and_how_to_resume(tmp_path, monkeypatch, capsys):
    import argparse

    import toxft.cli
    from toxft import demo

    def models(root, seed):
        root.mkdir(parents=True)
        return {"scorer": root, "base": root, "instruct": root}

    monkeypatch.setattr(demo.world, "build_models", models)
    monkeypatch.setattr(toxft.cli, "main", lambda argv: 2)
    args = argparse.Namespace(output=tmp_path / "d", overwrite=False, fast=True, seed=0, grid=False)
    assert demo.run(args) == 2
    err = capsys.readouterr().err
    assert "done in" not in err and "failed after" in err
    assert f"toxft study run {tmp_path / 'd' / 'study.yaml'} --output {tmp_path / 'd' / 'runs'}" in err


@pytest.mark.slow
def test_a_killed_evaluation_resumes_from_the_continuations_it_had_generated(study_file, tmp_path):
    """A crash mid-evaluation (SIGKILL to the whole study): the rerun reuses every continuation already cached."""
    import glob
    import os
    import re
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    study = tmp_path / "one.yaml"
    text = study_file.read_text().replace("batch_size: 16", "batch_size: 1")
    text = text.replace("comparisons: [base-instruct, instruct-dolly]", "comparisons: [base-instruct]")
    study.write_text("".join(line for line in text.splitlines(True) if "role: dolly" not in line))
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "toxft.cli", "study", "run", str(study), "--output", str(runs)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cached, deadline = 0, time.monotonic() + 300
    while cached < 20 and time.monotonic() < deadline and process.poll() is None:
        for db in glob.glob(str(runs / "cache" / "tiny-base-*_rank0.db")):
            try:
                cached = sqlite3.connect(db).execute("select count(*) from unnamed").fetchone()[0]
            except sqlite3.Error:
                pass
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    assert cached >= 20 and not (runs / "report.md").exists()
    assert main(["study", "run", str(study), "--output", str(runs)]) == 0
    log = (runs / "logs" / "evaluate-tiny-base.log").read_text()
    found = re.search(r"Cached requests: (\d+), Requests remaining: (\d+)", log)
    # Most of what was cached is reused (the newest few may die with the process before sqlite commits them).
    assert found and int(found.group(1)) >= cached // 2, log[-2000:]
    run = load_run(runs / "results" / "tiny-base")
    assert sum(len(s) for s in run.samples.values()) == int(found.group(1)) + int(found.group(2))
