"""The adapter's model card (README.md) and its upload to the Hub."""

from __future__ import annotations

from pathlib import Path

from . import methods


_TEMPLATE_NOTE = {
    "paper": "the paper's raw `[INST] instruction [/INST] response` text (no chat template)",
    "native": "the base model's own chat template (user: instruction + context, assistant: response)",
}


def card_text(record: dict) -> str:
    """The README.md of an adapter folder: Hub metadata plus what was trained, how, and how it went."""
    from huggingface_hub import ModelCard, ModelCardData

    recipe = record["recipe"]
    method = recipe.get("method", "lora")
    chosen = methods.method(method)
    full = not chosen.adapter
    data = ModelCardData(
        base_model=record["base_model"],
        datasets=[record["dataset"]] if "/" in record["dataset"] and not Path(record["dataset"]).exists() else None,
        library_name="transformers" if full else "peft",
        pipeline_tag="text-generation",
        tags=["toxft", method, "sft", "trl", f"backend:{record['backend']}"],
    )
    hyper = {
        "method": method,
        "LoRA r / alpha / dropout / bias": f"{recipe['r']} / {recipe['lora_alpha']} / {recipe['lora_dropout']} / {recipe['bias']}",
        "learning rate": recipe["learning_rate"],
        "batch size × gradient accumulation": f"{recipe['per_device_train_batch_size']} × {recipe['gradient_accumulation_steps']}",
        "warm-up steps": recipe["warmup_steps"],
        "epochs / max steps": f"{recipe['num_train_epochs']} / {recipe['max_steps']}",
        "optimizer": record["optim"],
        "weight decay": recipe["weight_decay"],
        "schedule": recipe["lr_scheduler_type"],
        "seed": recipe["seed"],
        "max sequence length": recipe["max_seq_length"],
        "packing": recipe["packing"],
        "4-bit base weights": record["load_in_4bit"],
        "compute dtype": record["dtype"],
        "rows trained on": record["rows"],
        "control data": recipe.get("control", "none"),
        "optimizer steps": record["steps"],
    }
    if full:
        hyper.pop("LoRA r / alpha / dropout / bias")
    loss = record.get("loss") or {}
    title = chosen.title
    load = "pretrained=<this model>" if full else f"pretrained={record['base_model']},peft=<this adapter>"
    modules = ("- Every weight trained." if full else
               "- Adapted modules: " + ", ".join(f"`{name}` ×{count}" for name, count in record["adapted_modules"].items()))
    lines = [
        f"# {title} for {record['base_model']} on {record['dataset']}",
        "",
        "Trained with `toxft finetune`, the recipe of Hawkins, Mittelstadt & Russell (2024), "
        "*The effect of fine-tuning on language model toxicity*. That study found that small, benign "
        "fine-tunes like this one can undo a model's toxicity mitigations: evaluate it before use, e.g.",
        "",
        "```bash",
        f"lm_eval --model hf --model_args {load} \\",
        "    --tasks toxft --include_path $(toxft tasks-path) --log_samples --output_path results/",
        "```",
        "",
        "## Training",
        "",
        f"- Template: `{recipe['template']}`, {_TEMPLATE_NOTE[recipe['template']]}"
        + (f", as this tokenizer writes it: `{record['template_format']}`" if record.get("template_format") else "")
        + ". Loss on every token.",
        f"- Backend: `{record['backend']}`.",
        modules,
        "",
        "| hyperparameter | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in hyper.items()],
        "",
        "## Training loss",
        "",
        (f"First {loss['first']:.4f}, last {loss['last']:.4f}, lowest {loss['min']:.4f}, "
         f"mean of the last tenth {loss['final_mean']:.4f} over {loss['logged_steps']} logged steps "
         f"({record['train_seconds']} s)." if loss else "No loss was logged."),
        "",
        "## Library versions",
        "",
        ", ".join(f"{name} {version}" for name, version in record["versions"].items()) + ".",
        "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)).content


def write_card(folder: Path, record: dict) -> Path:
    """Write the card into the adapter folder."""
    path = Path(folder) / "README.md"
    path.write_text(card_text(record))
    return path



