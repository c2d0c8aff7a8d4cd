"""Dolly LoRA fine-tuning as in the paper (imported as ``toxft.finetune``)."""
