"""The grid's factor regression: a Bayesian logistic regression of every per-prompt toxic flag on the factors.

Inputs: :class:`~toxft.analysis.levels.Arm` records (one per fine-tune of the grid, flags of the cell and of
its family's reference on the same prompts) and the factors with their levels, the first the baseline.

Model (PyMC, sampled with nutpie): a random intercept per prompt (the pairing), a fine-tuning effect per
family (the change at the baseline levels), one coefficient per non-baseline level (log-odds against the
factor's baseline). Fine-tunes of the same settings (seeds) are replicates: their set-up variance is in the
level table's intervals (:mod:`toxft.analysis.levels`), not in the regression's, which cover the prompts only
(a random effect per fine-tune either funnels, with little set-up variance, or mixes slowly, with much). Priors Normal(0, 1.5) on the level effects and Normal(0, 2.5) on the fine-tuning effects
keep them finite when a level separates the flags (a LoRA cell that never moves while the full fine-tunes
all do); a level's effect is then also given in percentage points at the baseline, which stays usable where
an odds ratio does not.

Outputs: :class:`FactorModel` (coefficients with their pp effects, the model's change against the reference
for each row of the level table, diagnostics), :func:`fit_or_reuse` (a fit kept in factors.json is reused
while its inputs are unchanged) and :func:`disagreements` (rows where the regression and the level table do
not agree in sign and credibility).

Example::

    model = fit_factor_model(arms, {"method": ["lora", "full"]}, draws=500, chains=2)
    model.coefficient("method = full").pp     # change in pp against the baseline level, at the baseline
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from toxft.analysis.levels import Arm, LevelChange, level_cells, shared_prompts

# Bumped when the model or what is kept of it changes, so a factors.json of an older model is refitted.
MODEL_VERSION = 2
EFFECT_PRIOR_SD = 1.5
FINE_TUNED_PRIOR_SD = 2.5


@dataclass(frozen=True)
class Coefficient:
    """One effect of the regression: on the log-odds scale, and in percentage points at the baseline."""

    name: str  # "fine-tuned (family)", "method = full", "set-up sd (between seeds)"
    mean: float
    hdi: tuple[float, float]
    credible: bool
    pp: float | None = None  # posterior mean change in the toxic rate (probability units), at the baseline levels
    pp_hdi: tuple[float, float] | None = None

    @property
    def odds_ratio(self) -> float:
        return float(np.exp(self.mean))


@dataclass(frozen=True)
class ModelLevel:
    """The regression's change against the reference for one row of the level table (the same cells)."""

    factor: str
    level: str
    change: float
    hdi: tuple[float, float]
    credible: bool

    @property
    def direction(self) -> str:
        return ("higher" if self.change > 0 else "lower") if self.credible else "no credible difference"


@dataclass(frozen=True)
class FactorModel:
    """The regression's posterior: coefficients, how much data informed them, whether the chains converged."""

    coefficients: tuple[Coefficient, ...]
    observations: int
    informative_prompts: int
    prompts: int
    rhat_max: float
    ess_bulk_min: float
    divergences: int
    converged: bool
    hdi_prob: float
    baseline: dict = field(default_factory=dict)  # factor -> its reference level
    levels: tuple[ModelLevel, ...] = ()

    def coefficient(self, name: str) -> Coefficient:
        return next(c for c in self.coefficients if c.name == name)

    def level(self, factor: str, level: str) -> ModelLevel | None:
        return next((row for row in self.levels if (row.factor, row.level) == (factor, level)), None)

    def to_dict(self) -> dict:
        found = asdict(self)
        for row, coefficient in zip(found["coefficients"], self.coefficients, strict=True):
            row["odds_ratio"] = coefficient.odds_ratio
        return found

    @classmethod
    def from_dict(cls, record: dict) -> "FactorModel":
        """The model :meth:`to_dict` wrote (factors.json), without refitting."""
        def pair(value):
            return tuple(value) if value is not None else None

        coefficients = tuple(Coefficient(c["name"], c["mean"], tuple(c["hdi"]), c["credible"], c.get("pp"),
                                         pair(c.get("pp_hdi"))) for c in record["coefficients"])
        levels = tuple(ModelLevel(r["factor"], r["level"], r["change"], tuple(r["hdi"]), r["credible"])
                       for r in record.get("levels") or ())
        return cls(coefficients, *(record[name] for name in ("observations", "informative_prompts", "prompts",
                                                             "rhat_max", "ess_bulk_min", "divergences", "converged",
                                                             "hdi_prob")), dict(record.get("baseline") or {}), levels)


