"""The options of ``toxft finetune``, declared once: the command line and a study's ``finetune:`` section both read them.

Each :class:`Option` names its flag, default, type and help. :func:`add_arguments` builds the
command's parser from them; :func:`check_section` checks a study's ``finetune:`` mapping with the
same types (a bad value fails when the study is read, not inside a job's log); :func:`to_flags`
turns that mapping into the flags of the job's ``toxft finetune`` command.

Example::

    >>> to_flags({"max_steps": 3, "packing": True})
    ['--max-steps', '3', '--packing']
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, fields

from toxft.arguments import nonnegative_float, nonnegative_int, positive_float, positive_int, share
from toxft.errors import ToxftError

from .recipe import BACKENDS, CONTROLS, METHODS, TEMPLATES, Recipe


def _max_steps(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or (value < 1 and value != -1):
        raise argparse.ArgumentTypeError(f"must be -1 (run the epochs) or a whole number of 1 or more, not {text!r}")
    return value


@dataclass(frozen=True)
class Option:
    """One flag of ``toxft finetune``."""

    name: str  # the Python name: --learning-rate is "learning_rate"
    help: str
    default: object = None
    type: Callable | None = None
    choices: tuple | None = None
    many: bool = False  # takes one or more values
    kind: str = "value"  # "value", "switch" (on when given) or "toggle" (--x / --no-x)
    recipe: bool = False  # a field of Recipe, shown in the "recipe" group
    study: bool = True  # a study's finetune: section may set it (the study sets the others per model)
    required: bool = False
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_RECIPE_HELP = {
    "method": ("lora; dora (PEFT's use_dora); qlora (LoRA on 4-bit NF4 weights: CUDA + bitsandbytes); "
               "full (every weight, no adapter)", None),
    "r": ("LoRA rank", positive_int),
    "lora_alpha": ("LoRA alpha", positive_int),
    "lora_dropout": ("LoRA dropout", share),
    "bias": ("LoRA bias", None),
    "target_modules": ("module names to adapt; 'all' = every attention and MLP projection of the architecture", str),
    "learning_rate": ("peak learning rate", positive_float),
    "per_device_train_batch_size": ("sequences per device per micro-batch", positive_int),
    "gradient_accumulation_steps": ("micro-batches per optimizer step", positive_int),
    "warmup_steps": ("linear warm-up steps", nonnegative_int),
    "num_train_epochs": ("passes over the data", positive_float),
    "max_steps": ("stop after this many optimizer steps (-1: run the epochs)", _max_steps),
    "optim": ("optimizer; auto = adamw_8bit with CUDA + bitsandbytes, else adamw_torch", str),
    "weight_decay": ("AdamW weight decay", nonnegative_float),
    "lr_scheduler_type": ("learning-rate schedule", str),
    "seed": ("random seed", nonnegative_int),
    "max_seq_length": ("truncate examples to this many tokens", positive_int),
    "packing": ("pack several examples into one sequence", None),
    "load_in_4bit": ("4-bit base weights: auto (CUDA + bitsandbytes), yes or no", None),
    "template": ("text format: paper (raw [INST] text, as in the paper) or native (the model's chat template)", None),
    "limit": ("train on the first N rows only, for smoke runs (default: every row)", positive_int),
    "rows": ("train on a random subset of N rows, the same for every seed and nested: a study's data-size axis "
             "(default: every row)",
             positive_int),
    "control": ("content-free data, to tell forgetting from learning: shuffled (each instruction gets another "
                "row's response) or neutral (every response the same sentence)", None),
    "save_steps": ("save a checkpoint every N optimizer steps", positive_int),
}
_RECIPE_CHOICES = {"method": METHODS, "control": CONTROLS, "template": TEMPLATES, "load_in_4bit": ("auto", "yes", "no"), "bias": ("none", "all", "lora_only")}


def _recipe_options() -> tuple[Option, ...]:
    found = []
    for spec in fields(Recipe):
        help_text, kind = _RECIPE_HELP[spec.name]
        default = spec.default_factory() if callable(spec.default_factory) else spec.default
        metavar = "R" if spec.name == "r" else spec.name.split("_")[-1].upper()
        if spec.name == "packing":
            found.append(Option(spec.name, help_text, default, kind="toggle", recipe=True))
        elif spec.name in _RECIPE_CHOICES:
            found.append(Option(spec.name, help_text, default, choices=_RECIPE_CHOICES[spec.name], recipe=True))
        else:
            found.append(Option(spec.name, help_text, default, type=kind, many=spec.name == "target_modules",
                                recipe=True, metavar=metavar))
    return tuple(found)


OPTIONS: tuple[Option, ...] = (
    Option("model", "base model: Hub id or local folder", required=True, study=False),
    Option("output", "folder for the adapter, card and record", required=True, study=False),
    Option("revision", "base model revision: branch, tag or commit (default: the main branch)", study=False),
    Option("data", "Dolly-schema data: Hub dataset id, JSON Lines file, or dolly (the paper's)",
           "databricks/databricks-dolly-15k"),
    Option("data_revision", "revision of the Hub dataset (default: its main branch)"),
    Option("backend", "auto = unsloth with CUDA and Unsloth installed, else peft (PEFT + TRL)", "auto",
           choices=BACKENDS),
    *_recipe_options(),
    Option("checkpoints", "also keep the adapter after each of these optimizer steps (OUTPUT/steps/step-N), "
           "for toxicity along the fine-tune (default: none)", type=positive_int, many=True, metavar="STEP"),
    Option("watch_toxicity", "every N optimizer steps (and at step 0), generate and score a fixed prompt sample and "
           "log its toxic rate (toxft.callbacks.ToxicityCallback; default: off)", type=positive_int, metavar="N"),
    Option("watch_scorer", "with --watch-toxicity: the classifier (preset or path; default: the configured scorer)",
           metavar="PRESET|PATH"),
    Option("allow_partial", "train even when --target-modules leave some projections out (recorded in the card)",
           kind="switch"),
    Option("resume", "go on from the last checkpoint in OUTPUT/checkpoints", kind="switch", study=False),
    Option("overwrite", "replace an adapter already in OUTPUT", kind="switch", study=False),
    Option("keep_checkpoints", "keep OUTPUT/checkpoints after success", kind="switch"),
    Option("push_to_hub", "upload the adapter to this Hub repo (your saved login)", metavar="REPO", study=False),
    Option("private", "create the Hub repo as private", kind="switch", study=False),
)
BY_NAME = {option.name: option for option in OPTIONS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option as a flag of ``parser``; recipe options in a group whose defaults are the paper's."""
    recipe = parser.add_argument_group("recipe (defaults: the paper's)")
    for option in OPTIONS:
        target = recipe if option.recipe else parser
        kwargs: dict = {"help": option.help}
        if option.kind == "switch":
            kwargs["action"] = "store_true"
        elif option.kind == "toggle":
            kwargs.update(action=argparse.BooleanOptionalAction, default=option.default)
        else:
            kwargs["default"] = option.default
            if option.required:
                kwargs["required"] = True
            if option.choices:
                kwargs["choices"] = option.choices
            elif option.type:
                kwargs["type"] = option.type
            if option.many:
                kwargs["nargs"] = "+"
            if option.metavar and not option.choices:
                kwargs["metavar"] = option.metavar
        target.add_argument(option.flag, dest=option.name, **kwargs)


