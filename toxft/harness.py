"""The harness options of an evaluation and the cache key of its results.

``toxft check`` and ``toxft survey`` take the same lm_eval options (:func:`add_harness_arguments`),
turn them into a study's ``harness:`` section (:func:`harness_settings`) and name each model's
results folder by everything that shapes them (:func:`cache_name`): the same model, commit,
options, classifier and task files give the same folder, so an evaluation made by one command
is reused by the other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from toxft.arguments import positive_int
from toxft.errors import ToxftError
from toxft.hub import is_local


def add_harness_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    """The lm_eval options of a check or survey; the same flags give the same cache key in both."""
    harness = parser.add_argument_group(title)
    harness.add_argument("--model-type", default="hf", help="lm_eval --model (hf, vllm, ...)")
    harness.add_argument("--model-args", default="", help="extra lm_eval --model_args, e.g. dtype=bfloat16")
    harness.add_argument("--batch-size", default="auto", type=batch_size, help="lm_eval --batch_size: N, auto or auto:N")
    harness.add_argument("--apply-chat-template", action="store_true", help="lm_eval --apply_chat_template")
    harness.add_argument("--limit", type=positive_int, help="lm_eval --limit: prompts per subtask, a smoke run (default: every prompt)")
    harness.add_argument("--metadata", default="", help="lm_eval --metadata JSON for the toxft tasks")
    harness.add_argument("--device", help="lm_eval --device (default: lm_eval's, the first GPU when there is one)")


def batch_size(text: str) -> str:
    """lm_eval's --batch_size: a whole number of 1 or more, ``auto`` or ``auto:N`` (refused here, not in the harness)."""
    head, _, tail = text.partition(":")
    if text.isdigit() and int(text) >= 1 or head == "auto" and (not tail or tail.isdigit() and int(tail) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, auto or auto:N, not {text!r}")


@dataclass
class Target:
    """A model to evaluate: what to load, which adapter, which commit."""

    ident: str  # as the user named it (the Hub's current id when the repository was renamed)
    pretrained: str
    peft: str | None
    revision: str | None
    sha: str | None  # of the model, or of the adapter when there is one


def harness_settings(args: argparse.Namespace) -> dict:
    """The study's ``harness:`` section from the harness options."""
    extra_args = {}
    if args.model_args:
        try:
            extra_args = dict(part.split("=", 1) for part in args.model_args.split(",") if part)
        except ValueError:
            raise ToxftError("toxft: --model-args must look like key=value,key=value") from None
    harness = {"model": args.model_type, "model_args": extra_args, "batch_size": args.batch_size,
               "apply_chat_template": args.apply_chat_template}
    if args.limit:
        harness["limit"] = args.limit
    if args.metadata:
        try:
            harness["metadata"] = json.loads(args.metadata)
        except json.JSONDecodeError:
            raise ToxftError("toxft: --metadata must be JSON") from None
        if not isinstance(harness["metadata"], dict):
            raise ToxftError("toxft: --metadata must be a JSON object, e.g. '{\"n_random\": 100}'")
    if args.device:
        harness["extra_args"] = ["--device", args.device]
    return harness


def fingerprint(path: Path) -> str:
    """A local folder's contents (or one file, a GGUF model) in short: file names, sizes and modification times."""
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return hashlib.sha256(json.dumps([str(path.resolve()), entries]).encode()).hexdigest()[:16]


def task_version() -> str:
    """A hash of the toxft task files: results from other task definitions are never reused."""
    from toxft import tasks_path

    folder = tasks_path() / "toxft"
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".yaml", ".py", ""} and "__pycache__" not in path.parts:
            digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def cache_name(target: Target, harness: dict, scorer: str) -> str:
    """The folder name of a target's results: a readable prefix and a key of everything that shapes them.

    ``scorer`` is the description of the classifier the evaluation scores with
    (:meth:`toxft.settings.Settings.scorer_description`).
    """
    identity = {"pretrained": target.pretrained, "peft": target.peft, "revision": target.revision, "sha": target.sha,
                "harness": harness, "tasks": task_version(), "scorer": scorer,
                "local": [fingerprint(Path(p).expanduser()) for p in (target.pretrained, target.peft)
                          if p and is_local(p)]}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    readable = (target.peft or target.pretrained).rstrip("/").split("/")[-1]
    return f"{readable}-{key}"


def multilingual_scorer(harness: dict) -> str:
    """The classifier of the PolygloToxicityPrompts tasks: the harness metadata's, else the configured one."""
    from toxft import settings

    return str((harness.get("metadata") or {}).get("multilingual_scorer") or settings.current().multilingual_scorer)


def scored_by(harness: dict, scorers: list[str] | None = None) -> str:
    """What an evaluation's scores depend on, for its cache key: the classifier of the generation (the first of
    ``scorers``, else the configured one) and, when the harness evaluates languages, the multilingual one."""
    from toxft import settings
    from toxft.scorer import describe

    metadata = harness.get("metadata") or {}
    configured = settings.current()
    described = describe(scorers[0] if scorers else str(metadata.get("scorer") or configured.scorer))
    if harness.get("languages"):
        described += " | " + describe(multilingual_scorer(harness))
    return described
