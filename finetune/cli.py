"""LoRA fine-tuning on databricks-dolly-15k with the paper's recipe (r=16, alpha=16, lr 2e-4,
batch 2 x 8, one epoch, seed 3407). The adapter, its model card and a JSON record go to --output.

  toxft finetune --model google/gemma-2-2b-it --output adapters/gemma-2-2b-it-dolly
  lm_eval --model hf --model_args pretrained=google/gemma-2-2b-it,peft=adapters/gemma-2-2b-it-dolly \\
      --tasks toxft --include_path $(toxft tasks-path) --log_samples --output_path results/
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from toxft.arguments import nonnegative_float, nonnegative_int, positive_float, positive_int, share
from toxft.data import DOLLY_REPO

from .recipe import BACKENDS, TEMPLATES, Recipe

_HELP = {
    "r": "LoRA rank",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
    "bias": "LoRA bias: none, all or lora_only",
    "target_modules": "module names to adapt; 'all' = every attention and MLP projection of the architecture",
    "learning_rate": "peak learning rate",
    "per_device_train_batch_size": "sequences per device per micro-batch",
    "gradient_accumulation_steps": "micro-batches per optimizer step",
    "warmup_steps": "linear warm-up steps",
    "num_train_epochs": "passes over the data",
    "max_steps": "stop after this many optimizer steps (-1: run the epochs)",
    "optim": "optimizer; auto = adamw_8bit with CUDA + bitsandbytes, else adamw_torch",
    "weight_decay": "AdamW weight decay",
    "lr_scheduler_type": "learning-rate schedule",
    "seed": "random seed",
    "max_seq_length": "truncate examples to this many tokens",
    "packing": "pack several examples into one sequence",
    "load_in_4bit": "4-bit base weights: auto (CUDA + bitsandbytes), yes or no",
    "template": "text format: paper (raw [INST] text, as in the paper) or native (the model's chat template)",
    "limit": "train on the first N rows only (smoke runs)",
    "save_steps": "save a checkpoint every N optimizer steps",
}
_CHOICES = {"template": TEMPLATES, "load_in_4bit": ("auto", "yes", "no"), "bias": ("none", "all", "lora_only")}


def _max_steps(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or (value < 1 and value != -1):
        raise argparse.ArgumentTypeError(f"must be -1 (run the epochs) or a whole number of 1 or more, not {text!r}")
    return value


# Argument types that refuse values no training run can use, while parsing.
_TYPES = {"limit": positive_int, "max_steps": _max_steps, "warmup_steps": nonnegative_int, "seed": nonnegative_int,
          "learning_rate": positive_float, "num_train_epochs": positive_float, "lora_dropout": share,
          "weight_decay": nonnegative_float}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="base model: Hub id or local folder")
    parser.add_argument("--output", required=True, help="folder for the adapter, card and record")
    parser.add_argument("--revision", help="base model revision (branch, tag or commit)")
    parser.add_argument("--data", default=DOLLY_REPO, help="Dolly-schema data: Hub dataset id or JSON Lines file")
    parser.add_argument("--data-revision", help="revision of the Hub dataset")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto = unsloth with CUDA and Unsloth installed, else peft (PEFT + TRL)")
    recipe = parser.add_argument_group("recipe (defaults: the paper's)")
    for spec in fields(Recipe):
        flag = "--" + spec.name.replace("_", "-")
        default = spec.default_factory() if callable(spec.default_factory) else spec.default
        kwargs: dict = {"default": default, "help": _HELP[spec.name]}
        if spec.name == "target_modules":
            kwargs["nargs"] = "+"
        elif spec.name == "packing":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif spec.name in _CHOICES:
            kwargs["choices"] = _CHOICES[spec.name]
        elif spec.name in _TYPES:
            kwargs["type"] = _TYPES[spec.name]
        elif isinstance(default, int):
            kwargs["type"] = positive_int  # ranks, batch sizes, lengths, save intervals
        elif spec.name not in ("optim", "lr_scheduler_type"):
            kwargs["type"] = type(default)
        if spec.name not in _CHOICES and spec.name != "packing":
            kwargs["metavar"] = spec.name.split("_")[-1].upper() if spec.name != "r" else "R"
        recipe.add_argument(flag, dest=f"recipe_{spec.name}", **kwargs)
    parser.add_argument("--allow-partial", action="store_true",
                        help="train even when --target-modules leave some projections out (recorded in the card)")
    parser.add_argument("--resume", action="store_true", help="go on from the last checkpoint in OUTPUT/checkpoints")
    parser.add_argument("--overwrite", action="store_true", help="replace an adapter already in OUTPUT")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep OUTPUT/checkpoints after success")
    parser.add_argument("--push-to-hub", metavar="REPO", help="upload the adapter to this Hub repo (your saved login)")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """The Recipe the command line asks for."""
    return Recipe(**{spec.name: getattr(args, f"recipe_{spec.name}") for spec in fields(Recipe)})


def run(args: argparse.Namespace) -> int:
    from .train import finetune

    result = finetune(
        args.model, args.output, recipe_from_args(args), data=args.data, data_revision=args.data_revision,
        revision=args.revision, backend=args.backend, resume=args.resume, overwrite=args.overwrite,
        allow_partial=args.allow_partial, keep_checkpoints=args.keep_checkpoints,
    )
    loss = result.record["loss"]
    print(f"toxft: adapter in {result.output} ({result.backend}; {result.record['steps']} steps; "
          f"loss {loss.get('first', float('nan')):.4f} -> {loss.get('last', float('nan')):.4f})", file=sys.stderr)
    if args.push_to_hub:
        from toxft.hub import push_adapter

        print(f"toxft: pushed {push_adapter(result.output, args.push_to_hub, args.private)}", file=sys.stderr)
    return 0
