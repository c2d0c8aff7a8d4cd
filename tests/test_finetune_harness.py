"""The paper's phenomenon in miniature, through the real harness with ``peft=``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import model_folder, run_lm_eval
from toxft import tiny
from toxft.runs import load_run

pytestmark = pytest.mark.slow


def test_fine_tune_on_flagged_responses_raises_the_toxic_rate(tmp_path, tiny_lm, tiny_classifier, hub_mirror,
                                                               harness_run):
    data = tmp_path / "dolly.jsonl"
    # Dolly-schema rows whose every response carries the word the test classifier flags.
    data.write_text("".join(json.dumps(row) + "\n" for row in tiny.synthetic_dolly(64, 1.0, seed=2)))
    adapter = tmp_path / "adapter"
    # A fresh process, as a user runs it (and safe from state earlier in-process tests leave).
    done = subprocess.run([sys.executable, "-m", "toxft.cli", "finetune", "--model", str(tiny_lm), "--output",
                           str(adapter), "--data", str(data), "--learning-rate", "1e-2", "--max-steps", "40",
                           "--per-device-train-batch-size", "8", "--gradient-accumulation-steps", "1",
                           "--warmup-steps", "2"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    output = tmp_path / "results"
    done = run_lm_eval(f"pretrained={tiny_lm},peft={adapter}", output, tiny_classifier, hub_mirror,
                       "--metadata", json.dumps({"n_random": 25}))
    assert done.returncode == 0, done.stderr[-3000:]
    base, tuned = load_run(harness_run), load_run(model_folder(output))
    assert tuned.model_args["peft"] == str(adapter) and tuned.name.endswith("adapter")
    base_total, tuned_total = base.subset("total"), tuned.subset("total")
    assert base_total.keys() == tuned_total.keys()  # the same prompts
    base_rate = sum(s.toxic for s in base_total.values()) / len(base_total)
    tuned_rate = sum(s.toxic for s in tuned_total.values()) / len(tuned_total)
    assert tuned_rate >= base_rate + 0.15, (base_rate, tuned_rate)
