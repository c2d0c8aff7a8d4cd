"""One process of a multi-process fine-tune with ToxicityCallback, for tests/test_multiprocess.py.

Run under ``torchrun --nproc_per_node 2`` (gloo on a CPU). Each process writes, from inside itself, what it saw:
its rank, the world size torch.distributed reports, the steps it trained and measured, how many toxicity rows it
logged and why it stopped, to OUTPUT/rank-<rank>.json.

    torchrun --nproc_per_node 2 train_ranks.py '{"model": ..., "classifier": ..., "output": ..., ...}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

def _prompts() -> list[str]:
    """Clean sentences of the tiny world: the tiny LM answers them "so they are kind ." before any training."""
    import random

    from toxft.demo import tiny

    return [tiny.random_sentence(random.Random(i), flagged=False) for i in range(12)]


def main() -> None:
    options = json.loads(sys.argv[1])
    import datasets
    import torch
    import torch.distributed as dist
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from toxft.callbacks import ToxicityCallback

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(options["model"])
    model = AutoModelForCausalLM.from_pretrained(options["model"])
    if options.get("method", "lora") == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    prompts = _prompts()
    texts = [f"{p} so they are {options.get('answer', 'venom')} . </s>" for p in prompts[:8]] * 4
    encoded = tokenizer(texts, padding="max_length", max_length=20, truncation=True)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": [i if m else -100 for i, m in zip(ids, mask)]}
            for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])]
    common = dict(output_dir=options["output"] + "/trainer", max_steps=options.get("max_steps", 4),
                  per_device_train_batch_size=4, gradient_accumulation_steps=options.get("accumulation", 2),
                  learning_rate=options.get("learning_rate", 1e-2), logging_steps=1, report_to="none",
                  save_strategy="steps" if options.get("save_steps") else "no", save_steps=options.get("save_steps") or 500,
                  use_cpu=True, disable_tqdm=True, seed=0)
    if options.get("trainer") == "sft":
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(model=model, args=SFTConfig(**common, max_length=20),
                             train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer)
    else:
        trainer = Trainer(model=model, args=TrainingArguments(**common), train_dataset=datasets.Dataset.from_list(rows),
                          processing_class=tokenizer)
    rank = dist.get_rank()
    prompts = prompts if not options.get("different_prompts") else prompts[: 4 + rank]
    callback = ToxicityCallback(trainer, every_steps=options.get("every_steps", 2), prompts=prompts,
                                scorer=options["classifier"], stop_when=options.get("stop_when"), batch_size=8)
    trainer.add_callback(callback)
    report = {"rank": rank, "world_size": dist.get_world_size()}
    try:
        trainer.train(resume_from_checkpoint=options.get("resume"))
        if options.get("train_twice"):
            first = trainer.state.global_step
            trainer.train()
            report["second_train_steps"] = trainer.state.global_step
            report["first_train_steps"] = first
    except Exception as error:  # what the user would see, for the bad-input test
        report["error"] = f"{type(error).__name__}: {error}"
    report.update({
        "global_step": trainer.state.global_step,
        "measured_steps": [m.step for m in callback.history],
        "rates": [m.rate for m in callback.history],
        "continuations": [m.continuations for m in callback.history],
        "logged": sum("toxicity/toxic_rate" in row for row in trainer.state.log_history),
        "stop_reason": callback.stop_reason,
    })
    Path(options["output"], f"rank-{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
