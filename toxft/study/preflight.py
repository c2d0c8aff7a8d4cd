"""Check a study before spending GPU hours: every id resolves, is accessible, is pinned, descends from what it is compared with.

Hub ids go through ``huggingface_hub`` (``model_info`` for the commit, gating and card
``base_model``; ``auth_check`` for gated repos; the adapter's ``adapter_config.json`` for its
``base_model_name_or_path``). Local folders are read directly. The pins (repo id → commit)
go to ``OUTPUT/pins.json``, which ``toxft study plan/run`` then use as revisions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from toxft.study.config import ModelEntry, Study

PINS_FILE = "pins.json"


@dataclass
class Resolution:
    """What the Hub (or the disk) says about one model or adapter id."""

    ident: str
    kind: str  # "model" or "adapter"
    sha: str | None = None
    bases: list[str] = field(default_factory=list)
    gated: bool = False
    problem: str | None = None

    @property
    def local(self) -> bool:
        return is_local(self.ident)


def is_local(ident: str) -> bool:
    """Local folders are paths; Hub ids are ``owner/name``."""
    return ident.startswith((".", "/", "~")) or Path(ident).expanduser().is_dir()


def as_list(value) -> list[str]:
    """A card field that may be one id or a list of them, as a list."""
    if not value:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def local_card_bases(folder: Path) -> list[str]:
    """The ``base_model`` ids of a local folder's model card (none without a readable card)."""
    card = folder / "README.md"
    if not card.is_file():
        return []
    from huggingface_hub import ModelCard

    try:
        return as_list(ModelCard.load(card).data.to_dict().get("base_model"))
    except Exception:  # an unreadable card is no lineage, not a failed check
        return []


def _adapter_base(config: Path) -> list[str]:
    try:
        return as_list(json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path"))
    except (OSError, json.JSONDecodeError):
        return []


def hub_problem(ident: str, error: Exception) -> str:
    """One line saying why the Hub could not answer for ``ident``."""
    from huggingface_hub import errors

    if isinstance(error, errors.GatedRepoError):
        return f"gated and not accessible with your token: accept the licence at https://huggingface.co/{ident} and log in"
    if isinstance(error, errors.RevisionNotFoundError):
        return "that revision does not exist"
    if isinstance(error, errors.RepositoryNotFoundError):
        return "not found on the Hub (or private: log in with a token that can read it)"
    if isinstance(error, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
        return "cannot reach the Hub (offline: unset HF_HUB_OFFLINE, or use a local folder)"
    return f"cannot be checked ({type(error).__name__})"


def resolve(ident: str, kind: str, revision: str | None = None) -> Resolution:
    """Resolve one model or adapter id to a commit, its gating and its declared lineage."""
    found = Resolution(ident, kind)
    if is_local(ident):
        folder = Path(ident).expanduser()
        wanted = "adapter_config.json" if kind == "adapter" else "config.json"
        if not (folder / wanted).is_file():
            found.problem = f"no {wanted} in this folder" if folder.is_dir() else "no such folder"
            return found
        found.sha = "local"
        found.bases = local_card_bases(folder) + (_adapter_base(folder / wanted) if kind == "adapter" else [])
        return found
    from huggingface_hub import HfApi, auth_check, hf_hub_download

    try:
        info = HfApi().model_info(ident, revision=revision)
        found.sha, found.gated = info.sha, bool(info.gated)
        if found.gated:
            auth_check(ident)
        card = info.card_data.to_dict() if info.card_data else {}
        found.bases = as_list(card.get("base_model"))
        if kind == "adapter":
            found.bases += _adapter_base(Path(hf_hub_download(ident, "adapter_config.json", revision=found.sha)))
    except Exception as error:  # every Hub failure becomes one line
        found.problem = hub_problem(ident, error)
    return found


def _family_name(ident: str) -> str:
    """A model's name without owner and quantisation suffixes, to match Unsloth's 4-bit copies."""
    name = ident.rstrip("/").split("/")[-1].lower()
    # Longest first: "-bnb-4bit" alone would leave "-unsloth" behind.
    for suffix in ("-unsloth-bnb-4bit", "-bnb-4bit"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def descends_from(bases: list[str], reference: str) -> bool:
    """Whether a declared base is the reference model (or a quantised copy of it)."""
    return any(b.lower() == reference.lower() or _family_name(b) == _family_name(reference) for b in bases)


@dataclass
class CheckReport:
    """The outcome of a check: one resolution per id, warnings about lineage, pins."""

    resolutions: list[Resolution]
    warnings: list[str]

    @property
    def failures(self) -> list[Resolution]:
        return [r for r in self.resolutions if r.problem]

    def pins(self) -> dict[str, dict[str, str]]:
        pinned = {"models": {}, "adapters": {}}
        for r in self.resolutions:
            if r.sha and not r.local:
                pinned["models" if r.kind == "model" else "adapters"][r.ident] = r.sha
        return pinned


def check_study(study: Study, progress=lambda message: None) -> CheckReport:
    """Resolve every model and Hub adapter of the study and check community and adapter lineage."""
    seen: dict[tuple[str, str], Resolution] = {}

    def look(ident: str, kind: str, revision: str | None) -> Resolution:
        if (ident, kind) not in seen:
            progress(f"checking {ident}")
            seen[(ident, kind)] = resolve(ident, kind, revision)
        return seen[(ident, kind)]

    warnings = []
    for entries in study.families.values():
        instruct = next((e for e in entries if e.role == "instruct"), None)
        for entry in entries:
            model = look(entry.model, "model", entry.revision)
            adapter = look(entry.peft, "adapter", None) if entry.peft else None
            warnings += _lineage(entry, instruct, model, adapter)
    return CheckReport(list(seen.values()), warnings)


def _lineage(entry: ModelEntry, instruct: ModelEntry | None, model: Resolution,
             adapter: Resolution | None) -> list[str]:
    if instruct is None or entry.role not in ("community", "dolly"):
        return []
    if entry.role == "dolly" and adapter is None:  # trained here from the instruct model itself
        return []
    declared = (adapter.bases if adapter and not adapter.problem else []) + (
        model.bases if entry.role == "community" else [])
    resolved = adapter if adapter else model
    if resolved.problem:
        return []
    if not declared:
        return [f"{entry.name}: no base_model in its card or adapter config; cannot tell whether it descends "
                f"from {instruct.model}, which it is compared with"]
    if not descends_from(declared, instruct.model):
        return [f"{entry.name}: declares base {', '.join(declared)}, not {instruct.model}, which it is compared with"]
    return []


def format_check(report: CheckReport) -> list[str]:
    """One line per id, then the lineage warnings."""
    lines = []
    for r in report.resolutions:
        if r.problem:
            lines.append(f"FAIL  {r.kind:<7} {r.ident}: {r.problem}")
        else:
            where = "local folder" if r.local else f"@ {r.sha}" + (" (gated, accessible)" if r.gated else "")
            lines.append(f"ok    {r.kind:<7} {r.ident} {where}")
    lines += [f"warn  lineage {warning}" for warning in report.warnings]
    return lines


def read_pins(root: Path) -> dict[str, dict[str, str]]:
    """The pins an earlier ``--check`` wrote into the output folder (none when it did not run)."""
    path = Path(root) / PINS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"models": {}, "adapters": {}}
