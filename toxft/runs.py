"""Reading lm-evaluation-harness output folders: the toxft tasks and the other per-continuation tasks.

A run is a results file and the per-task samples the harness wrote beside it with
``--log_samples``, in any layout lm-eval 0.4.3 to 0.4.13 writes: ``OUTPUT/<model>/results_<time>.json``
with ``samples_<task>_<time>.jsonl``, or, when ``--output_path`` names a ``.json`` file
(0.4.9 and later), ``<stem>_<time>.json`` beside the samples. Besides the toxft suite it reads
``toxft_rtp_full`` and the harness's built-in ``realtoxicityprompts`` task, whose Perspective
requests that failed are missing scores, not zeros (see :func:`perspective_score`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from toxft import degenerate
from toxft.errors import ToxftError
from toxft.suite import BUILTIN_RTP, PTP_LANGUAGES, SUBSETS, TASK_OF, TASKS, ptp_subsets, rtp_id

PERSPECTIVE = "Perspective API [TOXICITY]"
# The harness names every output file <name>_<date id>, the date id being datetime.isoformat() with
# ':' replaced by '-', so the file's time comes from its name.
_STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?"
_RESULTS = re.compile(rf"^(?P<stem>.+)_(?P<time>{_STAMP})\.json$")
_SAMPLES = re.compile(rf"^samples_(?P<task>.+)_(?P<time>{_STAMP})\.jsonl$")


class RunError(ToxftError):
    """A harness output folder cannot be used."""


class NoSamplesError(RunError):
    """The run was made without --log_samples."""


@dataclass(frozen=True)
class Sample:
    """One prompt's outcome: identity, continuation, its score and 0/1 flag, and whether it is degenerate.

    ``score`` and ``toxic`` are None when the scorer gave no score (a failed Perspective request).
    """

    doc_id: str
    continuation: str
    score: float | None
    toxic: float | None
    prompt: str = ""
    degenerate: str | None = None  # the kind (empty, short, echo, loop), see toxft.degenerate

    @property
    def scored(self) -> bool:
        return self.score is not None


@dataclass
class Run:
    """One model's results: harness metadata and per-task samples keyed by prompt id."""

    folder: Path
    results: dict
    samples: dict[str, dict[str, Sample]] = field(default_factory=dict)
    scorer: str | None = None  # the first task's classifier: the English suite's when the run holds it
    results_path: Path | None = None
    task_scorers: dict[str, str] = field(default_factory=dict)  # each task's classifier, as its samples record it

    def scorer_of(self, subset: str) -> str | None:
        """The classifier that scored a subset (its first task's): the multilingual tasks may use another."""
        task = TASK_OF[SUBSETS[subset][0]]
        return self.task_scorers.get(task) or self.scorer

    def languages(self) -> list[str]:
        """The PolygloToxicityPrompts languages the run holds completely, in the suite's order."""
        return [lang for lang in PTP_LANGUAGES if self.has(f"ptp_{lang}")]

    @property
    def model_args(self) -> dict:
        args = self.results.get("config", {}).get("model_args") or {}
        if isinstance(args, str):  # the harness keeps the raw command-line string
            args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
        return args

    @property
    def name(self) -> str:
        """A readable model name: the base model's last path parts, plus the adapter."""
        args = self.model_args
        base = _short(str(args.get("gguf_file") or args.get("pretrained") or self.results.get("model_name")
                          or self.folder.name))
        return f"{base} + {_short(str(args['peft']))}" if args.get("peft") else base

    def subset(self, name: str, scored_only: bool = True) -> dict[str, Sample]:
        """Samples of a subset ("severe", ..., "ceb", "total") keyed by task and prompt id.

        A prompt drawn into both RealToxicityPrompts subsets (the paper drew them independently)
        counts once in a pool of both, with its first subset's sample: the same prompt twice is one
        observation, not two. Samples without a score are left out unless asked for.
        """
        merged: dict[str, Sample] = {}
        seen: set[str] = set()
        for part in SUBSETS[name]:
            task = TASK_OF[part]
            for doc_id, sample in self.samples.get(task, {}).items():
                if doc_id not in seen and (sample.scored or not scored_only):
                    merged[f"{task}/{doc_id}"] = sample
                    seen.add(doc_id)
        return merged

    def has(self, name: str) -> bool:
        """Whether every task of the subset was run."""
        return all(TASK_OF[part] in self.samples for part in SUBSETS[name])

    def unscored(self) -> int:
        """How many samples have no score (failed Perspective requests)."""
        return sum(not s.scored for task in self.samples.values() for s in task.values())


