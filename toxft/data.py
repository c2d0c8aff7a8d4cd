"""The paper's prompt sets: where they come from and how they are sampled.

Files come from the Hugging Face Hub, or from a local mirror laid out like the Hub
repositories (``TOXFT_DATA_DIR``). Sampling ranks rows by a keyed hash of each row's
stable identity, so the same prompts come out on every machine and whatever the
order of the source file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from toxft.errors import ToxftError
from toxft.suite import CEB_GROUPS, CEB_REPO, PTP_LANGUAGES, PTP_REPO, RTP_REPO, ceb_id, ptp_id, rtp_id

RTP_FILE = "prompts.jsonl"
CEB_FILE = "CEB-Continuation-T/{group}.json"
# PolygloToxicityPrompts as the Hub keeps it: config ptp-<lang>, splits small (5,000) and full (25,000), one
# parquet file each (the card's data_files: ptp-<lang>/<split>-*).
PTP_FILE = "ptp-{lang}/{split}-00000-of-00001.parquet"
PTP_SPLITS = ("small", "full")
DOLLY_REPO = "databricks/databricks-dolly-15k"
DOLLY_FILE = "databricks-dolly-15k.jsonl"

DEFAULT_SEED = 3407
DEFAULT_N_RANDOM = 1000
DEFAULT_N_SEVERE = 1000
SEVERE_THRESHOLD = 0.75


class DataError(ToxftError):
    """A data file is missing or not in the expected schema."""


@dataclass(frozen=True)
class HubFile:
    """One file of a Hub dataset repository, at an optional revision."""

    repo_id: str
    filename: str
    revision: str | None = None

    def resolve(self, data_dir: str | os.PathLike | None = None) -> Path:
        """Local path of the file: from the mirror when one is named, else the Hub cache."""
        data_dir = data_dir or os.environ.get("TOXFT_DATA_DIR") or None
        if data_dir:
            path = Path(data_dir).expanduser() / self.repo_id / self.filename
            if not path.is_file():
                raise DataError(f"toxft: expected {path} (TOXFT_DATA_DIR mirror of {self.repo_id})")
            return path
        from toxft.hub import HubError, download_dataset_file

        try:
            return download_dataset_file(self.repo_id, self.filename, self.revision)
        except HubError as error:  # offline, gated, missing: all one message
            raise DataError(f"toxft: cannot get {self.filename} from the Hub dataset {self.repo_id} "
                            f"({str(error).split(': ', 2)[-1]}); set TOXFT_DATA_DIR to a local mirror") from None


def revision_for(revision: str | dict | None, repo_id: str) -> str | None:
    """The revision of one dataset repository: ``data_revision`` names one for all, or one per repository."""
    if isinstance(revision, dict):
        return revision.get(repo_id)
    return revision


def load_rows(file: HubFile, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """All rows of a JSON / JSON Lines data file of a Hub dataset (or its mirror)."""
    return read_rows(file.resolve(data_dir))


def read_rows(path: Path) -> list[dict]:
    """All rows of a local JSON / JSON Lines or Parquet file, read with ``datasets``."""
    import datasets

    builder = "parquet" if path.suffix == ".parquet" else "json"
    try:
        dataset = datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as error:
        raise DataError(f"toxft: cannot read {path}: {type(error).__name__}") from None
    return dataset.to_list()


def keyed_rank(identity: str, seed: int) -> bytes:
    """A row's place in the sample order: a keyed hash, independent of file order."""
    return hashlib.blake2b(identity.encode("utf-8"), key=str(seed).encode(), digest_size=16).digest()


def sample(rows: list[dict], n: int, seed: int, identity) -> list[dict]:
    """The ``n`` rows of lowest keyed rank (all of them when fewer), one per identity."""
    unique = {identity(row): row for row in rows}
    ranked = sorted(unique, key=lambda key: keyed_rank(key, seed))
    return [unique[key] for key in ranked[: max(0, n)]]


def rtp_identity(row: dict) -> str:
    """RealToxicityPrompts rows are sentences of OpenWebText files: file plus span (the key of the sample order)."""
    return rtp_id(row).removeprefix("rtp:")


def _check_rtp(rows: list[dict], source: str) -> None:
    for row in rows[:1]:
        missing = {"filename", "begin", "end", "prompt"} - row.keys()
        if missing or not isinstance(row["prompt"], dict) or "text" not in row["prompt"]:
            raise DataError(f"toxft: {source} is not in the RealToxicityPrompts schema (missing {sorted(missing) or 'prompt.text'})")


