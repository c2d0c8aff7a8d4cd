"""``toxft study plan --check``: before spending GPU hours, every id resolves, is accessible, is pinned,
and descends from the model it is compared with.

Ids are resolved by :mod:`toxft.hub`; local folders are read directly. The pins (repo id →
commit) go to ``OUTPUT/pins.json``, which ``toxft study plan/run`` then use as revisions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from toxft.hub import Resolution, descends_from, resolve
from toxft.study.config import ModelEntry, Study

PINS_FILE = "pins.json"


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
            adapter = look(entry.peft, "adapter", entry.peft_revision) if entry.peft else None
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
            if r.renamed:
                where += f" (renamed on the Hub: now {r.current_id})"
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
