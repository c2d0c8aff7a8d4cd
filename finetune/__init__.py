"""Dolly LoRA fine-tuning as in the paper (imported as ``toxft.finetune``).

``recipe`` holds the paper's hyperparameters, ``dolly`` the data and text formats,
``targets`` the LoRA coverage check, ``train`` the backends and training loop,
``card`` the adapter's model card, ``cli`` the ``toxft finetune`` command.
Python use: ``from toxft.finetune.train import finetune``.
"""