def hub_snapshot(path: str) -> tuple[str, str] | None:
    """(repo id, commit) when ``path`` is a folder of the Hugging Face cache (``models--org--name/snapshots/sha``)."""
    found = re.search(r"models--([^/]+?)--([^/]+)/snapshots/([0-9a-f]{40})/?$", path.replace("\\", "/"))
    return (f"{found.group(1)}/{found.group(2)}", found.group(3)) if found else None


def _short(identifier: str) -> str:
    snapshot = hub_snapshot(identifier)
    if snapshot:  # a Hub repository fetched at a commit: name it by its id
        return snapshot[0]
    parts = [p for p in identifier.replace("\\", "/").rstrip("/").split("/") if p]
    return "/".join(parts[-2:]) if parts else identifier


def results_files(folder: Path) -> list[Path]:
    """The harness results files in a folder, oldest first (by the time in their names)."""
    found = [(m.group("time"), p) for p in folder.glob("*.json") if (m := _RESULTS.match(p.name))
             and not p.name.startswith("samples_")]
    return [p for _, p in sorted(found)]


def samples_files(folder: Path) -> dict[str, list[Path]]:
    """Per task, the samples files in a folder, oldest first."""
    found: dict[str, list[tuple[str, Path]]] = {}
    for path in folder.glob("samples_*.jsonl"):
        match = _SAMPLES.match(path.name)
        if match:
            found.setdefault(match.group("task"), []).append((match.group("time"), path))
    return {task: [p for _, p in sorted(paths)] for task, paths in found.items()}


def stamp(path: Path) -> str | None:
    """The harness's date id in a results or samples file name."""
    match = _RESULTS.match(path.name) or _SAMPLES.match(path.name)
    return match.group("time") if match else None


def is_run_folder(path: Path) -> bool:
    """Whether a folder holds a harness run itself (not only runs in folders below it)."""
    return bool(results_files(path) or samples_files(path))


def model_folder(path: Path) -> Path:
    """The folder holding a run's results and samples: ``path`` itself, its one model folder, or a file's folder."""
    if path.is_file():
        return path.parent
    if not path.is_dir():
        raise RunError(f"toxft: {path} does not exist")
    if is_run_folder(path):
        return path
    children = [p for p in sorted(path.iterdir()) if p.is_dir() and results_files(p)]
    if len(children) == 1:
        return children[0]
    if children:
        raise RunError(f"toxft: {path} holds several model folders ({', '.join(p.name for p in children)}); name one")
    raise RunError(f"toxft: no harness results (results_*.json) in {path}")


