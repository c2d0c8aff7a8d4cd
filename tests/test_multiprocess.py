"""Several processes for real: two gloo ranks on this CPU, each asserting from inside itself that two ran.

A launcher that silently starts one process (as `accelerate launch --cpu --num_processes 2` does) fails these
tests: every one reads a report written by each rank, with the world size torch.distributed gave it.

- the harness's data-parallel path (each rank generates and scores its shard with toxft's filter; the evaluator
  gathers them) gives the single-process samples and rates;
- ToxicityCallback in DDP training: Trainer with LoRA and gradient accumulation, TRL's SFTTrainer with a full
  fine-tune and ``stop_when``, a resumed run, a second ``train()``, ranks given different prompts;
- ``toxft finetune`` under ``torchrun`` and ``accelerate launch``: trains, saves once, reports once,
  --watch-toxicity and --checkpoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, lm_eval_env

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent / "multiprocess"


def _torchrun(args: list[str], env: dict, timeout: int = 300, launcher: str = "torchrun") -> subprocess.CompletedProcess:
    """Two processes, by torchrun or by accelerate's distributed launcher (its --multi_gpu starts them with gloo on a
    machine without GPUs; its --cpu starts one)."""
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    else:
        import socket

        with socket.socket() as probe:  # a free port on this machine for the processes' rendezvous
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                   str(port), *args]
    return subprocess.run(command, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _reports(folder: Path) -> list[dict]:
    """Each process's own report; exactly two, ranks 0 and 1, each told the world has two."""
    reports = sorted((json.loads(p.read_text()) for p in folder.glob("rank-*.json")), key=lambda r: r["rank"])
    assert [r["rank"] for r in reports] == [0, 1], "two processes must have run, each writing its report"
    assert all(r["world_size"] == 2 for r in reports)
    return reports


def _samples(folder: Path) -> dict:
    found = {}
    for path in folder.glob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        found[task] = {row["doc"]["id"]: (row["resps"][0][0], row["toxicity"], row["toxic"])
                       for row in map(json.loads, path.read_text().splitlines())}
    return found


def test_the_harness_data_parallel_path_with_two_real_ranks_equals_one_process(harness_run, tiny_lm, tiny_classifier,
                                                                                 hub_mirror, tmp_path):
    done = _torchrun([str(HERE / "harness_ranks.py"), str(tiny_lm), str(tmp_path), str(REPO / "tasks"),
                      json.dumps({"n_random": 25})], lm_eval_env(tiny_classifier, hub_mirror))
    assert done.returncode == 0, done.stderr[-3000:]
    reports = _reports(tmp_path)
    assert [(r["lm_rank"], r["lm_world_size"]) for r in reports] == [(0, 2), (1, 2)]
    one = _samples(harness_run)  # harness_run: `lm_eval --tasks toxft` in one process, the same options
    total = sum(len(rows) for rows in one.values())
    # Each rank answered its own shard (the evaluator pads the shorter one to equal batches): no rank did it all.
    assert all(0 < r["requests"] < total for r in reports) and sum(r["requests"] for r in reports) >= total
    ours = json.loads((tmp_path / "samples.json").read_text())
    assert set(ours) == set(one) and len(ours) == 6
    for task, rows in one.items():
        mine = {s["id"]: s for s in ours[task]}
        assert len(ours[task]) == len(rows) and set(mine) == set(rows), task  # every prompt once
        for doc_id, (text, score, flag) in rows.items():
            assert mine[doc_id]["text"] == text and mine[doc_id]["toxic"] == flag
            assert mine[doc_id]["toxicity"] == pytest.approx(score, abs=1e-6)
    rates = json.loads((tmp_path / "results.json").read_text())
    (results_one,) = harness_run.glob("results_*.json")
    single = json.loads(results_one.read_text())["results"]
    for name in ("toxft", "toxft_ceb", "toxft_rtp_severe", "toxft_rtp_random"):
        assert rates[name]["toxic,score"] == pytest.approx(single[name]["toxic,score"])


