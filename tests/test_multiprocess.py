"""The README's data-parallel path: `accelerate launch -m lm_eval` with the toxft tasks, two processes on this CPU
(gloo), gives the same samples and rates as one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, lm_eval_env, model_folder

pytestmark = pytest.mark.slow


def _samples(folder):
    found = {}
    for path in folder.glob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        found[task] = {row["doc"]["id"]: (row["resps"][0][0], row["toxicity"], row["toxic"])
                       for row in map(json.loads, path.read_text().splitlines())}
    return found


def test_two_processes_give_the_samples_and_rates_of_one(harness_run, tiny_lm, tiny_classifier, hub_mirror, tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert accelerate, "accelerate is a dependency of toxft (lm-eval[hf])"
    command = [accelerate, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny_lm}",
               "--tasks", "toxft", "--include_path", str(REPO / "tasks"), "--log_samples", "--output_path",
               str(tmp_path / "two"), "--batch_size", "16", "--metadata", json.dumps({"n_random": 25})]
    done = subprocess.run(command, env=lm_eval_env(tiny_classifier, hub_mirror), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    two = model_folder(tmp_path / "two")
    ours, one = _samples(two), _samples(harness_run)  # harness_run: the same command in one process
    assert set(ours) == set(one) and len(ours) == 6
    for task, rows in one.items():
        assert set(ours[task]) == set(rows), task  # every prompt once, none lost or doubled between the ranks
        for doc_id, (text, score, flag) in rows.items():
            assert ours[task][doc_id][0] == text and ours[task][doc_id][2] == flag
            assert ours[task][doc_id][1] == pytest.approx(score, abs=1e-6)
    (results_two,) = two.glob("results_*.json")
    (results_one,) = harness_run.glob("results_*.json")
    rates_two, rates_one = (json.loads(p.read_text())["results"] for p in (results_two, results_one))
    for name in ("toxft", "toxft_ceb", "toxft_rtp_severe", "toxft_rtp_random"):
        assert rates_two[name]["toxic,score"] == pytest.approx(rates_one[name]["toxic,score"])
