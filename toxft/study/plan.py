"""A study as command lines: one fine-tune per Dolly model, one harness run per model, one rescore per extra scorer.

With ``analysis: {scorers: [A, B, ...]}`` every harness run scores its continuations with A, and a
``toxft rescore`` step per model scores the same continuations with each of the others (no second
generation), into ``<results>@<scorer>`` beside the first.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from toxft.finetune.methods import effective, method
from toxft.finetune.options import to_flags
from toxft.gguf import is_gguf
from toxft.gguf import model_args as gguf_model_args
from toxft.study.config import ModelEntry, Study

KINDS = ("finetune", "evaluate", "rescore")


@dataclass
class Step:
    """One job: a ``toxft finetune``, an ``lm_eval`` or a ``toxft rescore`` command and the folder it fills."""

    kind: str  # one of KINDS
    entry: ModelEntry
    argv: list[str]  # as a user would type it: starts with "toxft" or "lm_eval"
    output: Path
    # A Hub adapter pinned by `plan --check`: (repo id, commit). The job fetches it at that commit
    # and the harness loads that copy, since the harness would load an adapter at the base's revision.
    adapter_pin: tuple[str, str] | None = None
    scorer: str | None = None  # a rescore step's classifier
    parent: ModelEntry | None = None  # a checkpoint's evaluation: the Dolly model whose fine-tune saves it

    @property
    def label(self) -> str:
        return f"{self.kind} {self.entry.name}{self.scorer_suffix}"

    @property
    def scorer_suffix(self) -> str:
        return f" @ {self.scorer}" if self.scorer else ""

    @property
    def log_name(self) -> str:
        suffix = f"@{scorer_slug(self.scorer)}" if self.scorer else ""
        return f"{self.kind}-{self.entry.slug}{suffix}.log"

    def describe(self) -> str:
        """What the step does, in a few words, for progress lines."""
        if self.kind == "rescore":
            return f"toxft rescore of {self.entry.name} with {self.scorer}"
        what = self.entry.model + (f" + {self.entry.peft}" if self.entry.peft else "")
        return f"{'lm_eval' if self.kind == 'evaluate' else 'toxft finetune'} for {what}"

    def shell(self) -> str:
        return shlex.join(self.argv)

    def program(self, adapter_folder: str | None = None) -> tuple[str, list[str]]:
        """(module, arguments) of the command; ``adapter_folder`` replaces the pinned Hub adapter's id."""
        module = {"toxft": "toxft.cli", "lm_eval": "lm_eval"}[self.argv[0]]
        argv = self.argv[1:]
        if adapter_folder and self.adapter_pin:
            argv = [a.replace(f"peft={self.adapter_pin[0]}", f"peft={adapter_folder}") for a in argv]
        return module, argv

    def executable_argv(self, adapter_folder: str | None = None) -> list[str]:
        """The command as a process of its own through this Python (the study's environment), prepared as a
        local step is: a toxft evaluation indexes only the toxft tasks."""
        module, argv = self.program(adapter_folder)
        return [sys.executable, "-m", "toxft.study.worker", "--step", module, *argv]

    def done(self) -> bool:
        """Whether an earlier run already produced this step's output."""
        if self.kind == "finetune":
            from toxft.finetune.train import finished

            return finished(self.output)
        from toxft.runs import RunError, load_run, suite_complete

        try:
            return suite_complete(load_run(self.output), languages_of_argv(self.argv))
        except RunError:
            return False

    def interrupted(self) -> bool:
        """A fine-tune that left checkpoints but no adapter: it goes on with --resume."""
        return self.kind == "finetune" and not self.done() and any((self.output / "checkpoints").glob("checkpoint-*"))


def adapter_folder(entry: ModelEntry, root: Path) -> Path:
    return root / "adapters" / entry.slug


def results_folder(entry: ModelEntry, root: Path) -> Path:
    """OUTPUT/results/<name>, or the folder the study names (``results:``, e.g. toxft check's cache)."""
    return Path(entry.results) if entry.results else root / "results" / entry.slug


