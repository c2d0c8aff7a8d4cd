"""What a fine-tuning method is, declared once: training, the card, a study's plan and its grid all ask it.

A :class:`Method` says whether it trains an adapter or the whole model, its 4-bit policy, which of the
method-specific recipe fields it reads, and which backends can train it. So a grid that crosses
``method: [lora, full]`` with ``r: [8, 64]`` knows that ``r`` means nothing to a full fine-tune and trains
one full fine-tune, not two identical ones; a new method (IA3, say) is one entry here and its PEFT config.

Example::

    >>> method("full").ignores("r"), method("lora").ignores("r"), method("qlora").ignores("load_in_4bit")
    (True, False, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from toxft.errors import ToxftError

ADAPTER_FIELDS = ("r", "lora_alpha", "lora_dropout", "bias", "target_modules")
# Recipe fields some methods read and others ignore; every other field (learning rate, steps, data, ...) all read.
METHOD_FIELDS = (*ADAPTER_FIELDS, "load_in_4bit")


@dataclass(frozen=True)
class Method:
    """One way of fine-tuning: what it trains and what it reads."""

    name: str
    title: str  # the card's heading: "LoRA adapter", "Full fine-tune"
    adapter: bool  # trains a PEFT adapter on the frozen base (else every weight, saved as a model of its own)
    four_bit: str  # "asked" (--load-in-4bit decides), "always" or "never"
    backends: tuple[str, ...]  # the backends that can train it
    reads: tuple[str, ...]  # which of METHOD_FIELDS it reads

    def ignores(self, field: str) -> bool:
        """Whether a recipe field means nothing to this method (so a grid level of it is no new fine-tune)."""
        return field in METHOD_FIELDS and field not in self.reads


METHODS = {m.name: m for m in (
    Method("lora", "LoRA adapter", True, "asked", ("unsloth", "peft"), METHOD_FIELDS),
    Method("dora", "DoRA adapter", True, "asked", ("peft",), METHOD_FIELDS),
    Method("qlora", "QLoRA adapter", True, "always", ("unsloth", "peft"), ADAPTER_FIELDS),
    Method("full", "Full fine-tune", False, "never", ("peft",), ()),
)}


def method(name: str) -> Method:
    """The method called ``name``; one line naming the others for an unknown one."""
    try:
        return METHODS[name]
    except KeyError:
        raise ToxftError(f"toxft: unknown method {name!r} (one of {', '.join(METHODS)})") from None


def effective(options: dict) -> dict:
    """A fine-tune's options without those its method ignores: two cells with the same effective options are the
    same fine-tune."""
    ignored = ignored_settings(options)
    return {key: value for key, value in options.items() if key not in ignored}


def ignored_settings(options: dict) -> list[str]:
    """The options a fine-tune is given that its method ignores, as a plan says them."""
    chosen = method(options.get("method", "lora"))
    return [key for key in options if chosen.ignores(key)]
