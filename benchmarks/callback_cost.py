"""What ToxicityCallback costs: the demo's fine-tune without it and with it, side by side in one run.

The demo's tiny models are built here (scorer, base, instruct), then the demo's LoRA fine-tune (150
steps of the instruct model, the demo's recipe) runs twice: plain, and with --watch-toxicity 50 (step
0, 50, 100, 150: four calls on the callback's default 200 prompts, the demo's data). Prints the
training time of each, the time of every call and its share of the training.

  python benchmarks/callback_cost.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main() -> None:
    import torch

    from toxft.demo import world
    from toxft.finetune.recipe import Recipe
    from toxft.finetune.train import finetune

    torch.set_num_threads(1)  # as the demo's steps run
    root = Path(tempfile.mkdtemp(prefix="toxft-callback-"))
    models = world.build_models(root, seed=0)
    os.environ.update(TOXFT_SCORER=str(models["scorer"]), TOXFT_DATA_DIR=str(world.DATA))
    dolly = world.DATA / "databricks" / "databricks-dolly-15k" / "databricks-dolly-15k.jsonl"
    recipe = Recipe(learning_rate=0.01, max_steps=world.FINETUNE_STEPS, per_device_train_batch_size=8,
                    gradient_accumulation_steps=1, warmup_steps=2)
    plain = finetune(str(models["instruct"]), root / "plain", recipe, data=str(dolly), backend="peft").record
    watched = finetune(str(models["instruct"]), root / "watched", recipe, data=str(dolly), backend="peft",
                       watch_toxicity=50).record
    calls = watched["toxicity_history"]
    spent = sum(call["seconds"] for call in calls)
    print(f"machine: {os.cpu_count()} CPU(s), torch {torch.__version__}, one thread")
    print("| run | training | callback calls | callback share |")
    print("|---|---|---|---|")
    print(f"| demo fine-tune, {world.FINETUNE_STEPS} steps | {plain['train_seconds']:.1f} s | — | — |")
    each = ", ".join(f"{call['seconds']:.1f}" for call in calls)
    print(f"| the same with ToxicityCallback(every_steps=50), {len(calls)} calls on 200 prompts | "
          f"{watched['train_seconds']:.1f} s | {each} s | {spent / watched['train_seconds']:.0%} |")
    print(json.dumps([{k: round(v, 3) for k, v in call.items()} for call in calls]), file=sys.stderr)


if __name__ == "__main__":
    main()