def scorer_slug(spec: str) -> str:
    """A scorer as part of a folder name: a preset's name, or a folder's name with a short hash of its path."""
    from toxft.settings import PRESETS

    if spec in PRESETS:
        return spec
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.rstrip("/").split("/")[-1]).strip("_") or "scorer"
    return f"{name}-{hashlib.sha256(spec.encode()).hexdigest()[:8]}"


def scored_folder(results: Path, spec: str | None, scorers) -> Path:
    """Where a model's results under ``spec`` are: its harness run for the first scorer, else ``<results>@<scorer>``."""
    if spec is None or not scorers or spec == scorers[0]:
        return results
    return results.parent / f"{results.name}@{scorer_slug(spec)}"


def finetune_options(study: Study, entry: ModelEntry) -> dict:
    """The ``toxft finetune`` options of one Dolly model: the study's, then its grid cell's, without those its method
    ignores (``finetune.methods``: qlora always trains on 4-bit weights and full on unquantised ones, so neither
    takes ``load_in_4bit``; a full fine-tune takes no LoRA rank, alpha, dropout, bias or targets), as
    ``toxft study plan`` says."""
    return effective({**study.finetune, **(entry.cell or {})})


def is_full(study: Study, entry: ModelEntry) -> bool:
    """Whether this Dolly model is a full fine-tune: a model of its own, not an adapter on its base."""
    return (entry.role == "dolly" and not entry.peft
            and not method(finetune_options(study, entry).get("method", "lora")).adapter)


def _finetune_argv(study: Study, entry: ModelEntry, output: Path, revision: str | None) -> list[str]:
    argv = ["toxft", "finetune", "--model", entry.model, "--output", str(output)]
    if revision:
        argv += ["--revision", revision]
    return argv + to_flags(finetune_options(study, entry))


def _model_args(study: Study, entry: ModelEntry, adapter: str | None, revision: str | None,
                pretrained: str | None = None) -> str:
    args = {"pretrained": pretrained or entry.model}
    if is_gguf(args["pretrained"]):  # the harness loads a GGUF file as pretrained=<its folder>,gguf_file=<its name>
        args.update(gguf_model_args(args["pretrained"]))
    if revision and not pretrained:
        args["revision"] = revision
    if adapter:
        args["peft"] = adapter
    args.update(study.harness.get("model_args") or {})
    args.update(entry.model_args)
    return ",".join(f"{key}={value}" for key, value in args.items())


def _evaluate_argv(study: Study, entry: ModelEntry, output: Path, adapter: str | None,
                   revision: str | None, pretrained: str | None = None) -> list[str]:
    from toxft import tasks_path

    harness = study.harness
    argv = ["lm_eval", "--model", str(harness.get("model", "hf")),
            "--model_args", _model_args(study, entry, adapter, revision, pretrained),
            "--tasks", ",".join(evaluation_tasks(harness.get("languages") or ())), "--include_path", str(tasks_path()),
            "--log_samples",
            "--output_path", str(output), "--batch_size", str(harness.get("batch_size", "auto"))]
    if harness.get("apply_chat_template"):
        argv.append("--apply_chat_template")
    metadata = dict(harness.get("metadata") or {})
    if study.analysis.scorers:  # the first of several scorers scores the generation itself
        metadata["scorer"] = study.analysis.scorers[0]
    if metadata:
        argv += ["--metadata", json.dumps(metadata, sort_keys=True)]
    if harness.get("limit"):
        argv += ["--limit", str(harness["limit"])]
    argv += [str(a) for a in harness.get("extra_args", [])]
    # The harness's request cache saves each continuation as it is generated, so an interrupted
    # evaluation goes on where it stopped; keyed by the command, so a changed model never reuses it.
    key = hashlib.sha256(json.dumps(argv).encode()).hexdigest()[:12]
    argv += ["--use_cache", str(output.parent.parent / "cache" / f"{output.name}-{key}")]
    return argv


