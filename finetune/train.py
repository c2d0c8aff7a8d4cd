"""Train one LoRA adapter: pick the backend, load the model, train with TRL, save adapter and record."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from toxft.errors import ToxftError

from . import methods
from .dolly import control_rows, encode, load_dolly, paper_format, subset
from .recipe import Recipe
from .targets import adapted_modules, resolve_targets

RECORD_FILE = "toxft_finetune.json"
CHECKPOINTS = "checkpoints"
STEPS = "steps"  # OUTPUT/steps/step-N: the adapter after N optimizer steps (--checkpoints)


class FinetuneError(ToxftError):
    """A fine-tune cannot start or cannot finish."""


@dataclass
class FinetuneResult:
    """What a finished fine-tune produced and how it went."""

    output: Path
    base_model: str
    backend: str
    modules: dict[str, int]
    losses: list[tuple[int, float]]
    record: dict = field(default_factory=dict)
    main: bool = True  # False in the other processes of a multi-process run: they wrote nothing and say nothing


def choose_backend(requested: str = "auto", method: str = "lora") -> str:
    """``unsloth`` when asked for or (auto) when CUDA and Unsloth are both there, else ``peft``.

    DoRA and full fine-tuning go through PEFT and the Trainer: Unsloth's fast path is for (Q)LoRA.
    """
    import torch

    cuda = torch.cuda.is_available()
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    unsloth_ok = "unsloth" in methods.method(method).backends
    if requested == "auto":
        return "unsloth" if cuda and has_unsloth and unsloth_ok else "peft"
    if requested == "unsloth":
        if not unsloth_ok:
            raise FinetuneError(f"toxft: --method {method} trains through PEFT; use --backend peft or auto")
        if not cuda:
            raise FinetuneError("toxft: --backend unsloth needs a CUDA GPU (use --backend peft on this machine)")
        if not has_unsloth:
            raise FinetuneError("toxft: --backend unsloth needs Unsloth: pip install 'toxft[unsloth]'")
    elif requested != "peft":
        raise FinetuneError(f"toxft: unknown backend {requested!r} (auto, unsloth or peft)")
    return requested


def prepare_backend(backend: str) -> None:
    """Import Unsloth first when it is the backend: it patches transformers, TRL and PEFT on import."""
    if backend == "unsloth":
        if "transformers" in sys.modules:
            print("toxft: note: transformers was imported before Unsloth; some speed-ups may be off", file=sys.stderr)
        import unsloth  # noqa: F401


def _cuda_with_bitsandbytes() -> bool:
    """Whether 4-bit weights and 8-bit AdamW can be had here."""
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


def _quantize(recipe: Recipe) -> bool:
    """Whether the base weights are loaded in 4 bits: as the method's policy says (qlora always, full never), else as
    --load-in-4bit says."""
    wanted, method, policy = recipe.load_in_4bit, recipe.method, methods.method(recipe.method).four_bit
    available = _cuda_with_bitsandbytes()
    if policy == "always":
        if wanted == "no":
            raise FinetuneError("toxft: --method qlora trains on 4-bit weights; drop --load-in-4bit no")
        if not available:
            raise FinetuneError("toxft: --method qlora needs a CUDA GPU and bitsandbytes (pip install bitsandbytes); "
                                "this machine has " + ("no CUDA GPU" if not _has_cuda() else "no bitsandbytes"))
        return True
    if policy == "never":
        if wanted == "yes":
            raise FinetuneError("toxft: --method full trains every weight and cannot train 4-bit ones; "
                                "drop --load-in-4bit yes (or use --method qlora)")
        return False
    if wanted == "auto":
        return available
    if wanted == "yes" and not available:
        raise FinetuneError("toxft: --load-in-4bit yes needs a CUDA GPU and bitsandbytes")
    return wanted == "yes"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _optimizer(recipe: Recipe) -> str:
    if recipe.optim != "auto":
        return recipe.optim
    return "adamw_8bit" if _cuda_with_bitsandbytes() else "adamw_torch"


def _dtype():
    import torch

    if not torch.cuda.is_available():
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def load_model(model_id: str, revision: str | None, recipe: Recipe, backend: str, allow_partial: bool,
               four_bit: bool):
    """(model, tokenizer, target names) with LoRA or DoRA on the resolved projections, or every weight trainable
    for ``full``; ``four_bit`` loads the base weights in 4 bits (:func:`_quantize`)."""
    from transformers import set_seed

    # Seed before the LoRA matrices are drawn: the Trainer seeds only later, so without this
    # the adapter's starting point depends on whatever used the RNG earlier in the process.
    set_seed(recipe.seed)
    if model_id.startswith((".", "/", "~")) and not Path(model_id).expanduser().is_dir():
        raise FinetuneError(f"toxft: no such model folder: {model_id}")
    try:
        if backend == "unsloth":
            from unsloth import FastLanguageModel

            model, tokenizer = FastLanguageModel.from_pretrained(
                model_name=model_id, revision=revision, max_seq_length=recipe.max_seq_length,
                dtype=None, load_in_4bit=four_bit,
            )
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

            quantization = None
            if four_bit:
                quantization = BitsAndBytesConfig(
                    load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=_dtype(),
                )
            tokenizer = AutoTokenizer.from_pretrained(model_id, revision=revision)
            model = AutoModelForCausalLM.from_pretrained(
                model_id, revision=revision, dtype=_dtype(), quantization_config=quantization
            )
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FinetuneError(f"toxft: cannot load model {model_id}: {first_line}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not methods.method(recipe.method).adapter:
        model.requires_grad_(True)
        return model, tokenizer, []
    targets = resolve_targets(model, recipe.target_modules, allow_partial)
    lora = dict(r=recipe.r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                bias=recipe.bias, target_modules=targets)
    if backend == "unsloth":
        model = FastLanguageModel.get_peft_model(
            model, **lora, use_gradient_checkpointing="unsloth", random_state=recipe.seed
        )
    else:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if four_bit:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", use_dora=recipe.method == "dora", **lora))
    return model, tokenizer, targets


def _loss_bar():
    from transformers import TrainerCallback

    from toxft.progress import progress

    class LossBar(TrainerCallback):
        """One progress bar over optimizer steps, showing the latest training loss."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.shown: dict[str, str] = {}
            # One bar for the run, however many processes train it.
            self.bar = progress(total=state.max_steps, initial=state.global_step, desc="toxft: fine-tuning", unit="step",
                                disable=not state.is_world_process_zero)

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.shown["loss"] = f"{logs['loss']:.4f}"
            if logs and "toxicity/toxic_rate" in logs:  # --watch-toxicity
                self.shown["toxic"] = f"{100 * logs['toxicity/toxic_rate']:.1f}%"
            if self.shown:
                self.bar.set_postfix(**self.shown)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return LossBar()


