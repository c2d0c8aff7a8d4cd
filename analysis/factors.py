"""What changed the toxicity: a study grid's fine-tunes against their reference, factor by factor.

Inputs: :class:`Arm` records, one per fine-tune of the grid (a *cell*): its family, its factor
levels (method, r, rows, control, ...), its seed, and the 0/1 toxic flags of the cell and of the
family's reference model (the instruct model it was trained from) on the same prompts.

Outputs:

* :func:`level_changes`: per factor and level, the paired change in the toxic rate against the
  reference, like with like: in a one-at-a-time grid the cells at that level with every other factor
  at its baseline, in a factorial grid every cell at that level (a balanced marginal mean when the grid
  is complete: :func:`unbalanced` says when it is not), with an HDI from the Bayesian bootstrap over
  prompts (each prompt's difference between the cells' mean flag and the reference's flag; Rubin,
  1981) with the paired rate model's prior as four pseudo-prompts (one at +1, one at -1, two at 0),
  so that one cell's level gets exactly :func:`toxft.analysis.compare_paired`'s posterior; and the range of the single cells' changes,
  which is the set-up variance the seeds measure.
* :func:`fit_factor_model`: a Bayesian logistic regression (PyMC, sampled with nutpie) of every
  per-prompt flag on the factors, with a random intercept per prompt (the pairing), a fine-tuning
  effect per family (the change at the baseline levels), one coefficient per non-baseline level
  (log-odds against the factor's first level). Cells of the same levels (seeds) are replicates: the
  set-up variance between them is shown by :func:`level_changes`' single-cell range, not modelled.
* :func:`forgetting_or_learning`: what the content-free control says about why toxicity rose.

Example::

    >>> import numpy as np
    >>> ref = np.zeros(200); ft = np.r_[np.ones(40), np.zeros(160)]
    >>> arms = [Arm("fam", "cell-a", {"method": "lora"}, None, ref, ft)]
    >>> [round(c.change, 3) for c in level_changes(arms, {"method": ["lora"]})]
    [0.196]
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

# The paired rate model's Dirichlet(1, 1, 1, 1) prior as prompts: toxic only for the fine-tune (+1), only for the
# reference (-1), for both or neither (0). Without it, a level with a single discordant prompt would look credible.
PRIOR_PROMPTS = np.array([1.0, -1.0, 0.0, 0.0])
CONTROL_FACTOR = "control"
NO_CONTROL = "none"


@dataclass(frozen=True)
class Arm:
    """One fine-tune of the grid beside its reference, flags on the same prompts in the same order."""

    family: str
    name: str
    levels: dict  # factor -> level; the seed is not a factor
    seed: object | None
    reference: np.ndarray  # 0/1 flags of the family's reference model
    flags: np.ndarray  # 0/1 flags of this fine-tune
    prompts: tuple[str, ...] = ()  # the prompts' ids; by position when empty

    def ids(self) -> tuple[str, ...]:
        return self.prompts or tuple(map(str, range(len(self.flags))))

    @property
    def change(self) -> float:
        return float(np.mean(self.flags) - np.mean(self.reference))


@dataclass(frozen=True)
class LevelChange:
    """The paired change against the reference of the cells at one level of one factor."""

    factor: str
    level: str
    cells: int
    prompts: int
    change: float  # posterior mean of the cells' mean rate minus the reference's, in probability units
    hdi: tuple[float, float]
    cell_changes: tuple[float, ...]  # each cell's own change: their spread is the set-up variance
    credible: bool
    direction: str  # "higher", "lower" or "no credible difference"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Coefficient:
    """One effect of the regression, on the log-odds scale."""

    name: str  # "fine-tuned (family)", "method = full", "set-up sd (between seeds)"
    mean: float
    hdi: tuple[float, float]
    credible: bool

    @property
    def odds_ratio(self) -> float:
        return float(np.exp(self.mean))


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

    def coefficient(self, name: str) -> Coefficient:
        return next(c for c in self.coefficients if c.name == name)

    def to_dict(self) -> dict:
        found = asdict(self)
        for row, coefficient in zip(found["coefficients"], self.coefficients, strict=True):
            row["odds_ratio"] = coefficient.odds_ratio
        return found

    @classmethod
    def from_dict(cls, record: dict) -> "FactorModel":
        """The model :meth:`to_dict` wrote (factors.json), without refitting."""
        coefficients = tuple(Coefficient(c["name"], c["mean"], tuple(c["hdi"]), c["credible"])
                             for c in record["coefficients"])
        return cls(coefficients, *(record[name] for name in ("observations", "informative_prompts", "prompts",
                                                             "rhat_max", "ess_bulk_min", "divergences", "converged",
                                                             "hdi_prob")), dict(record.get("baseline") or {}))


def factors_of(arms: list[Arm]) -> dict[str, list]:
    """Each factor with its levels in the order the arms first show them (the study's order)."""
    found: dict[str, list] = {}
    for arm in arms:
        for factor, level in arm.levels.items():
            if level not in found.setdefault(factor, []):
                found[factor].append(level)
    return found


def _dirichlet_mean_draws(values: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Bayesian-bootstrap draws of the mean of ``values`` (Dirichlet(1, ..., 1) weights), in chunks."""
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    chunk = max(1, 2_000_000 // max(1, len(values)))
    for start in range(0, draws, chunk):
        weights = rng.standard_exponential((min(chunk, draws - start), len(values)))
        out[start:start + len(weights)] = weights @ values / weights.sum(axis=1)
    return out


def _per_prompt_differences(arms: list[Arm]) -> np.ndarray:
    """For each (family, prompt) every arm answered: the arms' mean flag minus the reference's flag."""
    differences = []
    for family in dict.fromkeys(arm.family for arm in arms):
        mine = [arm for arm in arms if arm.family == family]
        positions = [dict(zip(arm.ids(), range(len(arm.flags)), strict=True)) for arm in mine]
        shared = [p for p in positions[0] if all(p in where for where in positions[1:])]
        if not shared:
            continue
        cell_mean = np.mean([[arm.flags[where[p]] for p in shared] for arm, where in zip(mine, positions)], axis=0)
        reference = np.array([mine[0].reference[positions[0][p]] for p in shared], dtype=float)
        differences.append(cell_mean - reference)
    return np.concatenate(differences) if differences else np.empty(0)


def level_changes(arms: list[Arm], factors: dict[str, list] | None = None, *, hdi_prob: float = 0.95,
                  rope: tuple[float, float] | None = None, seed: int = 0, draws: int = 40_000,
                  design: str = "factorial") -> list[LevelChange]:
    """Per factor and level, the paired change of the cells at that level against their reference.

    Like is compared with like: in a ``one-at-a-time`` grid a level's cells are those with every other factor at
    its baseline (first) level, so each level is the baseline cell with one thing changed (the baseline level's
    row is the baseline cell itself); in a ``factorial`` grid they are every cell at the level, which in a complete
    grid is the balanced marginal mean (see :func:`unbalanced` for one that is not)."""
    from toxft.analysis.best import decide, hdi_interval

    factors = factors or factors_of(arms)
    baseline = {factor: levels[0] for factor, levels in factors.items() if levels}
    rows = []
    for factor, levels in factors.items():
        for level in levels:
            chosen = [arm for arm in arms if arm.levels.get(factor) == level and (
                design != "one-at-a-time" or all(arm.levels.get(other) == baseline[other]
                                                  for other in factors if other != factor))]
            differences = _per_prompt_differences(chosen)
            if not chosen or len(differences) < 2:
                continue
            posterior = _dirichlet_mean_draws(np.concatenate([differences, PRIOR_PROMPTS]), draws, seed)
            hdi = hdi_interval(posterior, hdi_prob)
            credible = decide(hdi, rope, True)
            direction = ("higher" if hdi[0] > 0 else "lower") if credible else "no credible difference"
            rows.append(LevelChange(factor, str(level), len(chosen), len(differences), float(posterior.mean()), hdi,
                                    tuple(arm.change for arm in chosen), credible, direction))
    return rows


def unbalanced(arms: list[Arm], factors: dict[str, list]) -> str | None:
    """Why a factorial grid's level means are not balanced marginal means, or None when every combination of levels
    has results, each with the same number of fine-tunes (seeds)."""
    import itertools

    counts = {}
    for arm in arms:
        key = tuple(arm.levels.get(factor) for factor in factors)
        counts[key] = counts.get(key, 0) + 1
    combinations = list(itertools.product(*factors.values()))
    missing = [combo for combo in combinations if combo not in counts]
    if missing:
        named = "; ".join(", ".join(f"{f} = {v}" for f, v in zip(factors, combo)) for combo in missing[:3])
        return (f"{len(missing)} of the grid's {len(combinations)} combinations of levels have no results ({named}"
                f"{'; ...' if len(missing) > 3 else ''}): a level's mean is over the combinations it has, so the other "
                "factors' levels weigh differently in each")
    if len(set(counts.values())) > 1:
        return ("the combinations of levels have different numbers of fine-tunes (seeds): a level's mean weighs "
                "them by their number")
    return None


def _design(arms: list[Arm], factors: dict[str, list]):
    """Observations of the regression: the reference's and every cell's flag on each shared prompt, with their codes;
    then the families, the level columns, how many prompts some model answered differently, and how many there were."""
    families = list(dict.fromkeys(arm.family for arm in arms))
    columns = [(factor, level) for factor, levels in factors.items() for level in levels[1:]]
    y, prompt, family, treated, rows = [], [], [], [], []
    prompts_seen = informative = 0
    for f_index, name in enumerate(families):
        mine = [arm for arm in arms if arm.family == name]
        positions = [dict(zip(arm.ids(), range(len(arm.flags)), strict=True)) for arm in mine]
        shared = [p for p in positions[0] if all(p in where for where in positions[1:])]
        for index, p in enumerate(shared, start=prompts_seen):
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
        prompts_seen += len(shared)
    return dict(y=np.array(y), prompt=np.array(prompt, dtype=int), family=np.array(family, dtype=int),
                treated=np.array(treated),
                x=np.array(rows, dtype=float).reshape(len(y), len(columns))), families, columns, informative, prompts_seen


def _regression(data: dict, n_prompts: int, n_families: int, n_columns: int):
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.5)
        sigma = pm.HalfNormal("sigma", 2.5)
        # Each prompt's intercept is the fine-tunes' log-odds at the baseline levels, which many flags pin
        # down; the reference sits `fine_tuned` below it. (With the intercept on the reference, its single
        # flag per prompt leaves the intercept and the effect trading off, and the chains barely mix.)
        prompt = mu + sigma * pm.Normal("z", 0.0, 1.0, shape=n_prompts)
        fine_tuned = pm.Normal("fine_tuned", 0.0, 2.5, shape=n_families)
        beta = pm.Normal("beta", 0.0, 2.5, shape=max(1, n_columns))
        logit = prompt[data["prompt"]] - (1.0 - data["treated"]) * fine_tuned[data["family"]]
        if n_columns:
            logit = logit + data["treated"] * pm.math.dot(data["x"], beta[:n_columns])
        pm.Bernoulli("y", logit_p=logit, observed=data["y"])
    return model


def fit_inputs(arms: list[Arm], factors: dict[str, list], **options) -> str:
    """A digest of everything a fit depends on: each arm's levels, seed, prompts and flags, the factors and the
    sampler's options. The same digest means the same posterior, so a report reuses the fit it wrote."""
    digest = hashlib.sha256(json.dumps({"factors": factors, "options": options}, sort_keys=True, default=str).encode())
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


def fit_factor_model(arms: list[Arm], factors: dict[str, list] | None = None, *, hdi_prob: float = 0.95,
                     seed: int = 0, draws: int = 1000, tune: int = 1000, chains: int = 4,
                     cores: int | None = None, ess_floor: float = 400.0) -> FactorModel:
    """The Bayesian logistic regression of the per-prompt toxic flags on the grid's factors."""
    import nutpie

    from toxft.analysis.best import decide, diagnostics, hdi_interval

    factors = factors if factors is not None else factors_of(arms)
    data, families, columns, informative, prompts = _design(arms, factors)
    if informative == 0:
        raise ValueError("every prompt got the same flag from every model: there is nothing to explain")
    compiled = nutpie.compile_pymc_model(_regression(data, prompts, len(families), len(columns)))
    trace = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores or chains, seed=seed,
                          progress_bar=False)
    post = trace.posterior
    named = [(f"fine-tuned ({family})", post["fine_tuned"].values[..., i].reshape(-1)) for i, family in enumerate(families)]
    named += [(f"{factor} = {level}", post["beta"].values[..., i].reshape(-1)) for i, (factor, level) in enumerate(columns)]
    # Diagnostics of the effects the report states; the prompts' mean and spread are nuisance parameters.
    rhat_max, ess_min, divergences, converged = diagnostics(trace, ["fine_tuned"] + (["beta"] if columns else []),
                                                            ess_floor)
    coefficients = []
    for name, values in named:
        hdi = hdi_interval(values, hdi_prob)
        # An unconverged posterior states no effect.
        coefficients.append(Coefficient(name, float(values.mean()), hdi, converged and decide(hdi, None, True)))
    return FactorModel(tuple(coefficients), len(data["y"]), informative, prompts, rhat_max, ess_min, divergences,
                       converged, hdi_prob, {factor: str(levels[0]) for factor, levels in factors.items()})


def forgetting_or_learning(changes: list[LevelChange], model: FactorModel | None = None) -> str | None:
    """What a ``control`` factor says about a rise in toxicity: forgetting, learning from the data, or neither."""
    control = [row for row in changes if row.factor == CONTROL_FACTOR]
    real = next((row for row in control if row.level == NO_CONTROL), None)
    free = [row for row in control if row.level != NO_CONTROL]
    if real is None or not free:
        return None

    def pp(row: LevelChange) -> str:
        return f"{100 * row.change:+.1f} pp [{100 * row.hdi[0]:+.1f}, {100 * row.hdi[1]:+.1f}]"

    rose = [row for row in free if row.direction == "higher"]
    flat = [row for row in free if row.direction != "higher"]

    def listed(rows: list[LevelChange]) -> str:
        return ", ".join(f"control = {row.level}: {pp(row)}" for row in rows)

    if real.direction != "higher":
        return (f"Toxicity did not rise credibly with the real data ({pp(real)}; {listed(free)}), so the study cannot "
                "tell forgetting from learning.")
    if not rose:
        return (f"Toxicity rose with the real data ({pp(real)}) but not credibly with content-free data "
                f"({listed(flat)}): the numbers support **learning from the data** rather than forgetting.")
    verdict = (f"Toxicity rose with the real data ({pp(real)}) and with content-free data too ({listed(rose)}): the "
               "numbers support **forgetting**, the mitigation eroding whatever the data.")
    if flat:
        verdict += f" With other content-free data it did not rise ({listed(flat)})."
    less = [row.level for row in rose if model is not None and _credibly_negative(model, f"{CONTROL_FACTOR} = {row.level}")]
    if less:
        verdict += (f" It rose less with {', '.join(less)} data than with the real data (credibly, in the regression): "
                    "part of the rise is **learned from the data**.")
    return verdict


def _credibly_negative(model: FactorModel, name: str) -> bool:
    try:
        coefficient = model.coefficient(name)
    except StopIteration:
        return False
    return coefficient.credible and coefficient.hdi[1] < 0
