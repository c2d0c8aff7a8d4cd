"""Fine-tuning speed and memory: Unsloth vs plain PEFT + TRL, and LoRA vs DoRA vs QLoRA vs full fine-tuning,
one training step at a time, same batch.

A randomly initialised model with Gemma-2-2B's architecture (nothing downloaded) is
fine-tuned by `toxft.finetune` with each backend in its own process (Unsloth patches
transformers on import, so the two cannot share one). Every example is exactly
--seq-len tokens, so tokens per step = batch x accumulation x seq-len. Prints tokens/s
after the warm-up steps, peak memory (GPU allocated with CUDA, else the process's resident set) and
the ratios. QLoRA needs CUDA and bitsandbytes: elsewhere its line says why it did not run.

    python benchmarks/finetune_speed.py                  # on a CUDA GPU with toxft[unsloth]
    python benchmarks/finetune_speed.py --config small --backends peft --methods lora dora qlora full --seq-len 256
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Gemma-2-2B's published architecture; the weights are random.
GEMMA_2_2B = dict(
    model_type="gemma2", vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
    num_attention_heads=8, num_key_value_heads=4, head_dim=256, max_position_embeddings=8192,
    sliding_window=4096, query_pre_attn_scalar=256, final_logit_softcapping=30.0, attn_logit_softcapping=50.0,
    hidden_activation="gelu_pytorch_tanh", bos_token_id=0, eos_token_id=2, pad_token_id=1,
)
# Big enough on a CPU for the methods' costs to show (about 30M parameters), small enough for minutes.
SMALL = dict(model_type="gemma2", vocab_size=8192, hidden_size=512, intermediate_size=2048, num_hidden_layers=6,
             num_attention_heads=8, num_key_value_heads=4, head_dim=64, bos_token_id=0, eos_token_id=2,
             pad_token_id=1)
TINY = dict(model_type="gemma2", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, bos_token_id=0, eos_token_id=2,
            pad_token_id=1)


def build_model(folder: Path, spec: dict) -> Path:
    """Save a random model of ``spec`` with the tiny word tokenizer (token ids are all that matter here)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from toxft.demo import tiny

    spec = dict(spec)
    config = AutoConfig.for_model(spec.pop("model_type"), **spec)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if torch.cuda.is_available() else None)
    model.save_pretrained(folder)
    tiny.build_tokenizer(bos_only=True, bos_token="<bos>").save_pretrained(folder)
    return folder


def write_rows(path: Path, n: int, words: int) -> Path:
    from toxft.demo import tiny

    rows = tiny.synthetic_dolly(n, 0.0, seed=0)
    for row in rows:
        row["response"] = " ".join([row["response"]] * (words // 4 + 1))  # longer than --seq-len tokens
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def worker(args: argparse.Namespace) -> None:
    """Train with one backend and print one JSON line of measurements."""
    from toxft.finetune.train import choose_backend, prepare_backend

    backend = choose_backend(args.worker, args.method)
    prepare_backend(backend)  # before transformers, for Unsloth
    import torch
    from transformers import TrainerCallback

    from toxft.finetune.recipe import Recipe
    from toxft.finetune.train import finetune

    stamps: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_end(self, *_, **__):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    recipe = Recipe(max_steps=args.steps, max_seq_length=args.seq_len, save_steps=10**6,
                    per_device_train_batch_size=args.batch, gradient_accumulation_steps=args.accumulation,
                    load_in_4bit="auto" if args.method in ("qlora", "full") else args.four_bit, method=args.method)
    with tempfile.TemporaryDirectory() as out:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        result = finetune(args.model, Path(out) / "adapter", recipe, data=args.data, backend=backend,
                          callbacks=[StepClock()])
    timed = stamps[args.warmup:]
    seconds = timed[-1] - stamps[args.warmup - 1]
    tokens = len(timed) * args.batch * args.accumulation * args.seq_len
    print(json.dumps({"backend": backend, "method": args.method, "tokens_per_s": tokens / seconds,
                      "peak_gib": result.record["peak_memory_mb"] / 1024, "timed_steps": len(timed),
                      "trainable": result.record["trainable_parameters"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("gemma-2-2b", "small", "tiny"), default="gemma-2-2b")
    parser.add_argument("--backends", nargs="+", default=["unsloth", "peft"])
    parser.add_argument("--methods", nargs="+", default=["lora"], choices=("lora", "dora", "qlora", "full"))
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per backend")
    parser.add_argument("--warmup", type=int, default=3, help="steps left out of the timing")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--accumulation", type=int, default=8)
    parser.add_argument("--four-bit", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="lora", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        model = build_model(Path(scratch) / "model", {"gemma-2-2b": GEMMA_2_2B, "small": SMALL, "tiny": TINY}[args.config])
        rows = args.batch * args.accumulation * args.steps
        data = write_rows(Path(scratch) / "rows.jsonl", rows, args.seq_len)
        for backend, method in ((b, m) for b in args.backends for m in args.methods):
            command = [sys.executable, __file__, "--worker", backend, "--method", method, "--model", str(model),
                       "--data", str(data),
                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--seq-len", str(args.seq_len),
                       "--batch", str(args.batch), "--accumulation", str(args.accumulation),
                       "--four-bit", args.four_bit]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines() or ["no output"]
                print(f"  {backend} {method}: did not run: {lines[-1]}")
                continue
            results[(backend, method)] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{args.config}, seq {args.seq_len}, batch {args.batch} x {args.accumulation}, 4-bit {args.four_bit}")
    for (backend, method), found in results.items():
        print(f"  {backend:8s} {method:6s} {found['tokens_per_s']:10.0f} tokens/s   peak {found['peak_gib']:.2f} GiB   "
              f"{found['trainable']:,} trainable ({found['timed_steps']} timed steps)")
    for method in args.methods[1:]:
        for backend in args.backends:
            first, other = results.get((backend, args.methods[0])), results.get((backend, method))
            if first and other:
                print(f"  {backend} {method} / {args.methods[0]}: {other['tokens_per_s'] / first['tokens_per_s']:.2f}x "
                      f"tokens/s, {other['peak_gib'] / first['peak_gib']:.2f}x peak memory")
    results = {backend: found for (backend, method), found in results.items() if method == args.methods[0]}
    if {"unsloth", "peft"} <= results.keys():
        print(f"  unsloth / peft: {results['unsloth']['tokens_per_s'] / results['peft']['tokens_per_s']:.2f}x "
              f"tokens/s, {results['unsloth']['peak_gib'] / results['peft']['peak_gib']:.2f}x peak memory")


if __name__ == "__main__":
    main()
