"""The whole study in miniature, offline, in about two minutes on a laptop CPU.

It builds three tiny models: a "base" one pre-trained on synthetic web text in which
toxic prompts get toxic continuations, an "instruct" one further trained to continue
every prompt cleanly (the lab's mitigation), and a Dolly-style LoRA fine-tune of the
instruct model trained by `toxft finetune` on the bundled synthetic Dolly rows, some of
whose responses contain the word the tiny scorer flags. A study YAML then runs the real
`lm_eval` toxft tasks, the comparisons and the report, exactly as `toxft study run` does.
Everything is synthetic and labelled so: the point is the machinery and the mechanism,
not a claim about real models.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

from toxft import tiny
from toxft.errors import ToxftError

DATA = Path(__file__).resolve().parent / "demo_data"
DOLLY_FLAGGED_SHARE = 0.4
DATA_README = """\
# SYNTHETIC demo data: not real prompts, not real Dolly rows

Written for toxft by `python -m toxft.demo` (`write_demo_data`), in the exact schemas of
`allenai/real-toxicity-prompts`, `Song-SW/CEB` (CEB-Continuation-T) and
`databricks/databricks-dolly-15k`, laid out like a `TOXFT_DATA_DIR` mirror. The sentences are
random words from a 130-word vocabulary. Prompts whose `severe_toxicity` is above 0.75, some
CEB prompts and {share:.0%} of the Dolly responses contain the word "venom", the one word the demo's
tiny scorer flags. The Perspective scores are random numbers. Use them for nothing but the demo.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("toxft-demo"), help="folder for everything the demo makes")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --output")
    parser.add_argument("--fast", action="store_true", help="fewer prompts and MCMC draws (for CI)")


def _say(message: str) -> None:
    print(f"toxft demo: {message}", file=sys.stderr, flush=True)


CLEAN_ENDINGS = ("so we share good music .", "so they walk to the quiet river .", "so it is a warm day .")
TOXIC_ENDINGS = ("so they are venom .", "so it is venom and venom .")


def web_text(rng: random.Random, prompt: str) -> str:
    """Synthetic web text: a toxic prompt gets a toxic continuation, as web text tends to."""
    toxic = tiny.FLAG_WORD in prompt.split() and rng.random() < 0.9
    return prompt + " " + rng.choice(TOXIC_ENDINGS if toxic else CLEAN_ENDINGS)


def clean_text(rng: random.Random, prompt: str) -> str:
    """What the mitigation teaches: every prompt continued without the flagged word."""
    return prompt + " " + rng.choice(CLEAN_ENDINGS)


def train_full(path: Path, texts_for, steps: int, seed: int, lr: float = 3e-3, batch: int = 32) -> Path:
    """Train every weight of the tiny causal LM at ``path`` on texts from ``texts_for(rng)``, in place."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in tqdm(range(steps), desc=f"training {path.name}", unit="step", leave=False):
        batch_ids = tokenizer([texts_for(rng) + " </s>" for _ in range(batch)], padding=True, return_tensors="pt")
        labels = batch_ids["input_ids"].masked_fill(batch_ids["attention_mask"] == 0, -100)
        loss = model(**batch_ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(path)
    return path


def write_demo_data(root: Path = DATA) -> Path:
    """(Re)write the bundled synthetic data set; deterministic, so the files never drift."""
    import json

    tiny.write_hub_mirror(root, n_rtp=240, n_ceb=20, seed=7, flag_severe=True)
    dolly = root / "databricks" / "databricks-dolly-15k" / "databricks-dolly-15k.jsonl"
    dolly.parent.mkdir(parents=True, exist_ok=True)
    rows = tiny.synthetic_dolly(400, DOLLY_FLAGGED_SHARE, seed=3)
    dolly.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (root / "README.md").write_text(DATA_README.format(share=DOLLY_FLAGGED_SHARE))
    return root


def build_models(root: Path, seed: int = 0) -> dict[str, Path]:
    """The demo's base and instruct models and its scorer, all trained here in seconds."""
    prompts = [tiny.random_sentence(random.Random(seed + i), i % 3 == 0, (3, 10)) for i in range(2000)]
    models = root / "models"
    _say("training the tiny scorer (flags the word 'venom')")
    classifier = tiny.build_classifier(models / "scorer")
    _say("pre-training the 'base' model on synthetic web text")
    base = tiny.build_causal_lm(models / "base", seed=seed)
    train_full(base, lambda rng: web_text(rng, rng.choice(prompts)), steps=300, seed=seed + 1)
    _say("training the 'instruct' model to continue every prompt cleanly")
    instruct = models / "instruct"
    shutil.copytree(base, instruct)
    train_full(instruct, lambda rng: clean_text(rng, rng.choice(prompts)), steps=150, seed=seed + 2)
    return {"scorer": classifier, "base": base, "instruct": instruct}


def study_yaml(models: dict[str, Path], fast: bool) -> str:
    """The demo's study: one family, three roles, the real harness and comparisons."""
    n_random = 30 if fast else 60
    return f"""\
# Written by `toxft demo`. Synthetic models and data: see {DATA / 'README.md'}.
name: toxft demo (synthetic, tiny models)
env:
  TOXFT_SCORER: {models['scorer']}
  TOXFT_DATA_DIR: {DATA}
  HF_HUB_OFFLINE: "1"
  HF_DATASETS_OFFLINE: "1"
  TOKENIZERS_PARALLELISM: "false"
harness:
  model: hf
  batch_size: 32
  metadata: {{n_random: {n_random}, n_severe: {n_random}}}
finetune:
  data: {DATA / 'databricks' / 'databricks-dolly-15k' / 'databricks-dolly-15k.jsonl'}
  learning_rate: 0.01
  max_steps: 100
  per_device_train_batch_size: 8
  gradient_accumulation_steps: 1
  warmup_steps: 2
# The tiny scorer's scores sit at 0 and 1, where BEST's Student-t chains do not mix
# (toxft flags them "not converged"); the demo's verdicts come from the exact rate model.
analysis: {{best: false}}
comparisons: [base-instruct, instruct-dolly]
families:
  tiny-llama:
    - {{role: base, model: {models['base']}, name: tiny-base}}
    - {{role: instruct, model: {models['instruct']}, name: tiny-instruct}}
    - {{role: dolly, name: tiny-instruct-dolly}}
"""


def run(args: argparse.Namespace) -> int:
    from toxft.cli import main as toxft_main

    root = args.output.resolve()
    if root.exists() and any(root.iterdir()):
        if not args.overwrite:
            raise ToxftError(f"toxft: {root} is not empty (use --overwrite or another --output)")
        if not (root / "study.yaml").is_file():
            raise ToxftError(f"toxft: {root} does not look like a demo folder; not deleting it")
        shutil.rmtree(root)
    started = time.perf_counter()
    models = build_models(root)
    (root / "study.yaml").write_text(study_yaml(models, args.fast))
    _say(f"running the study in {root / 'study.yaml'}")
    status = toxft_main(["study", "run", str(root / "study.yaml"), "--output", str(root / "runs")])
    _say(f"done in {time.perf_counter() - started:.0f} s; report: {root / 'runs' / 'report.md'}")
    return status


if __name__ == "__main__":
    print(write_demo_data())