def find_runs(root: Path) -> list[Path]:
    """Every run folder at or below ``root`` (an ``--output_path`` of many models, or a tree of them), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"toxft: {root} does not exist" if not root.exists() else f"toxft: {root} is not a folder")
    return sorted({p.parent for p in root.rglob("*.json") if _RESULTS.match(p.name)} |
                  {p.parent for p in root.rglob("samples_*.jsonl") if _SAMPLES.match(p.name)})


def perspective_score(row: dict) -> float | None:
    """Perspective's recorded score in a built-in ``realtoxicityprompts`` sample; None for a failed request.

    lm-eval's ``metric.py`` (0.4.3 to 0.4.13) appends a score of 0 whenever a request raises (an HTTP 429
    or 400, a network error, a shut-down API) and only logs a warning. Perspective itself never returns
    0: its summary scores are probabilities strictly above 0 for every text it accepts, and it refuses
    an empty comment with a 400 (developers.perspectiveapi.com, "Methods": AnalyzeComment). So exactly
    0 means "no score".
    """
    value = float(row["perspective_api_toxicity_score"])
    return None if value == 0.0 else value


def _sample(row: dict, task: str) -> tuple[Sample, str | None]:
    doc = row["doc"]
    prompt = doc.get("prompt")
    prompt = str(prompt.get("text", "")) if isinstance(prompt, dict) else str(prompt or "")
    continuation = row["resps"][0][0] if row.get("resps") and row["resps"][0] else ""
    if "toxicity" in row:  # the toxft tasks, or a rescored run
        score, toxic, scorer = float(row["toxicity"]), float(row["toxic"]), doc.get("scorer")
    elif task == BUILTIN_RTP and "perspective_api_toxicity_score" in row:
        # The built-in task's rule: toxic at or above 0.5 of Perspective's score.
        score, scorer = perspective_score(row), PERSPECTIVE
        toxic = None if score is None else float(row["score"])
    else:
        raise KeyError("toxicity")
    doc_id = str(doc.get("id") or (rtp_id(doc) if "filename" in doc else None) or row.get("doc_hash") or prompt)
    return Sample(doc_id, str(continuation), score, toxic, prompt, degenerate.kind(str(continuation), prompt)), scorer


def read_samples(path: Path, task: str) -> tuple[dict[str, Sample], str | None]:
    """The samples of one task's file by prompt id, and what scored them; one-line errors for bad files."""
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
            sample, found = _sample(json.loads(line), task)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise RunError(f"toxft: {path}:{number} is not a toxft sample line") from None
        if sample.score is not None and (not math.isfinite(sample.score) or not 0.0 <= sample.score <= 1.0):
            raise RunError(f"toxft: {path}:{number} has toxicity score {sample.score!r}, not a probability")
        scorer = scorer or found
        samples[sample.doc_id] = sample
    if not samples:
        raise RunError(f"toxft: {path} holds no samples (empty or cut short); rerun that evaluation")
    return samples, scorer


def load_run(path: str | Path) -> Run:
    """Read a harness ``--output_path`` (or its model folder, or a results file)."""
    path = Path(path)
    folder = model_folder(path)
    found = results_files(folder)
    results_path = path if path.is_file() else (found[-1] if found else None)
    if results_path is None:
        raise RunError(f"toxft: no harness results file (results_<time>.json) in {folder}")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
        if not isinstance(results, dict):
            raise json.JSONDecodeError("not an object", "", 0)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise RunError(f"toxft: {results_path} is not a readable harness results file") from None
    run = Run(folder=folder, results=results, results_path=results_path)
    tasks_run = [t for t in TASK_OF.values() if t in results.get("results", {})]
    if not tasks_run:
        raise RunError(f"toxft: {results_path} has no toxft tasks (run lm_eval with --tasks toxft)")
    files = samples_files(folder)
    for task in tasks_run:
        paths = files.get(task, [])
        # The samples written with this results file (same date id), else the newest.
        same = [p for p in paths if stamp(p) == stamp(results_path)]
        chosen = same[-1] if same else (paths[-1] if paths else None)
        if chosen is not None:
            run.samples[task], scorer = read_samples(chosen, task)
            run.scorer = run.scorer or scorer
            if scorer:
                run.task_scorers[task] = scorer
    if not run.samples:
        raise NoSamplesError(f"toxft: {folder} has no per-sample scores: rerun lm_eval with --log_samples")
    return run


def suite_complete(run: Run, languages=()) -> bool:
    """Whether the run holds samples of every task of the toxft suite, and of each PolygloToxicityPrompts language."""
    wanted = [*TASKS.values(), *(TASK_OF[subset] for lang in languages for subset in ptp_subsets(lang))]
    return all(task in run.samples for task in wanted)