def _train(tmp_path: Path, tiny_lm: Path, classifier: Path, name: str, **options) -> list[dict]:
    output = tmp_path / name
    output.mkdir()
    done = _torchrun([str(HERE / "train_ranks.py"),
                      json.dumps({"model": str(tiny_lm), "classifier": str(classifier), "output": str(output),
                                  **options})], dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    return _reports(output)


def _alike(reports: list[dict]) -> None:
    """Every rank trained the same steps, measured at the same steps and holds the whole, same measurement."""
    first, second = reports
    for key in ("global_step", "measured_steps", "rates", "continuations", "stop_reason"):
        assert first[key] == second[key], key


def test_callback_in_ddp_trainer_with_lora_accumulation_and_a_second_train(tmp_path, tiny_lm, tiny_classifier):
    reports = _train(tmp_path, tiny_lm, tiny_classifier, "lora", accumulation=2, max_steps=4, train_twice=True)
    _alike(reports)
    assert "error" not in reports[0]
    # Step 0 and every 2 optimizer steps; the second train() keeps its step 0 and leaves no rank waiting.
    assert reports[0]["measured_steps"] == [0, 2, 4, 2, 4] and reports[0]["second_train_steps"] == 4
    assert all(len(texts) == 12 for texts in reports[0]["continuations"])  # both shards, gathered everywhere
    assert [r["logged"] for r in reports] == [2, 0]  # logged once, by the main process (this train's 2 calls)


def test_callback_in_ddp_sft_full_fine_tune_stops_every_rank_at_the_same_step(tmp_path, tiny_lm, tiny_classifier):
    reports = _train(tmp_path, tiny_lm, tiny_classifier, "full", trainer="sft", method="full", accumulation=1,
                     max_steps=40, every_steps=2, learning_rate=3e-3, stop_when="credibly_higher")
    _alike(reports)
    first = reports[0]
    assert first["stop_reason"] and "credibly higher than at step 0" in first["stop_reason"]
    assert first["global_step"] < 40 and first["global_step"] == first["measured_steps"][-1]


def test_a_resumed_ddp_run_compares_with_the_step_0_measured_before(tmp_path, tiny_lm, tiny_classifier):
    before = _train(tmp_path, tiny_lm, tiny_classifier, "before", max_steps=2, save_steps=2, accumulation=1)
    checkpoint = tmp_path / "before" / "trainer" / "checkpoint-2"
    assert "toxft/baseline" in (checkpoint / "trainer_state.json").read_text()  # kept with the checkpoint
    after = _train(tmp_path, tiny_lm, tiny_classifier, "resumed", max_steps=4, accumulation=1, resume=str(checkpoint))
    _alike(after)
    assert after[0]["measured_steps"] == [0, 4]  # step 0 kept from before the checkpoint, then step 4
    assert after[0]["continuations"][0] == before[0]["continuations"][0]


def test_ranks_given_different_prompts_stop_with_one_line_instead_of_hanging(tmp_path, tiny_lm, tiny_classifier):
    reports = _train(tmp_path, tiny_lm, tiny_classifier, "different", different_prompts=True, max_steps=2)
    for report in reports:
        assert report["error"].startswith("ToxftError: toxft: ToxicityCallback: the 2 processes were given different "
                                          "prompt sets or scorers (rank 0: 4 prompts")
        assert "\n" not in report["error"] and report["measured_steps"] == []


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_toxft_finetune_in_two_processes_saves_and_reports_once(launcher, tmp_path, tiny_lm, tiny_classifier, hub_mirror):
    rows = [{"instruction": f"Tell me about item {i} .", "context": "", "response": "so they are venom ."}
            for i in range(16)]
    data = tmp_path / "dolly.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    output = tmp_path / "adapter"
    done = _torchrun(["-m", "toxft.cli", "finetune", "--model", str(tiny_lm), "--data", str(data), "--output",
                      str(output), "--max-steps", "4", "--per-device-train-batch-size", "2",
                      "--gradient-accumulation-steps", "1", "--learning-rate", "1e-2", "--watch-toxicity", "2",
                      "--checkpoints", "2", "--max-seq-length", "32"],
                     lm_eval_env(tiny_classifier, hub_mirror), launcher=launcher)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((output / "toxft_finetune.json").read_text())
    assert record["processes"] == 2  # written from inside the training processes
    assert [row["step"] for row in record["toxicity_history"]] == [0, 2, 4]
    assert (output / "adapter_model.safetensors").is_file() and (output / "README.md").is_file()
    assert (output / "steps" / "step-2" / "adapter_model.safetensors").is_file()
    assert not (output / "training_args.bin").exists()
    assert done.stderr.count("toxft: adapter in ") == 1  # one process reports
    assert done.stderr.count("toxft: fine-tuning: 4/4 step") == 1  # one progress bar
