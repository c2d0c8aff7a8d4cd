"""Which modules LoRA adapts: every attention and MLP projection, checked, never partial by accident."""

from __future__ import annotations

import re
from collections import Counter

from toxft.errors import ToxftError

from .recipe import ALL_PROJECTIONS

# Linear layers inside the repeated decoder blocks; embeddings and lm_head sit outside.
_IN_DECODER_LAYER = re.compile(r"(^|\.)layers\.\d+\.")


class TargetError(ToxftError):
    """The requested target modules do not cover the architecture's projections."""


def projections(model) -> Counter:
    """Leaf names of the linear projections in the decoder layers, with how many there are."""
    import torch

    found = Counter()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and _IN_DECODER_LAYER.search(name):
            found[name.rsplit(".", 1)[-1]] += 1
    if not found:
        raise TargetError("toxft: found no linear projections under the model's decoder layers")
    return found


def resolve_targets(model, requested: list[str], allow_partial: bool = False) -> list[str]:
    """The leaf names to adapt; stops when they would leave some projections out."""
    available = projections(model)
    if list(requested) == [ALL_PROJECTIONS]:
        return sorted(available)
    matched = sorted(set(requested) & set(available))
    unmatched = sorted(set(available) - set(requested))
    unknown = sorted(set(requested) - set(available))
    if not matched:
        raise TargetError(
            f"toxft: none of the target modules {', '.join(requested)} is in this model "
            f"(its projections: {', '.join(sorted(available))})"
        )
    if (unmatched or unknown) and not allow_partial:
        raise TargetError(
            f"toxft: target modules cover only part of the model: matched {', '.join(matched)}; "
            f"not adapted {', '.join(unmatched) or '-'}; not in this model {', '.join(unknown) or '-'} "
            f"(use --target-modules all, or --allow-partial to train a partial adapter on purpose)"
        )
    return matched


def adapted_modules(model) -> Counter:
    """Leaf names of the modules that actually carry LoRA weights, with counts."""
    found = Counter()
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and len(getattr(module, "lora_A", {})) > 0:
            found[name.rsplit(".", 1)[-1]] += 1
    return found
