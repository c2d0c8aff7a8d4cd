"""The grid's whole answer, computed once: level changes, interactions, the regression, what the controls say.

Inputs: the grid's :class:`~toxft.analysis.levels.Arm` records, its factors (levels in the study's order,
the first the baseline), its design (``one-at-a-time`` or ``factorial``) and the analysis settings.

Output: :class:`GridAnalysis`, which ``factors.json`` holds (:meth:`GridAnalysis.to_dict`) and every
table, sentence and figure is rendered from (:mod:`toxft.report.factors`); nothing here writes text.

Example::

    found = analyse_grid(arms, {"method": ["lora", "full"], "control": ["none", "neutral"]}, "factorial",
                         AnalysisSettings(), previous=json.loads(Path("runs/factors.json").read_text()))
    found.answer.answer      # "learning", "forgetting" or "untestable"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from toxft.analysis.factors import Disagreement, FactorModel, disagreements, fit_or_reuse
from toxft.analysis.levels import (Arm, Combination, Interaction, LevelChange, SetupVariance, combinations,
                                   interactions, level_changes, setup_variance, unbalanced)

CONTROL_FACTOR = "control"
NO_CONTROL = "none"


@dataclass(frozen=True)
class ControlAnswer:
    """What a ``control`` factor says about a rise in toxicity, from the level rows that answer it."""

    answer: str  # "untestable" (no credible rise with real data), "learning" or "forgetting"
    real: LevelChange  # control = none: the real data
    rose: tuple[LevelChange, ...]  # content-free levels with a credible rise too
    flat: tuple[LevelChange, ...]  # content-free levels without one
    less: tuple[str, ...] = ()  # content-free levels the regression finds credibly less toxic than the real data
    at: dict = field(default_factory=dict)  # the other factors' levels of the rows (a factorial grid's baseline)

    def to_dict(self) -> dict:
        return asdict(self)


def forgetting_or_learning(rows: list[LevelChange], model: FactorModel | None = None,
                           at: dict | None = None) -> ControlAnswer | None:
    """Forgetting (toxicity rises with content-free data too), learning from the data (only with the real data),
    or neither, from the control rows of fine-tunes that differ in their data only (``at``: the other factors'
    levels, where the rows say it); None without a control factor with the real data and a content-free level."""
    control = [row for row in rows if row.factor == CONTROL_FACTOR]
    real = next((row for row in control if row.level == NO_CONTROL), None)
    free = [row for row in control if row.level != NO_CONTROL]
    if real is None or not free:
        return None
    rose = tuple(row for row in free if row.direction == "higher")
    flat = tuple(row for row in free if row.direction != "higher")
    if real.direction != "higher":
        return ControlAnswer("untestable", real, rose, flat, at=dict(at or {}))
    if not rose:
        return ControlAnswer("learning", real, rose, flat, at=dict(at or {}))
    less = tuple(row.level for row in rose if model is not None and _credibly_negative(model, row.level))
    return ControlAnswer("forgetting", real, rose, flat, less, dict(at or {}))


def _credibly_negative(model: FactorModel, level: str) -> bool:
    try:
        coefficient = model.coefficient(f"{CONTROL_FACTOR} = {level}")
    except StopIteration:
        return False
    return coefficient.credible and coefficient.hdi[1] < 0


@dataclass
class GridAnalysis:
    """Everything the report says about the grid, in numbers."""

    design: str
    factors: dict[str, list]
    setup: SetupVariance
    levels: list[LevelChange]
    combinations: list[Combination] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    unbalanced: str | None = None
    model: FactorModel | None = None
    fit_inputs: str | None = None
    fit_reused: bool = False
    disagreements: list[Disagreement] = field(default_factory=list)
    answer: ControlAnswer | None = None

    def to_dict(self) -> dict:
        return {"design": self.design, "factors": self.factors, "setup_variance": self.setup.to_dict(),
                "levels": [row.to_dict() for row in self.levels],
                "combinations": [row.to_dict() for row in self.combinations],
                "interactions": [row.to_dict() for row in self.interactions], "unbalanced": self.unbalanced,
                "model": self.model.to_dict() if self.model else None, "fit_inputs": self.fit_inputs,
                "disagreements": [asdict(d) for d in self.disagreements],
                "forgetting_or_learning": self.answer.to_dict() if self.answer else None}


def analyse_grid(arms: list[Arm], factors: dict[str, list], design: str, settings, previous: dict | None = None,
                 progress=lambda message: None) -> GridAnalysis:
    """The grid's answer with ``settings`` (:class:`~toxft.analysis.settings.AnalysisSettings`); the regression of
    ``previous`` (an earlier factors.json) is reused while its inputs are unchanged."""
    options = dict(hdi_prob=settings.hdi_prob, seed=settings.seed)
    setup = setup_variance(arms)
    found = GridAnalysis(design, factors, setup, level_changes(arms, factors, rope=settings.rope, design=design,
                                                               setup=setup, **options))
    if design == "factorial":
        found.combinations = combinations(arms, factors, setup=setup, **options)
        found.interactions = interactions(arms, factors, rope=settings.rope, setup=setup, **options)
        found.unbalanced = unbalanced(arms, factors)
    if factors:
        found.model, found.fit_inputs, found.fit_reused = fit_or_reuse(
            arms, factors, previous, on_fit=lambda: progress(f"fitting the factor regression over {len(arms)} fine-tunes"),
            draws=settings.draws, tune=settings.tune, chains=settings.chains, cores=settings.cores,
            ess_floor=settings.ess_floor, design=design, **options)
        if found.fit_reused:
            progress("the factor regression's inputs are unchanged since factors.json: its fit is reused")
        found.disagreements = disagreements(found.levels, found.model)
    # The control question compares real with content-free data at the same method and settings: in a factorial grid
    # those are the baseline cells of the other factors, not the control levels' means over them.
    at = {f: levels[0] for f, levels in factors.items() if f != CONTROL_FACTOR}
    answering = found.levels if design == "one-at-a-time" or CONTROL_FACTOR not in factors else level_changes(
        [arm for arm in arms if all(arm.levels.get(f) == level for f, level in at.items())],
        {CONTROL_FACTOR: factors[CONTROL_FACTOR]}, rope=settings.rope, setup=setup, **options)
    found.answer = forgetting_or_learning(answering, found.model, at if design == "factorial" else None)
    return found
