"""A study as command lines: one fine-tune per Dolly model, one harness run per model."""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from toxft.study.config import ModelEntry, Study, finetune_flags


@dataclass
class Step:
    """One job: a ``toxft finetune`` or an ``lm_eval`` command and the folder it fills."""

    kind: str  # "finetune" or "evaluate"
    entry: ModelEntry
    argv: list[str]  # as a user would type it: starts with "toxft" or "lm_eval"
    output: Path
    # A Hub adapter pinned by `plan --check`: (repo id, commit). The job fetches it at that commit
    # and the harness loads that copy, since the harness would load an adapter at the base's revision.
    adapter_pin: tuple[str, str] | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.entry.name}"

    @property
    def log_name(self) -> str:
        return f"{self.kind}-{self.entry.slug}.log"

    def shell(self) -> str:
        return shlex.join(self.argv)

    def executable_argv(self, adapter_folder: str | None = None) -> list[str]:
        """The same command through this Python, so jobs use the environment the study runs in.

        ``adapter_folder`` replaces the pinned Hub adapter's id by the copy fetched at its commit.
        """
        module = {"toxft": "toxft.cli", "lm_eval": "lm_eval"}[self.argv[0]]
        argv = self.argv[1:]
        if adapter_folder and self.adapter_pin:
            argv = [a.replace(f"peft={self.adapter_pin[0]}", f"peft={adapter_folder}") for a in argv]
        return [sys.executable, "-m", module, *argv]

    def done(self) -> bool:
        """Whether an earlier run already produced this step's output."""
        if self.kind == "finetune":
            return (self.output / "adapter_config.json").is_file()
        from toxft.runs import TASKS, RunError, load_run

        try:
            run = load_run(self.output)
        except RunError:
            return False
        return all(task in run.samples for task in TASKS.values())

    def interrupted(self) -> bool:
        """A fine-tune that left checkpoints but no adapter: it goes on with --resume."""
        return self.kind == "finetune" and not self.done() and any((self.output / "checkpoints").glob("checkpoint-*"))


def adapter_folder(entry: ModelEntry, root: Path) -> Path:
    return root / "adapters" / entry.slug


def results_folder(entry: ModelEntry, root: Path) -> Path:
    """OUTPUT/results/<name>, or the folder the study names (``results:``, e.g. toxft check's cache)."""
    return Path(entry.results) if entry.results else root / "results" / entry.slug


def _finetune_argv(study: Study, entry: ModelEntry, output: Path, revision: str | None) -> list[str]:
    argv = ["toxft", "finetune", "--model", entry.model, "--output", str(output)]
    if revision:
        argv += ["--revision", revision]
    return argv + finetune_flags(study.finetune)


def _model_args(study: Study, entry: ModelEntry, adapter: str | None, revision: str | None) -> str:
    args = {"pretrained": entry.model}
    if revision:
        args["revision"] = revision
    if adapter:
        args["peft"] = adapter
    args.update(study.harness.get("model_args") or {})
    args.update(entry.model_args)
    return ",".join(f"{key}={value}" for key, value in args.items())


def _evaluate_argv(study: Study, entry: ModelEntry, output: Path, adapter: str | None,
                   revision: str | None) -> list[str]:
    from toxft import tasks_path

    harness = study.harness
    argv = ["lm_eval", "--model", str(harness.get("model", "hf")),
            "--model_args", _model_args(study, entry, adapter, revision),
            "--tasks", "toxft", "--include_path", str(tasks_path()), "--log_samples",
            "--output_path", str(output), "--batch_size", str(harness.get("batch_size", "auto"))]
    if harness.get("apply_chat_template"):
        argv.append("--apply_chat_template")
    if harness.get("metadata"):
        argv += ["--metadata", json.dumps(harness["metadata"], sort_keys=True)]
    if harness.get("limit"):
        argv += ["--limit", str(harness["limit"])]
    argv += [str(a) for a in harness.get("extra_args", [])]
    # The harness's request cache saves each continuation as it is generated, so an interrupted
    # evaluation goes on where it stopped; keyed by the command, so a changed model never reuses it.
    key = hashlib.sha256(json.dumps(argv).encode()).hexdigest()[:12]
    argv += ["--use_cache", str(output.parent.parent / "cache" / f"{output.name}-{key}")]
    return argv


def plan(study: Study, root: str | Path, adapter_pins: dict[str, str] | None = None) -> list[Step]:
    """Every step of the study in order: fine-tunes first, then evaluations.

    Commits pinned by ``toxft study plan --check`` (OUTPUT/pins.json) become the revisions. A
    pinned Hub adapter is fetched at its commit when its step runs; an unpinned one is loaded by
    the harness with the base model's revision, so the base is then left unpinned too.
    ``adapter_pins`` adds adapter commits resolved by the caller (``toxft check``).
    """
    from toxft.hub import is_local
    from toxft.study.preflight import read_pins

    root = Path(root).resolve()
    pinned = read_pins(root)
    pins, adapter_pins = pinned.get("models", {}), {**pinned.get("adapters", {}), **(adapter_pins or {})}
    finetunes, evaluations = [], []
    for entry in study.models():
        adapter = entry.peft
        revision = entry.revision or pins.get(entry.model)
        if entry.role == "dolly" and not entry.peft:
            folder = adapter_folder(entry, root)
            finetunes.append(Step("finetune", entry, _finetune_argv(study, entry, folder, revision), folder))
            adapter = str(folder)
        pin = (adapter, adapter_pins[adapter]) if adapter and adapter in adapter_pins else None
        if adapter and entry.peft_revision and not is_local(adapter):  # the study's own pin wins
            pin = (adapter, entry.peft_revision)
        if adapter and not is_local(adapter) and not entry.revision and not pin:
            revision = None
        output = results_folder(entry, root)
        evaluations.append(Step("evaluate", entry, _evaluate_argv(study, entry, output, adapter, revision), output,
                                pin))
    return finetunes + evaluations