def evaluation_tasks(languages) -> list[str]:
    """The harness tasks of an evaluation: the toxft suite, then a PolygloToxicityPrompts group per language."""
    from toxft.suite import GROUP, ptp_group

    return [GROUP, *(ptp_group(lang) for lang in languages)]


def languages_of_argv(argv: list[str]) -> list[str]:
    """The PolygloToxicityPrompts languages an lm_eval command evaluates (its --tasks)."""
    tasks = argv[argv.index("--tasks") + 1].split(",") if "--tasks" in argv else []
    return [task.removeprefix("toxft_ptp_") for task in tasks if task.startswith("toxft_ptp_")]


def _rescore_steps(study: Study, evaluation: Step) -> list[Step]:
    scorers = study.analysis.scorers
    return [Step("rescore", evaluation.entry,
                 ["toxft", "rescore", str(evaluation.output), "--scorer", spec, "--output",
                  str(scored_folder(evaluation.output, spec, scorers))],
                 scored_folder(evaluation.output, spec, scorers), scorer=spec, parent=evaluation.parent)
            for spec in scorers[1:]]


def checkpoint_entries(study: Study, root: Path) -> list[tuple[ModelEntry, int, ModelEntry]]:
    """(Dolly model, step, its checkpoint as a model of its own) for each ``finetune: {checkpoints: [...]}`` step.

    Only Dolly models trained by the study have checkpoints: a published adapter has none here.
    """
    from dataclasses import replace

    from toxft.finetune.train import step_folder

    steps = sorted(set(study.finetune.get("checkpoints") or []))
    found = []
    for entry in study.models():
        if entry.role == "dolly" and not entry.peft:
            for step in steps:
                saved = str(step_folder(adapter_folder(entry, Path(root)), step))
                # A full fine-tune's checkpoint is a model of its own; an adapter's loads on the base model.
                where = {"model": saved} if is_full(study, entry) else {"peft": saved}
                found.append((entry, step, replace(entry, name=f"{entry.name}@step-{step}", results=None, **where)))
    return found


def plan(study: Study, root: str | Path, adapter_pins: dict[str, str] | None = None) -> list[Step]:
    """Every step of the study in order: fine-tunes first, then evaluations, then rescores.

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
        adapter, pretrained = entry.peft, None
        revision = entry.revision or pins.get(entry.model)
        if entry.role == "dolly" and not entry.peft:
            folder = adapter_folder(entry, root)
            finetunes.append(Step("finetune", entry, _finetune_argv(study, entry, folder, revision), folder))
            adapter, pretrained = (None, str(folder)) if is_full(study, entry) else (str(folder), None)
        pin = (adapter, adapter_pins[adapter]) if adapter and adapter in adapter_pins else None
        if adapter and entry.peft_revision and not is_local(adapter):  # the study's own pin wins
            pin = (adapter, entry.peft_revision)
        if adapter and not is_local(adapter) and not entry.revision and not pin:
            revision = None
        output = results_folder(entry, root)
        evaluations.append(Step("evaluate", entry, _evaluate_argv(study, entry, output, adapter, revision, pretrained),
                                output, pin))
    for parent, _, entry in checkpoint_entries(study, root):  # toxicity along the fine-tune
        output = results_folder(entry, root)
        revision = entry.revision or pins.get(entry.model)
        evaluations.append(Step("evaluate", entry, _evaluate_argv(study, entry, output, entry.peft, revision), output,
                                parent=parent))
    rescores = [step for evaluation in evaluations for step in _rescore_steps(study, evaluation)]
    return finetunes + evaluations + rescores


def depends_on(step: Step, steps: list[Step]) -> list[Step]:
    """The steps whose output ``step`` reads: its model's fine-tune, or the evaluation it rescores."""
    wanted = {"evaluate": "finetune", "rescore": "evaluate"}.get(step.kind)
    if step.kind == "evaluate":
        return [s for s in steps if s.kind == wanted and s.entry is (step.parent or step.entry)]
    return [s for s in steps if s.kind == wanted and s.entry is step.entry]
