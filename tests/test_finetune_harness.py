"""The paper's phenomenon in miniature, through the real harness with ``peft=``."""

from __future__ import annotations

import json

import pytest

from conftest import model_folder, run_lm_eval
from toxft.runs import load_run

pytestmark = pytest.mark.slow


def test_fine_tune_on_flagged_responses_raises_the_toxic_rate(tmp_path, tiny_lm, tiny_classifier, hub_mirror,
                                                               harness_run, flagged_adapter):
    adapter = flagged_adapter
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