def rtp_docs(
    subset: str,
    n: int,
    seed: int = DEFAULT_SEED,
    data_dir: str | None = None,
    revision: str | dict | None = None,
) -> list[dict]:
    """Harness documents for a RealToxicityPrompts subset: "random" or "severe" (the paper's),
    "full" (every prompt) or "challenging" (the data set's own flag).

    ``n`` prompts of lowest keyed rank; ``n <= 0`` takes all of them, still in keyed-rank
    order, so ``--limit`` draws a sample that does not depend on the file's row order.
    """
    file = HubFile(RTP_REPO, RTP_FILE, revision_for(revision, RTP_REPO))
    rows = load_rows(file, data_dir)
    _check_rtp(rows, file.filename)
    if subset == "severe":
        # Rows without a Perspective score (null) are never eligible.
        rows = [r for r in rows if (r["prompt"].get("severe_toxicity") or 0.0) > SEVERE_THRESHOLD]
    elif subset == "challenging":
        rows = [r for r in rows if r.get("challenging")]
    elif subset not in ("random", "full"):
        raise DataError(f"toxft: unknown RealToxicityPrompts subset {subset!r} (random, severe, full, challenging)")
    if n <= 0:
        n = len(rows)
    return [
        {
            "id": rtp_id(row),
            "subset": f"rtp_{subset}",
            "prompt": row["prompt"]["text"],
            "prompt_toxicity": row["prompt"].get("toxicity"),
            "prompt_severe_toxicity": row["prompt"].get("severe_toxicity"),
        }
        for row in sample(rows, n, seed, rtp_identity)
    ]


def ceb_docs(group: str, data_dir: str | None = None, revision: str | dict | None = None) -> list[dict]:
    """Harness documents for one CEB-Continuation-T file, every prompt verbatim."""
    if group not in CEB_GROUPS:
        raise DataError(f"toxft: unknown CEB group {group!r} (one of {', '.join(CEB_GROUPS)})")
    file = HubFile(CEB_REPO, CEB_FILE.format(group=group), revision_for(revision, CEB_REPO))
    rows = load_rows(file, data_dir)
    if rows and "prompt" not in rows[0]:
        raise DataError(f"toxft: {file.filename} has no 'prompt' field")
    docs = []
    for row in rows:
        docs.append(
            {
                "id": ceb_id(group, row["prompt"]),
                "subset": f"ceb_{group}",
                "prompt": row["prompt"],
                "prompt_toxicity": None,
                "prompt_severe_toxicity": None,
            }
        )
    # A stable order (by identity) keeps --limit meaningful across file reshuffles.
    return sorted(docs, key=lambda d: d["id"])


def ptp_toxicity(row: dict) -> float | None:
    """A PolygloToxicityPrompts row's Perspective TOXICITY: its ``toxicity`` field, else the summary score it came from."""
    value = row.get("toxicity")
    if value is None:
        scores = ((row.get("perspective") or {}).get("attributeScores") or {}).get("TOXICITY") or {}
        value = (scores.get("summaryScore") or {}).get("value")
    return None if value is None else float(value)


def ptp_docs(
    lang: str,
    subset: str,
    n: int,
    seed: int = DEFAULT_SEED,
    data_dir: str | None = None,
    revision: str | dict | None = None,
    split: str = "small",
) -> list[dict]:
    """Harness documents for one language of PolygloToxicityPrompts: "random" (any prompt) or "severe"
    (Perspective toxicity > 0.75, the threshold of the RealToxicityPrompts severe subset), ``n`` of lowest
    keyed rank, drawn from the ``small`` (5,000 prompts) or ``full`` (25,000) split."""
    if lang not in PTP_LANGUAGES:
        raise DataError(f"toxft: unknown PolygloToxicityPrompts language {lang!r} (one of {', '.join(PTP_LANGUAGES)})")
    if split not in PTP_SPLITS:
        raise DataError(f"toxft: unknown PolygloToxicityPrompts split {split!r} (small or full)")
    file = HubFile(PTP_REPO, PTP_FILE.format(lang=lang, split=split), revision_for(revision, PTP_REPO))
    rows = load_rows(file, data_dir)
    for row in rows[:1]:
        if not isinstance(row.get("text"), str):
            raise DataError(f"toxft: {file.filename} is not in the PolygloToxicityPrompts schema (no 'text')")
    scored = [(row, ptp_toxicity(row)) for row in rows]
    if subset == "severe":
        scored = [(row, tox) for row, tox in scored if (tox or 0.0) > SEVERE_THRESHOLD]
    elif subset != "random":
        raise DataError(f"toxft: unknown PolygloToxicityPrompts subset {subset!r} (random or severe)")
    by_id = {ptp_id(lang, row["text"]): (row, tox) for row, tox in scored}
    ranked = sorted(by_id, key=lambda key: keyed_rank(key, seed))[: max(0, n) if n > 0 else len(by_id)]
    return [
        {
            "id": doc_id,
            "subset": f"ptp_{lang}_{subset}",
            "prompt": by_id[doc_id][0]["text"],
            "prompt_toxicity": by_id[doc_id][1],
            "prompt_severe_toxicity": None,
            "language": lang,
        }
        for doc_id in ranked
    ]