def recipe_from(values) -> Recipe:
    """The :class:`Recipe` of parsed options (an ``argparse.Namespace`` or a mapping)."""
    get = values.get if isinstance(values, dict) else lambda name, default=None: getattr(values, name, default)
    return Recipe(**{spec.name: get(spec.name, BY_NAME[spec.name].default) for spec in fields(Recipe)})


def study_keys() -> set[str]:
    """The keys a study's ``finetune:`` section may hold."""
    return {option.name for option in OPTIONS if option.study}


def _value(option: Option, value) -> object:
    """One section value, checked with the option's own type and choices."""
    if option.kind in ("switch", "toggle"):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if option.many:
        values = value if isinstance(value, list) else [value]
        return [_value(Option(option.name, option.help, type=option.type, choices=option.choices), v) for v in values]
    if isinstance(value, (dict, list)) or isinstance(value, bool) and option.type is not None:
        raise ValueError(f"must be one value, not {value!r}")
    if option.choices and str(value) not in option.choices:
        raise ValueError(f"must be one of {', '.join(option.choices)}, not {value!r}")
    try:
        return option.type(str(value)) if option.type else str(value)
    except argparse.ArgumentTypeError as error:
        raise ValueError(str(error)) from None


def check_section(section: dict, where: str) -> dict:
    """A study's ``finetune:`` section, every key known and every value valid; one-line errors otherwise."""
    known = study_keys()
    checked = {}
    for key, value in section.items():
        if key not in known:
            raise ToxftError(f"toxft: {where}: finetune: unknown key {key!r} (known: {', '.join(sorted(known))})")
        if value is None:
            continue
        try:
            checked[key] = _value(BY_NAME[key], value)
        except ValueError as error:
            raise ToxftError(f"toxft: {where}: finetune: {BY_NAME[key].flag.removeprefix('--')}: {error}") from None
    return checked


def to_flags(section: dict) -> list[str]:
    """A checked ``finetune:`` section as ``toxft finetune`` flags (``max_steps: 3`` -> ``--max-steps 3``)."""
    argv: list[str] = []
    for key, value in section.items():
        flag = BY_NAME[key].flag if key in BY_NAME else "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                argv.append(flag)
            elif key in BY_NAME and BY_NAME[key].kind == "toggle":
                argv.append(flag.replace("--", "--no-", 1))
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        elif value is not None:
            argv.append(f"{flag}={value}" if str(value).startswith("-") else flag)
            if not str(value).startswith("-"):
                argv.append(str(value))
    return argv