def step_folder(output: Path, step: int) -> Path:
    """Where ``--checkpoints`` keeps the adapter after ``step`` optimizer steps."""
    return Path(output) / STEPS / f"step-{step}"


def _keep_adapters(steps: list[int], folder: Path, trainer):
    """A callback that saves the adapter (and tokenizer) after each listed optimizer step."""
    from transformers import TrainerCallback

    class KeepAdapters(TrainerCallback):
        """Saves OUTPUT/steps/step-N after optimizer step N, for each N asked for."""

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            if state.global_step in steps:
                target = folder / f"step-{state.global_step}"
                save_weights(trainer, target)
                if processing_class is not None and state.is_world_process_zero:
                    processing_class.save_pretrained(target)

    return KeepAdapters()


def save_weights(trainer, folder: Path) -> None:
    """The adapter (or the whole model) into ``folder``, written once; every process must call it: with sharded
    weights (FSDP, DeepSpeed ZeRO-3) the trainer gathers them first."""
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        trainer.save_model(str(folder))
    elif trainer.is_world_process_zero():
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(folder)
    trainer.accelerator.wait_for_everyone()


def _quiet_library_deprecations() -> None:
    """Hide transformers' notices that TRL and PEFT call its renamed checkpointing API: nothing the user can change."""
    import warnings

    for message in (r"`is_gradient_checkpointing` is deprecated", r"`gradient_checkpointing(_kwargs)?` is deprecated"):
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)


def finished(output: Path) -> bool:
    """Whether ``output`` holds a finished fine-tune: an adapter, or a fully fine-tuned model with its record."""
    output = Path(output)
    return (output / "adapter_config.json").is_file() or (
        (output / "config.json").is_file() and (output / RECORD_FILE).is_file())


