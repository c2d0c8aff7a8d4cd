"""LoRA fine-tuning on databricks-dolly-15k with the paper's recipe (r=16, alpha=16, lr 2e-4,
batch 2 x 8, one epoch, seed 3407). The adapter, its model card and a JSON record go to --output.

  toxft finetune --model google/gemma-2-2b-it --output adapters/gemma-2-2b-it-dolly
  lm_eval --model hf --model_args pretrained=google/gemma-2-2b-it,peft=adapters/gemma-2-2b-it-dolly \\
      --tasks toxft --include_path $(toxft tasks-path) --log_samples --output_path results/
"""

from __future__ import annotations

import argparse
import sys

from .options import add_arguments, recipe_from

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    from .train import finetune

    result = finetune(
        args.model, args.output, recipe_from(args), data=args.data, data_revision=args.data_revision,
        revision=args.revision, backend=args.backend, resume=args.resume, overwrite=args.overwrite,
        allow_partial=args.allow_partial, keep_checkpoints=args.keep_checkpoints, checkpoints=args.checkpoints,
        watch_toxicity=args.watch_toxicity, watch_scorer=args.watch_scorer,
    )
    if not result.main:  # another process of a multi-process run: the main one reports
        return 0
    loss = result.record["loss"]
    print(f"toxft: adapter in {result.output} ({result.backend}; {result.record['steps']} steps; "
          f"loss {loss.get('first', float('nan')):.4f} -> {loss.get('last', float('nan')):.4f})", file=sys.stderr)
    if args.push_to_hub:
        from toxft.hub import push_adapter

        print(f"toxft: pushed {push_adapter(result.output, args.push_to_hub, args.private)}", file=sys.stderr)
    return 0
