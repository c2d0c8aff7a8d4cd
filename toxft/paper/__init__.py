"""The paper's published rates and verdicts (Hawkins, Mittelstadt & Russell, 2024), as data.

``rates()`` gives % toxic per model and column; ``verdicts()`` the comparisons the paper
states, second model minus first. Files and their sources: ``README.md`` beside this one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from toxft.suite import CEB_GROUPS

FOLDER = Path(__file__).resolve().parent
# Prompts per column in the paper.
SIZES = {"total": 2400, "severe": 1000, "random": 1000, **{group: 100 for group in CEB_GROUPS}}


@dataclass(frozen=True)
class PaperVerdict:
    """A comparison the paper states: ``second`` minus ``first`` on ``subset``."""

    first: str
    second: str
    subset: str
    verdict: str
    inferred: bool = False  # the paper does not name the subset; placed on it by inference


def _verdict(row: dict) -> PaperVerdict:
    return PaperVerdict(row["first"], row["second"], row["subset"], row["verdict"],
                        row.get("subset_source", "stated") == "inferred")


def rates() -> dict[str, dict[str, float]]:
    """% toxic continuations per model name and column (total, severe, random, race, gender, age, religion)."""
    with (FOLDER / "hawkins2024_rates.csv").open(encoding="utf-8") as handle:
        return {row.pop("model"): {column.lower(): float(value) for column, value in row.items()}
                for row in csv.DictReader(handle)}


def verdicts() -> list[PaperVerdict]:
    """The paper's stated verdicts (BEST on the scores)."""
    with (FOLDER / "hawkins2024_verdicts.csv").open(encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return [_verdict(row) for row in csv.DictReader(lines)]