def _design(arms: list[Arm], factors: dict[str, list]):
    """Observations of the regression: the reference's and every cell's flag on each shared prompt, with their codes;
    then the families, the level columns, how many prompts some model answered differently, and how many there were."""
    families = list(dict.fromkeys(arm.family for arm in arms))
    columns = [(factor, level) for factor, levels in factors.items() for level in levels[1:]]
    y, prompt, family, treated, rows, prompt_family = [], [], [], [], [], []
    informative = 0
    for f_index, name in enumerate(families):
        mine = [arm for arm in arms if arm.family == name]
        shared, positions = shared_prompts(mine)
        for p in shared:
            index = len(prompt_family)
            prompt_family.append(f_index)
            answers = [float(mine[0].reference[positions[0][p]])] + [
                float(arm.flags[where[p]]) for arm, where in zip(mine, positions)]
            # Every prompt stays in, those every model treats alike too: the random intercepts assume a Normal
            # spread of prompts, and keeping only the discordant ones would no longer be a sample of it.
            informative += min(answers) != max(answers)
            y.append(answers[0]); prompt.append(index); family.append(f_index); treated.append(0.0)
            rows.append([0.0] * len(columns))
            for arm, answer in zip(mine, answers[1:], strict=True):
                y.append(answer); prompt.append(index); family.append(f_index); treated.append(1.0)
                rows.append([float(arm.levels.get(factor) == level) for factor, level in columns])
    data = dict(y=np.array(y), prompt=np.array(prompt, dtype=int), family=np.array(family, dtype=int),
                treated=np.array(treated),
                x=np.array(rows, dtype=float).reshape(len(y), len(columns)))
    return data, families, columns, informative, np.array(prompt_family, dtype=int)


def _regression(data: dict, n_prompts: int, n_families: int, n_columns: int):
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.5)
        sigma = pm.HalfNormal("sigma", 2.5)
        # Each prompt's intercept is the fine-tunes' log-odds at the baseline levels, which many flags pin
        # down; the reference sits `fine_tuned` below it. (With the intercept on the reference, its single
        # flag per prompt leaves the intercept and the effect trading off, and the chains barely mix.)
        prompt = mu + sigma * pm.Normal("z", 0.0, 1.0, shape=n_prompts)
        fine_tuned = pm.Normal("fine_tuned", 0.0, FINE_TUNED_PRIOR_SD, shape=n_families)
        beta = pm.Normal("beta", 0.0, EFFECT_PRIOR_SD, shape=max(1, n_columns))
        logit = prompt[data["prompt"]] - (1.0 - data["treated"]) * fine_tuned[data["family"]]
        if n_columns:
            logit = logit + data["treated"] * pm.math.dot(data["x"], beta[:n_columns])
        pm.Bernoulli("y", logit_p=logit, observed=data["y"])
    return model


def fit_inputs(arms: list[Arm], factors: dict[str, list], **options) -> str:
    """A digest of everything a fit depends on: each arm's levels, seed, prompts and flags, the factors, the
    sampler's options and the model's version. The same digest means the same posterior, so a report reuses it."""
    digest = hashlib.sha256(json.dumps({"factors": factors, "options": options, "model": MODEL_VERSION},
                                       sort_keys=True, default=str).encode())
    for arm in arms:
        digest.update(json.dumps([arm.family, arm.name, arm.levels, arm.seed, list(arm.ids())], default=str).encode())
        for flags in (arm.reference, arm.flags):
            digest.update(np.asarray(flags, dtype=np.int8).tobytes())
    return digest.hexdigest()[:16]


def fit_or_reuse(arms: list[Arm], factors: dict[str, list], previous: dict | None = None,
                 on_fit=lambda: None, **options) -> tuple[FactorModel, str, bool]:
    """(model, its inputs' digest, whether it was reused): ``previous`` (a factors.json record) is reused when it
    holds a model fitted on the same inputs (:func:`fit_inputs`; the regression takes minutes at a real study's
    size), else ``on_fit()`` is called and the model fitted with ``options`` (:func:`fit_factor_model`'s)."""
    key = fit_inputs(arms, factors, **{k: v for k, v in options.items() if k != "cores"})
    if previous and previous.get("fit_inputs") == key and previous.get("model"):
        return FactorModel.from_dict(previous["model"]), key, True
    on_fit()
    return fit_factor_model(arms, factors, **options), key, False


