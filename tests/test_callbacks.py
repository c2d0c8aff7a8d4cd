"""ToxicityCallback: the toxicity curve inside a plain Trainer and TRL's SFTTrainer, the early stop, and the same
numbers as the harness task on a saved checkpoint."""

from __future__ import annotations

import json
import random

import pytest

from conftest import model_folder, run_lm_eval
from toxft.demo import tiny

pytestmark = pytest.mark.slow
PROMPTS = [tiny.random_sentence(random.Random(i), flagged=False) for i in range(24)]


def _venom_texts(n: int = 64) -> list[str]:
    """What the fine-tunes here learn: answer every clean sentence with the flagged word."""
    rng = random.Random(9)
    return [f"{tiny.random_sentence(rng, False)} so they are {tiny.FLAG_WORD} ." for _ in range(n)]


def _rates(trainer) -> dict[int, float]:
    return {row["step"]: row["toxicity/toxic_rate"] for row in trainer.state.log_history if "toxicity/toxic_rate" in row}


def test_a_plain_trainer_logs_the_curve_as_the_model_learns_toxic_text(tmp_path, tiny_lm, tiny_classifier):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from toxft.callbacks import ToxicityCallback

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    encoded = tokenizer([t + " </s>" for t in _venom_texts()], padding="max_length", max_length=24, truncation=True)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": [i if m else -100 for i, m in zip(ids, mask)]}
            for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])]
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=12, per_device_train_batch_size=8,
                             gradient_accumulation_steps=2, learning_rate=1e-2, logging_steps=1, report_to="none",
                             save_strategy="no", use_cpu=True, disable_tqdm=True, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                      processing_class=tokenizer)
    callback = ToxicityCallback(trainer, every_steps=4, prompts=PROMPTS, scorer=str(tiny_classifier))
    trainer.add_callback(callback)
    trainer.train()
    rates = _rates(trainer)
    # Step 0 is the model before any update; then every 4 optimizer steps (gradient accumulation counted once).
    assert sorted(rates) == [0, 4, 8, 12]
    assert rates[0] == 0.0 and rates[12] >= 0.8  # clean prompts: "kind" at first, the flagged word at the end
    last = [row for row in trainer.state.log_history if row.get("step") == 12 and "toxicity/change_pp" in row][0]
    assert last["toxicity/change_observed_pp"] == pytest.approx(100 * rates[12]) and last["toxicity/change_low_pp"] > 0
    # The headline change is the posterior mean, inside the interval logged beside it.
    assert last["toxicity/change_low_pp"] <= last["toxicity/change_pp"] <= last["toxicity/change_high_pp"]
    assert last["toxicity/change_pp"] < last["toxicity/change_observed_pp"]  # the prior pulls an extreme towards 0
    assert all(row["toxicity/seconds"] > 0 for row in trainer.state.log_history if "toxicity/seconds" in row)
    assert model.training  # the training state is restored after each call
    assert len(callback.history) == 4 and all(len(m.continuations) == len(PROMPTS) for m in callback.history)


def test_sft_trainer_with_lora_stops_once_credibly_higher(tmp_path, tiny_lm, tiny_classifier):
    import datasets
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from toxft.callbacks import ToxicityCallback

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    from toxft.finetune.train import _quiet_library_deprecations

    _quiet_library_deprecations()  # transformers' notices that TRL calls its renamed checkpointing options
    config = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=60, per_device_train_batch_size=8,
                       learning_rate=1e-2, logging_steps=1, report_to="none", save_strategy="no", use_cpu=True,
                       disable_tqdm=True, gradient_checkpointing=False, seed=0)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_lm), args=config,
                         train_dataset=datasets.Dataset.from_list([{"text": t} for t in _venom_texts()]),
                         processing_class=tokenizer, peft_config=LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM"))
    callback = ToxicityCallback(trainer, every_steps=5, prompts=PROMPTS, scorer=str(tiny_classifier),
                                stop_when="credibly_higher", margin=0.2)
    trainer.add_callback(callback)
    trainer.train()
    rates = _rates(trainer)
    assert rates[0] == 0.0  # the LoRA starts as the identity: step 0 is the model as it was
    assert trainer.state.global_step < 60 and trainer.state.global_step % 5 == 0  # stopped early, at a measurement
    assert callback.stop_reason.startswith(f"toxft: stopping the fine-tune at step {trainer.state.global_step}: ")
    assert "credibly higher than at step 0" in callback.stop_reason
    assert rates[trainer.state.global_step] > 0.2


def test_the_callback_and_the_harness_task_give_the_same_rate(tmp_path, tiny_lm, tiny_classifier, hub_mirror,
                                                              monkeypatch):
    """toxft finetune --watch-toxicity with --checkpoints: the rate logged at step N is the harness task's on the
    adapter saved at step N, prompt for prompt."""
    from toxft.cli import main

    monkeypatch.setenv("TOXFT_SCORER", str(tiny_classifier))
    monkeypatch.setenv("TOXFT_DATA_DIR", str(hub_mirror))
    rows = tmp_path / "venom.jsonl"
    rng = random.Random(3)
    rows.write_text("".join(json.dumps({"instruction": tiny.random_sentence(rng, False) + " ?", "context": "",
                                        "response": f"so they are {tiny.FLAG_WORD} ."}) + "\n" for _ in range(64)))
    adapter = tmp_path / "adapter"
    assert main(["finetune", "--model", str(tiny_lm), "--output", str(adapter), "--data", str(rows),
                 "--learning-rate", "1e-2", "--max-steps", "8", "--per-device-train-batch-size", "8",
                 "--gradient-accumulation-steps", "1", "--warmup-steps", "1", "--watch-toxicity", "4",
                 "--checkpoints", "4"]) == 0
    record = json.loads((adapter / "toxft_finetune.json").read_text())
    history = {row["step"]: row for row in record["toxicity_history"]}
    assert sorted(history) == [0, 4, 8] and record["checkpoints"] == [4]
    done = run_lm_eval(f"pretrained={tiny_lm},peft={adapter / 'steps' / 'step-4'}", tmp_path / "harness",
                       tiny_classifier, hub_mirror, "--metadata", json.dumps({"n_severe": 100, "n_random": 100}),
                       tasks="toxft_rtp_severe,toxft_rtp_random")
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = model_folder(tmp_path / "harness").glob("results_*.json")
    results = json.loads(path.read_text())["results"]
    for subset in ("severe", "random"):
        assert history[4][f"{subset}/toxic_rate"] == pytest.approx(results[f"toxft_rtp_{subset}"]["toxic,score"])
    assert history[4]["toxic_rate"] > history[0]["toxic_rate"]  # the curve moved: the numbers compared are not 0s
