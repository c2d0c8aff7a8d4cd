"""The paper's fine-tuning recipe as one typed record, every value overridable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from toxft.data import DEFAULT_SEED

from .methods import METHODS as _METHODS

# "all" means every linear projection inside the decoder layers, whatever the
# architecture calls it (q/k/v/o + gate/up/down, or fused qkv_proj/gate_up_proj).
ALL_PROJECTIONS = "all"
PAPER_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TEMPLATES = ("paper", "native")
BACKENDS = ("auto", "unsloth", "peft")
# lora: LoRA on the weights as --load-in-4bit says (auto: 4-bit with CUDA + bitsandbytes, the paper's set-up);
# qlora: LoRA on NF4 4-bit weights always; dora: weight-decomposed LoRA (PEFT's use_dora); full: every weight.
# What each one is (adapter or model, 4-bit policy, what it reads, backends): finetune.methods.
METHODS = tuple(_METHODS)
# Data that carries no instruction-response content, to tell forgetting from learning (finetune.dolly.control_rows).
CONTROLS = ("none", "shuffled", "neutral")


@dataclass
class Recipe:
    """LoRA and trainer settings; the defaults are the paper's (Unsloth's Dolly notebook)."""

    method: str = "lora"
    r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    bias: str = "none"
    target_modules: list[str] = field(default_factory=lambda: [ALL_PROJECTIONS])
    learning_rate: float = 2e-4
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 8
    warmup_steps: int = 5
    num_train_epochs: float = 1.0
    max_steps: int = -1
    optim: str = "auto"  # adamw_8bit with bitsandbytes on CUDA, else adamw_torch
    weight_decay: float = 0.01
    lr_scheduler_type: str = "linear"
    seed: int = DEFAULT_SEED
    max_seq_length: int = 2048
    packing: bool = False
    load_in_4bit: str = "auto"  # on when CUDA and bitsandbytes are there
    template: str = "paper"
    limit: int | None = None
    rows: int | None = None  # a seeded random subset of this many rows (nested: 1,000 rows are within 5,000)
    control: str = "none"
    save_steps: int = 100

    def as_dict(self) -> dict:
        return asdict(self)
