"""A study grid: lists in a study's ``finetune:`` section become the axes of a set of fine-tunes (cells).

``finetune: {method: [lora, full], r: [8, 64], seed: [3407, 1]}`` trains every Dolly model of the
study once per cell. ``grid: factorial`` (the default) crosses every axis; ``grid: one-at-a-time``
varies one axis at a time from the baseline (every axis at its first value), each cell crossed
with every seed, so that set-up variance is measured in every cell and the budget grows with the
sum of the levels rather than their product.

Example::

    >>> fixed, axes = split_section({"max_steps": 10, "r": [8, 64], "method": ["lora", "full"]})
    >>> fixed, [c.values for c in cells(axes, "one-at-a-time")]
    ({'max_steps': 10}, [{'r': 8, 'method': 'lora'}, {'r': 64, 'method': 'lora'}, {'r': 8, 'method': 'full'}])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

DESIGNS = ("factorial", "one-at-a-time")
SEED_AXIS = "seed"  # crossed with every cell in either design: it measures set-up variance, it is not a factor
# toxft finetune options a grid may vary: settings of the training itself, not of where things go.
AXES = ("method", "r", "lora_alpha", "lora_dropout", "learning_rate", "rows", "data", "control", "seed",
        "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
        "warmup_steps", "weight_decay", "lr_scheduler_type", "template", "target_modules", "load_in_4bit")


@dataclass(frozen=True)
class Cell:
    """One fine-tune of the grid: a value for every axis."""

    values: dict

    def label(self, axes) -> str:
        """``method=full,r=8``: the axes in the study's order."""
        return ",".join(f"{axis}={level_text(self.values[axis])}" for axis in axes)

    def factors(self) -> dict:
        """The values that are factors of the analysis (every axis but the seed)."""
        return {axis: value for axis, value in self.values.items() if axis != SEED_AXIS}


def level_text(value) -> str:
    """An axis level as text: a list (``target_modules``) as its words."""
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def split_section(section: dict) -> tuple[dict, dict[str, list]]:
    """(fixed values, axes): an axis is a key of :data:`AXES` given a list of two or more values.

    ``target_modules`` takes a list anyway: it is an axis only as a list of lists.
    """
    fixed, axes = {}, {}
    for key, value in section.items():
        many_valued = key == "target_modules"
        is_axis = isinstance(value, list) and key in AXES and (not many_valued or all(isinstance(v, list) for v in value))
        if is_axis and len(value) > 1:
            axes[key] = list(value)
        elif is_axis:
            fixed[key] = value[0]
        else:
            fixed[key] = value
    return fixed, axes


def cells(axes: dict[str, list], design: str = "factorial") -> list[Cell]:
    """Every cell of the grid, in a stable order (the baseline first)."""
    if design not in DESIGNS:
        raise ValueError(f"grid must be {' or '.join(DESIGNS)}, not {design!r}")
    if not axes:
        return []
    names = list(axes)
    if design == "factorial":
        return [Cell(dict(zip(names, combo))) for combo in itertools.product(*axes.values())]
    factors = [name for name in names if name != SEED_AXIS]
    baseline = {name: axes[name][0] for name in factors}
    varied = [dict(baseline)] + [{**baseline, name: level} for name in factors for level in axes[name][1:]]
    seeds = axes.get(SEED_AXIS, [None])
    found = []
    for values in varied:
        for seed in seeds:
            cell = dict(values) if seed is None else {**values, SEED_AXIS: seed}
            found.append(Cell({name: cell[name] for name in names}))
    return found


def duplicated(values: list) -> object | None:
    """A value given twice on one axis, if any (two cells would then be one fine-tune)."""
    seen = []
    for value in values:
        if value in seen:
            return value
        seen.append(value)
    return None
