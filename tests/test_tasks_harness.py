"""The real `lm_eval` command line on the toxft tasks, with tiny local models."""

from __future__ import annotations

import json

import pytest

from toxft import data

from conftest import REPO, run_lm_eval
from toxft.suite import TASKS

pytestmark = pytest.mark.slow
SUBTASKS = list(TASKS.values())


def _results(folder):
    (path,) = folder.glob("results_*.json")
    return json.loads(path.read_text())


def _samples(folder, task):
    (path,) = folder.glob(f"samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_subtask_sizes_follow_the_data_and_metadata(harness_run, hub_mirror):
    sizes = _results(harness_run)["n-samples"]
    severe = len(data.rtp_docs("severe", 1000, data_dir=str(hub_mirror)))
    assert sizes["toxft_rtp_random"]["original"] == 25  # --metadata n_random
    assert sizes["toxft_rtp_severe"]["original"] == severe
    for group in data.CEB_GROUPS:
        assert sizes[f"toxft_ceb_{group}"]["original"] == 6


def test_group_rates_are_pooled_over_prompts(harness_run):
    results = _results(harness_run)
    flags = {task: [s["toxic"] for s in _samples(harness_run, task)] for task in SUBTASKS}
    every = [f for task in SUBTASKS for f in flags[task]]
    ceb = [f for task in SUBTASKS if "ceb" in task for f in flags[task]]
    assert results["results"]["toxft"]["toxic,score"] == pytest.approx(sum(every) / len(every))
    assert results["results"]["toxft_ceb"]["toxic,score"] == pytest.approx(sum(ceb) / len(ceb))
    for task in SUBTASKS:
        assert results["results"][task]["toxic,score"] == pytest.approx(sum(flags[task]) / len(flags[task]))


def test_samples_hold_text_score_and_a_consistent_flag(harness_run, tiny_classifier):
    from toxft import scorer

    samples = [s for task in SUBTASKS for s in _samples(harness_run, task)]
    continuations = [s["resps"][0][0] for s in samples]
    rescored = scorer.score(continuations, model=str(tiny_classifier), progress=False)
    for sample, again in zip(samples, rescored):
        assert 0.0 <= sample["toxicity"] <= 1.0
        assert sample["toxic"] == float(sample["toxicity"] > 0.5)
        assert float(sample["filtered_resps"][0]) == pytest.approx(sample["toxicity"])
        assert sample["toxicity"] == pytest.approx(again, abs=1e-5)
        assert sample["doc"]["id"] and sample["doc"]["prompt"] == sample["arguments"]["gen_args_0"]["arg_0"]
    # The tiny LM says the flagged word now and then: both outcomes must be present to mean anything.
    assert {s["toxic"] for s in samples} == {0.0, 1.0}


def test_generation_is_the_papers(harness_run):
    config = _results(harness_run)["configs"]["toxft_rtp_random"]
    assert config["generation_kwargs"] == {"until": [], "max_gen_toks": 50, "do_sample": False, "temperature": 0.0}
    assert config["num_fewshot"] == 0
    assert _results(harness_run)["chat_template"] is None


def test_missing_data_is_one_line_error(tmp_path, tiny_lm, tiny_classifier):
    done = run_lm_eval(f"pretrained={tiny_lm}", tmp_path / "out", tiny_classifier, tmp_path / "nowhere",
                       "--limit", "2", tasks="toxft_ceb_race")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert f"expected {tmp_path / 'nowhere' / 'Song-SW/CEB/CEB-Continuation-T/race.json'}" in done.stderr
    assert not (tmp_path / "out").exists()


def test_single_subtask_with_glob_limit_and_threshold(tmp_path, tiny_lm, tiny_classifier, hub_mirror):
    done = run_lm_eval(f"pretrained={tiny_lm}", tmp_path, tiny_classifier, hub_mirror,
                       "--limit", "3", "--metadata", json.dumps({"threshold": 0.0}), tasks="toxft_ceb_r*")
    assert done.returncode == 0, done.stderr[-2000:]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = _results(folder)["results"]
    assert set(results) == {"toxft_ceb_race", "toxft_ceb_religion"}
    # Every score is > 0 so a threshold of 0 marks every continuation toxic.
    assert all(r["toxic,score"] == 1.0 for r in results.values())


def test_tasks_folder_is_what_toxft_tasks_path_prints():
    import subprocess

    printed = subprocess.run(["toxft", "tasks-path"], capture_output=True, text=True, check=True).stdout.strip()
    assert (REPO / "tasks").resolve() == __import__("pathlib").Path(printed).resolve()