def _inv_logit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fit_factor_model(arms: list[Arm], factors: dict[str, list] | None = None, *, hdi_prob: float = 0.95,
                     seed: int = 0, draws: int = 1000, tune: int = 1000, chains: int = 4,
                     cores: int | None = None, ess_floor: float = 400.0, design: str = "factorial") -> FactorModel:
    """The Bayesian logistic regression of the per-prompt toxic flags on the grid's factors; ``design`` says which
    cells each row of the level table is (:func:`~toxft.analysis.levels.level_cells`), for the model's own rows."""
    import nutpie

    from toxft.analysis.best import decide, diagnostics, hdi_interval
    from toxft.analysis.levels import factors_of

    factors = factors if factors is not None else factors_of(arms)
    data, families, columns, informative, prompt_family = _design(arms, factors)
    if informative == 0:
        raise ValueError("every prompt got the same flag from every model: there is nothing to explain")
    compiled = nutpie.compile_pymc_model(_regression(data, len(prompt_family), len(families), len(columns)))
    trace = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores or chains, seed=seed,
                          progress_bar=False)
    post = trace.posterior

    def flat(name: str) -> np.ndarray:  # (draws, ...) with the chains stacked
        values = post[name].values
        return values.reshape(-1, *values.shape[2:])

    intercepts = flat("mu")[:, None] + flat("sigma")[:, None] * flat("z")  # draws x prompts
    fine_tuned, beta = flat("fine_tuned"), flat("beta")
    reference = np.stack([_inv_logit(intercepts[:, prompt_family == f] - fine_tuned[:, [f]]).mean(axis=1)
                          for f in range(len(families))], axis=1)  # draws x families

    def summary(values: np.ndarray) -> tuple[float, tuple[float, float], bool]:
        hdi = hdi_interval(values, hdi_prob)
        return float(values.mean()), hdi, converged and decide(hdi, None, True)  # an unconverged fit states no effect

    # Diagnostics of the effects the report states; the prompts' mean and spread are nuisance parameters.
    rhat_max, ess_min, divergences, converged = diagnostics(
        trace, ["fine_tuned"] + (["beta"] if columns else []), ess_floor)
    coefficients = []
    for f, family in enumerate(families):
        pp = _inv_logit(intercepts[:, prompt_family == f]).mean(axis=1) - reference[:, f]
        mean, hdi, credible = summary(fine_tuned[:, f])
        coefficients.append(Coefficient(f"fine-tuned ({family})", mean, hdi, credible, *summary(pp)[:2]))
    at_baseline = _inv_logit(intercepts).mean(axis=1)
    for i, (factor, level) in enumerate(columns):
        pp = _inv_logit(intercepts + beta[:, [i]]).mean(axis=1) - at_baseline
        mean, hdi, credible = summary(beta[:, i])
        coefficients.append(Coefficient(f"{factor} = {level}", mean, hdi, credible, *summary(pp)[:2]))

    changes: dict[int, np.ndarray] = {}  # per fine-tune (by id), computed once: a cell sits in one row per factor

    def cell_change(arm: Arm) -> np.ndarray:
        """The model's change of one fine-tune against its reference, over its family's prompts, per draw."""
        if id(arm) not in changes:
            f = families.index(arm.family)
            shift = sum((beta[:, c] for c, (factor, level) in enumerate(columns) if arm.levels.get(factor) == level),
                        np.zeros(len(beta)))
            changes[id(arm)] = _inv_logit(intercepts[:, prompt_family == f] + shift[:, None]).mean(axis=1) - reference[:, f]
        return changes[id(arm)]

    levels = []
    for (factor, level), cells in level_cells(arms, factors, design).items():
        if not cells:
            continue
        # Families weigh by their prompts and each family's cells equally, as in the level table.
        weights = {f: (prompt_family == families.index(f)).sum() for f in {arm.family for arm in cells}}
        mean = sum(cell_change(arm) * weights[arm.family] / sum(weights.values())
                   / sum(other.family == arm.family for other in cells) for arm in cells)
        levels.append(ModelLevel(factor, level, *summary(mean)))
    return FactorModel(tuple(coefficients), len(data["y"]), informative, len(prompt_family), rhat_max, ess_min,
                       divergences, converged, hdi_prob, {factor: str(levels_[0]) for factor, levels_ in factors.items()},
                       tuple(levels))


@dataclass(frozen=True)
class Disagreement:
    """A row of the level table where the regression says otherwise (direction or credibility)."""

    factor: str
    level: str
    table: LevelChange
    model: ModelLevel


def disagreements(rows: list[LevelChange], model: FactorModel) -> list[Disagreement]:
    """Rows whose direction (credibly higher, lower, or neither) the regression's change for the same cells does
    not share. None are looked for in a fit that did not converge."""
    if not model.converged:
        return []
    found = []
    for row in rows:
        mine = model.level(row.factor, row.level)
        if mine is not None and mine.direction != row.direction:
            found.append(Disagreement(row.factor, row.level, row, mine))
    return found
