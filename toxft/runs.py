"""Reading lm-evaluation-harness output folders written with the toxft tasks."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from toxft.errors import ToxftError

TASKS = {
    "severe": "toxft_rtp_severe",
    "random": "toxft_rtp_random",
    "race": "toxft_ceb_race",
    "gender": "toxft_ceb_gender",
    "age": "toxft_ceb_age",
    "religion": "toxft_ceb_religion",
}
CEB = ("race", "gender", "age", "religion")
# Subsets as the paper reports them: each task, the CEB group and the total.
SUBSETS = {**{name: (name,) for name in TASKS}, "ceb": CEB, "total": tuple(TASKS)}


class RunError(ToxftError):
    """A harness output folder cannot be used."""


class NoSamplesError(RunError):
    """The run was made without --log_samples."""


@dataclass(frozen=True)
class Sample:
    """One prompt's outcome: identity, continuation, P(hate) and the 0/1 flag."""

    doc_id: str
    continuation: str
    score: float
    toxic: float
    prompt: str = ""


@dataclass
class Run:
    """One model's toxft results: harness metadata and per-task samples keyed by prompt id."""

    folder: Path
    results: dict
    samples: dict[str, dict[str, Sample]] = field(default_factory=dict)
    scorer: str | None = None

    @property
    def model_args(self) -> dict:
        args = self.results.get("config", {}).get("model_args") or {}
        if isinstance(args, str):  # older harness versions keep the raw string
            args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
        return args

    @property
    def name(self) -> str:
        """A readable model name: the base model's last path parts, plus the adapter."""
        args = self.model_args
        base = _short(str(args.get("pretrained") or self.results.get("model_name") or self.folder.name))
        return f"{base} + {_short(str(args['peft']))}" if args.get("peft") else base

    def subset(self, name: str) -> dict[str, Sample]:
        """Samples of a subset ("severe", ..., "ceb", "total") keyed by task and prompt id.

        A prompt drawn into both RealToxicityPrompts subsets counts once in each, as in
        the harness's pooled group rate.
        """
        merged: dict[str, Sample] = {}
        for part in SUBSETS[name]:
            task = TASKS[part]
            merged.update({f"{task}/{doc_id}": s for doc_id, s in self.samples.get(task, {}).items()})
        return merged

    def has(self, name: str) -> bool:
        """Whether every task of the subset was run."""
        return all(TASKS[part] in self.samples for part in SUBSETS[name])


def hub_snapshot(path: str) -> tuple[str, str] | None:
    """(repo id, commit) when ``path`` is a folder of the Hugging Face cache (``models--org--name/snapshots/sha``)."""
    import re

    found = re.search(r"models--([^/]+?)--([^/]+)/snapshots/([0-9a-f]{40})/?$", path.replace("\\", "/"))
    return (f"{found.group(1)}/{found.group(2)}", found.group(3)) if found else None


def _short(identifier: str) -> str:
    snapshot = hub_snapshot(identifier)
    if snapshot:  # a Hub repository fetched at a commit: name it by its id
        return snapshot[0]
    parts = [p for p in identifier.replace("\\", "/").rstrip("/").split("/") if p]
    return "/".join(parts[-2:]) if parts else identifier


def _newest(paths: list[Path]) -> Path | None:
    # Harness file names end in an ISO timestamp, so the name orders them in time.
    return max(paths, key=lambda p: p.name) if paths else None


def model_folder(path: Path) -> Path:
    """The folder holding a run's results and samples: ``path`` itself, its one model folder, or a file's folder."""
    if path.is_file():
        return path.parent
    if not path.is_dir():
        raise RunError(f"toxft: {path} does not exist")
    if list(path.glob("results_*.json")) or list(path.glob("samples_*.jsonl")):
        return path
    children = [p for p in path.iterdir() if p.is_dir() and list(p.glob("results_*.json"))]
    if len(children) == 1:
        return children[0]
    if children:
        raise RunError(f"toxft: {path} holds several model folders ({', '.join(p.name for p in children)}); name one")
    raise RunError(f"toxft: no harness results (results_*.json) in {path}")


def _read_samples(path: Path) -> tuple[dict[str, Sample], str | None]:
    samples: dict[str, Sample] = {}
    scorer = None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise RunError(f"toxft: {path} is not UTF-8 text (byte {error.start}); is it a harness samples file?") from None
    except OSError as error:
        raise RunError(f"toxft: cannot read {path}: {error.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            doc = row["doc"]
            doc_id = str(doc.get("id") or row.get("doc_hash") or doc["prompt"])
            scorer = scorer or doc.get("scorer")
            score, toxic = float(row["toxicity"]), float(row["toxic"])
            continuation = row["resps"][0][0] if row.get("resps") else ""
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
            raise RunError(f"toxft: {path}:{number} is not a toxft sample line") from None
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise RunError(f"toxft: {path}:{number} has toxicity score {score!r}, not a probability")
        samples[doc_id] = Sample(doc_id, continuation, score, toxic, str(doc.get("prompt") or ""))
    if not samples:
        raise RunError(f"toxft: {path} holds no samples (empty or cut short); rerun that evaluation")
    return samples, scorer


def load_run(path: str | Path) -> Run:
    """Read a harness ``--output_path`` (or its model folder, or a results file)."""
    path = Path(path)
    folder = model_folder(path)
    results_path = path if path.is_file() else _newest(list(folder.glob("results_*.json")))
    if results_path is None:
        raise RunError(f"toxft: no results_*.json in {folder}")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
        if not isinstance(results, dict):
            raise json.JSONDecodeError("not an object", "", 0)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise RunError(f"toxft: {results_path} is not a readable harness results file") from None
    run = Run(folder=folder, results=results)
    tasks_run = [t for t in TASKS.values() if t in results.get("results", {})]
    if not tasks_run:
        raise RunError(f"toxft: {results_path} has no toxft tasks (run lm_eval with --tasks toxft)")
    for task in tasks_run:
        newest = _newest(list(folder.glob(f"samples_{task}_*.jsonl")))
        if newest is not None:
            run.samples[task], scorer = _read_samples(newest)
            run.scorer = run.scorer or scorer
    if not run.samples:
        raise NoSamplesError(f"toxft: {folder} has no per-sample scores: rerun lm_eval with --log_samples")
    return run