def check_output(output: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to overwrite a finished adapter, or to start afresh over an interrupted run."""
    has_adapter = finished(output)
    has_checkpoints = any((output / CHECKPOINTS).glob("checkpoint-*"))
    if output.exists() and not output.is_dir():
        raise FinetuneError(f"toxft: {output} exists and is not a folder")
    if resume and not has_checkpoints:
        raise FinetuneError(f"toxft: --resume: no checkpoint in {output / CHECKPOINTS}")
    if has_adapter and not (overwrite or resume):
        raise FinetuneError(f"toxft: {output} already holds an adapter (use --overwrite to replace it)")
    if has_checkpoints and not (resume or overwrite):
        raise FinetuneError(f"toxft: {output} holds checkpoints of an unfinished run (use --resume to go on)")


def library_versions(backend: str) -> dict[str, str]:
    """Versions of the libraries that shaped the adapter."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["toxft", "torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes"]
    if backend == "unsloth":
        names.append("unsloth")
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def finetune(
    model_id: str,
    output: str | Path,
    recipe: Recipe | None = None,
    *,
    data: str = "databricks/databricks-dolly-15k",
    data_revision: str | None = None,
    revision: str | None = None,
    backend: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    allow_partial: bool = False,
    keep_checkpoints: bool = False,
    checkpoints: list[int] | None = None,
    watch_toxicity: int | None = None,
    watch_scorer: str | None = None,
    callbacks: list | None = None,
) -> FinetuneResult:
    """Fine-tune ``model_id`` with LoRA on Dolly rows and save the adapter, record and card in ``output``."""
    recipe = recipe or Recipe()
    output = Path(output)
    check_output(output, resume, overwrite)
    _quiet_library_deprecations()
    backend = choose_backend(backend, recipe.method)
    four_bit = _quantize(recipe)  # a method and 4-bit setting that contradict each other stop before anything loads
    prepare_backend(backend)
    rows = control_rows(subset(load_dolly(data, data_revision, recipe.limit), recipe.rows, data), recipe.control)
    model, tokenizer, targets = load_model(model_id, revision, recipe, backend, allow_partial, four_bit)
    modules = dict(sorted(adapted_modules(model).items()))
    if methods.method(recipe.method).adapter and sorted(modules) != sorted(targets):
        raise FinetuneError(f"toxft: LoRA landed on {sorted(modules)}, expected {targets}")

    import datasets
    import torch
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    dataset = datasets.Dataset.from_list(rows).map(
        lambda row: {"input_ids": encode(row, tokenizer, recipe.template, recipe.max_seq_length)},
        remove_columns=list(rows[0].keys()), desc=f"tokenizing ({recipe.template} template)",
    )
    optim = _optimizer(recipe)
    dtype = _dtype()
    config = SFTConfig(
        output_dir=str(output / CHECKPOINTS),
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        warmup_steps=recipe.warmup_steps,
        num_train_epochs=recipe.num_train_epochs,
        max_steps=recipe.max_steps,
        learning_rate=recipe.learning_rate,
        optim=optim,
        weight_decay=recipe.weight_decay,
        lr_scheduler_type=recipe.lr_scheduler_type,
        seed=recipe.seed,
        max_length=recipe.max_seq_length,
        packing=recipe.packing,
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        # Checkpointing trades compute for GPU memory; on a CPU it only recomputes (same gradients, slower).
        gradient_checkpointing=torch.cuda.is_available(),
        logging_steps=1,
        save_steps=recipe.save_steps,
        save_total_limit=2,
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[_loss_bar(), *(callbacks or [])])
    if checkpoints:
        trainer.add_callback(_keep_adapters(sorted(set(checkpoints)), output / STEPS, trainer))
    if watch_toxicity:
        from toxft.callbacks import ToxicityCallback

        trainer.add_callback(ToxicityCallback(trainer=trainer, every_steps=watch_toxicity, scorer=watch_scorer))
    trainer.remove_callback(PrinterCallback)
    from transformers.trainer_utils import get_last_checkpoint

    resumed_from = get_last_checkpoint(str(output / CHECKPOINTS)) if resume else None
    main = trainer.is_world_process_zero()
    if overwrite and not resume and main:  # adapters of the run being replaced are not this run's
        shutil.rmtree(output / STEPS, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resumed_from)
    seconds = time.perf_counter() - started

    losses = [(entry["step"], float(entry["loss"])) for entry in trainer.state.log_history
              if "loss" in entry and math.isfinite(entry["loss"])]
    record = {
        "base_model": model_id,
        "base_model_revision": revision,
        "dataset": data,
        "dataset_revision": data_revision,
        "rows": len(rows),
        "method": recipe.method,
        "control": recipe.control,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "peak_memory_mb": peak_memory_mb(),
        "backend": backend,
        "load_in_4bit": four_bit,
        "optim": optim,
        "dtype": str(dtype).removeprefix("torch."),
        "recipe": recipe.as_dict(),
        "template_format": paper_format(tokenizer) if recipe.template == "paper" else "the tokenizer's chat template",
        "target_modules": targets,
        "adapted_modules": modules,
        "steps": trainer.state.global_step,
        "processes": trainer.accelerator.num_processes,
        "checkpoints": [n for n in sorted(set(checkpoints or [])) if step_folder(output, n).is_dir()],
        "resumed_from": resumed_from,
        "train_seconds": round(seconds, 2),
        "loss": loss_summary(losses),
        "loss_history": losses,
        "toxicity_history": [{key.removeprefix("toxicity/"): value for key, value in entry.items()
                              if key.startswith("toxicity/") or key == "step"}
                             for entry in trainer.state.log_history if "toxicity/toxic_rate" in entry],
        "versions": library_versions(backend),
    }
    save_weights(trainer, output)
    if main:
        tokenizer.save_pretrained(output)
        (output / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
        from .card import write_card

        write_card(output, record)
        if not keep_checkpoints:
            shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return FinetuneResult(output, model_id, backend, modules, losses, record, main)


def peak_memory_mb() -> float:
    """Peak memory of the training so far: the GPU's allocated bytes with CUDA, else this process's resident set."""
    import resource

    import torch

    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20, 1)


def loss_summary(losses: list[tuple[int, float]]) -> dict:
    """First, last, lowest and mean-of-last-tenth training loss."""
    if not losses:
        return {}
    values = [loss for _, loss in losses]
    tail = values[-max(1, len(values) // 10):]
    return {"first": values[0], "last": values[-1], "min": min(values), "final_mean": sum(tail) / len(tail),
            "logged_steps": len(values)}
