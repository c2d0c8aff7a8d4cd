"""What each level of a study grid changed, like with like, with intervals that cover the prompts and the seeds.

Inputs: :class:`Arm` records, one per fine-tune of the grid (a *cell*): its family, its factor levels
(method, r, rows, control, ...), its seed, and the 0/1 toxic flags of the cell and of the family's
reference model (the instruct model it was trained from) on the same prompts.

Outputs, each a paired change in the toxic rate in probability units, with its posterior mean (the
headline number), its HDI and the observed change:

* :func:`level_changes`: per factor and level. One-at-a-time grid: the baseline cell with that one thing
  changed. Factorial grid: every cell at the level, the balanced marginal mean when the grid is complete
  (:func:`unbalanced` says when it is not).
* :func:`combinations` and :func:`interactions` (factorial grids): for each pair of factors, the change at
  each combination of their levels, and the difference of differences against both baselines.
* :func:`setup_variance`: the set-up variance between seeds of the same settings, pooled over the settings
  that have several.

How an interval is made. An estimate is a weighted mean of cells' changes; its error has two sources.
The prompts: a Bayesian bootstrap over prompts (Rubin, 1981) of each prompt's weighted difference, with the
paired rate model's prior as four pseudo-prompts (one at +1, one at -1, two at 0), so that a single cell
gets exactly :func:`toxft.analysis.compare_paired`'s posterior. The seeds: the between-seed variance of a
cell's change, net of the prompt-level noise the bootstrap already carries, enters as a scaled Student t
with the pooled degrees of freedom (the posterior of a mean from a few replicates under the usual
non-informative prior). With one seed per setting that term is absent, and :attr:`SetupVariance.covers`
says set-up variance is unmeasured. ``benchmarks/grid_coverage.py`` measures the intervals' coverage.

Example::

    >>> import numpy as np
    >>> ref = np.zeros(200); ft = np.r_[np.ones(40), np.zeros(160)]
    >>> arms = [Arm("fam", "cell-a", {"method": "lora"}, None, ref, ft)]
    >>> [round(c.change, 3) for c in level_changes(arms, {"method": ["lora"]})]
    [0.196]
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

# The paired rate model's Dirichlet(1, 1, 1, 1) prior as prompts: toxic only for the fine-tune (+1), only for the
# reference (-1), for both or neither (0). Without it, a level with a single discordant prompt would look credible.
PRIOR_PROMPTS = np.array([1.0, -1.0, 0.0, 0.0])


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

    @property
    def setting(self) -> tuple:
        """What the fine-tune was trained with, its seed aside: seeds of one setting are replicates."""
        return (self.family, tuple(sorted((str(k), str(v)) for k, v in self.levels.items())))


@dataclass(frozen=True)
class SetupVariance:
    """How much a fine-tune's change varies between seeds of the same settings, pooled over the grid."""

    sd: float  # between-seed sd of one fine-tune's change, net of prompt-level noise (probability units)
    df: int  # sum over the settings of (seeds - 1): 0 when no setting has two seeds
    settings: int  # settings with two or more seeds

    @property
    def measured(self) -> bool:
        return self.df > 0

    @property
    def covers(self) -> str:
        """What an interval made with it covers, in words."""
        if not self.measured:
            return "prompt sampling only (one seed per setting: set-up variance unmeasured)"
        return (f"prompt sampling and set-up variance (seeds: sd {100 * self.sd:.1f} pp, pooled over {self.settings} "
                f"setting{'s' if self.settings != 1 else ''}, {self.df} degree{'s' if self.df != 1 else ''} of freedom)")

    def to_dict(self) -> dict:
        return {**asdict(self), "covers": self.covers}


@dataclass(frozen=True)
class Estimate:
    """A paired change against the reference (or a contrast of such changes), in probability units."""

    change: float  # posterior mean: the headline number
    hdi: tuple[float, float]
    observed: float  # the same weighted mean of the cells' observed changes
    prompts: int
    credible: bool
    direction: str  # "higher", "lower" or "no credible difference"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LevelChange(Estimate):
    """The change against the reference of the cells at one level of one factor."""

    factor: str
    level: str
    cells: int
    cell_changes: tuple[float, ...]  # each cell's own observed change


@dataclass(frozen=True)
class Combination(Estimate):
    """The change against the reference at one combination of two factors' levels (a factorial grid)."""

    factors: tuple[str, str]
    levels: tuple[str, str]
    cells: int


@dataclass(frozen=True)
class Interaction(Estimate):
    """How much a level's change depends on another factor's level: (a, b) - (a0, b) - (a, b0) + (a0, b0)."""

    factors: tuple[str, str]
    levels: tuple[str, str]
    baselines: tuple[str, str]


def factors_of(arms: list[Arm]) -> dict[str, list]:
    """Each factor with its levels in the order the arms first show them (the study's order)."""
    found: dict[str, list] = {}
    for arm in arms:
        for factor, level in arm.levels.items():
            if level not in found.setdefault(factor, []):
                found[factor].append(level)
    return found


def shared_prompts(arms: list[Arm]) -> tuple[list[str], list[dict]]:
    """The prompt ids every arm answered (in the first arm's order), and each arm's position of an id."""
    positions = [dict(zip(arm.ids(), range(len(arm.flags)), strict=True)) for arm in arms]
    return [p for p in positions[0] if all(p in where for where in positions[1:])], positions


def setup_variance(arms: list[Arm]) -> SetupVariance:
    """The between-seed variance of a fine-tune's change, pooled over the settings that have several seeds.

    Within a setting of k seeds on n shared prompts, the variance s^2 of the cells' changes is the set-up
    variance plus the prompt-level noise over n; the variance v across cells on one prompt (averaged over the
    prompts) is the set-up variance plus that noise whole. So s^2 - (v - s^2) / (n - 1) is the set-up variance alone,
    which the bootstrap over prompts does not already count."""
    groups: dict[tuple, list[Arm]] = {}
    for arm in arms:
        groups.setdefault(arm.setting, []).append(arm)
    pooled, df, settings = 0.0, 0, 0
    for members in groups.values():
        shared, positions = shared_prompts(members)
        if len(members) < 2 or len(shared) < 2:
            continue
        flags = np.array([[arm.flags[where[p]] for p in shared] for arm, where in zip(members, positions)], dtype=float)
        between = flags.mean(axis=1).var(ddof=1)  # the reference is shared, so it cancels out of the spread
        within = flags.var(axis=0, ddof=1).mean()
        k = len(members)
        pooled += (k - 1) * (between - (within - between) / (len(shared) - 1))
        df += k - 1
        settings += 1
    return SetupVariance(float(np.sqrt(max(pooled / df, 0.0))) if df else 0.0, df, settings)


def _dirichlet_mean_draws(values: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Bayesian-bootstrap draws of the mean of ``values`` (Dirichlet(1, ..., 1) weights), in chunks."""
    out = np.empty(draws)
    chunk = max(1, 2_000_000 // max(1, len(values)))
    for start in range(0, draws, chunk):
        weights = rng.standard_exponential((min(chunk, draws - start), len(values)))
        out[start:start + len(weights)] = weights @ values / weights.sum(axis=1)
    return out


def contrast(weighted: list[tuple[Arm, float]], setup: SetupVariance, *, hdi_prob: float = 0.95,
             rope: tuple[float, float] | None = None, seed: int = 0, draws: int = 40_000) -> Estimate | None:
    """The posterior of sum(weight x change) over ``weighted`` cells, each family on the prompts all its cells
    answered (weights within a family; families pooled by their prompts). None with fewer than two prompts."""
    from toxft.analysis.best import decide, hdi_interval

    series, seed_weight = [], []
    for family in dict.fromkeys(arm.family for arm, _ in weighted):
        mine = [(arm, w) for arm, w in weighted if arm.family == family]
        shared, positions = shared_prompts([arm for arm, _ in mine])
        if not shared:
            continue
        per_prompt = np.zeros(len(shared))
        for (arm, w), where in zip(mine, positions, strict=True):
            index = [where[p] for p in shared]
            per_prompt += w * (arm.flags[index] - arm.reference[index])
        series.append(per_prompt)
        seed_weight.append((len(shared), sum(w * w for _, w in mine)))
    values = np.concatenate(series) if series else np.empty(0)
    if len(values) < 2:
        return None
    total = len(values)
    rng = np.random.default_rng(seed)
    prompts = _dirichlet_mean_draws(np.concatenate([values, PRIOR_PROMPTS]), draws, rng)
    posterior = prompts
    seed_var = setup.sd ** 2 * sum((n / total) ** 2 * w2 for n, w2 in seed_weight)
    if setup.measured and seed_var > 0:
        posterior = prompts + np.sqrt(seed_var) * rng.standard_t(setup.df, draws)
    hdi = hdi_interval(posterior, hdi_prob)
    credible = decide(hdi, rope, True)
    # The seed term is symmetric about 0, so the centre is the prompts' posterior mean (a t with one degree of
    # freedom has no mean of its own to average).
    return Estimate(float(prompts.mean()), hdi, float(values.mean()), total, credible,
                    ("higher" if hdi[0] > 0 else "lower") if credible else "no credible difference")


def _means_of(cells: list[Arm], sign: float = 1.0) -> list[tuple[Arm, float]]:
    """Each family's cells weighted equally, so each family's term is the mean of its cells."""
    out = []
    for family in dict.fromkeys(arm.family for arm in cells):
        mine = [arm for arm in cells if arm.family == family]
        out += [(arm, sign / len(mine)) for arm in mine]
    return out


def level_cells(arms: list[Arm], factors: dict[str, list], design: str) -> dict[tuple[str, str], list[Arm]]:
    """(factor, level) -> the cells its change is the mean of: every cell at the level (factorial), or those
    with every other factor at its baseline, the first level (one-at-a-time)."""
    baseline = {factor: levels[0] for factor, levels in factors.items() if levels}
    chosen = {}
    for factor, levels in factors.items():
        for level in levels:
            chosen[(factor, str(level))] = [arm for arm in arms if arm.levels.get(factor) == level and (
                design != "one-at-a-time" or all(arm.levels.get(other) == baseline[other]
                                                  for other in factors if other != factor))]
    return chosen


def level_changes(arms: list[Arm], factors: dict[str, list] | None = None, *, hdi_prob: float = 0.95,
                  rope: tuple[float, float] | None = None, seed: int = 0, draws: int = 40_000,
                  design: str = "factorial", setup: SetupVariance | None = None) -> list[LevelChange]:
    """Per factor and level, the change of the cells at that level against their reference (:func:`level_cells`),
    the baseline level's row first; ``setup`` defaults to :func:`setup_variance` of ``arms``."""
    factors = factors or factors_of(arms)
    setup = setup if setup is not None else setup_variance(arms)
    rows = []
    for (factor, level), cells in level_cells(arms, factors, design).items():
        found = contrast(_means_of(cells), setup, hdi_prob=hdi_prob, rope=rope, seed=seed, draws=draws) if cells else None
        if found is not None:
            rows.append(LevelChange(**vars(found), factor=factor, level=level, cells=len(cells),
                                    cell_changes=tuple(arm.change for arm in cells)))
    return rows


def _pairs(factors: dict[str, list]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in itertools.combinations(factors, 2) if len(factors[a]) > 1 and len(factors[b]) > 1]


def combinations(arms: list[Arm], factors: dict[str, list], *, hdi_prob: float = 0.95, seed: int = 0,
                 draws: int = 40_000, setup: SetupVariance | None = None) -> list[Combination]:
    """For each pair of factors of a factorial grid, the change at each combination of their levels (the mean over
    the other factors' levels and the seeds): the points of an interaction plot."""
    setup = setup if setup is not None else setup_variance(arms)
    rows = []
    for a, b in _pairs(factors):
        for level_a, level_b in itertools.product(factors[a], factors[b]):
            cells = [arm for arm in arms if arm.levels.get(a) == level_a and arm.levels.get(b) == level_b]
            found = contrast(_means_of(cells), setup, hdi_prob=hdi_prob, seed=seed, draws=draws) if cells else None
            if found is not None:
                rows.append(Combination(**vars(found), factors=(a, b), levels=(str(level_a), str(level_b)),
                                        cells=len(cells)))
    return rows


def interactions(arms: list[Arm], factors: dict[str, list], *, hdi_prob: float = 0.95,
                 rope: tuple[float, float] | None = None, seed: int = 0, draws: int = 40_000,
                 setup: SetupVariance | None = None) -> list[Interaction]:
    """For each pair of factors and each pair of non-baseline levels, how much the first level's change at the
    second level differs from its change at the second factor's baseline (pp of pp); where all four combinations
    have results."""
    setup = setup if setup is not None else setup_variance(arms)
    rows = []
    for a, b in _pairs(factors):
        a0, b0 = factors[a][0], factors[b][0]
        for level_a, level_b in itertools.product(factors[a][1:], factors[b][1:]):
            corners = [((level_a, level_b), 1.0), ((a0, level_b), -1.0), ((level_a, b0), -1.0), ((a0, b0), 1.0)]
            weighted = []
            for family in dict.fromkeys(arm.family for arm in arms):
                cells = [[arm for arm in arms if arm.family == family and arm.levels.get(a) == x
                          and arm.levels.get(b) == y] for (x, y), _ in corners]
                if all(cells):
                    weighted += [pair for group, (_, sign) in zip(cells, corners) for pair in _means_of(group, sign)]
            found = contrast(weighted, setup, hdi_prob=hdi_prob, rope=rope, seed=seed, draws=draws) if weighted else None
            if found is not None:
                rows.append(Interaction(**vars(found), factors=(a, b), levels=(str(level_a), str(level_b)),
                                        baselines=(str(a0), str(b0))))
    return rows


def unbalanced(arms: list[Arm], factors: dict[str, list]) -> str | None:
    """Why a factorial grid's level means are not balanced marginal means, or None when every combination of levels
    has results, each with the same number of fine-tunes (seeds)."""
    counts = {}
    for arm in arms:
        key = tuple(arm.levels.get(factor) for factor in factors)
        counts[key] = counts.get(key, 0) + 1
    every = list(itertools.product(*factors.values()))
    missing = [combo for combo in every if combo not in counts]
    if missing:
        named = "; ".join(", ".join(f"{f} = {v}" for f, v in zip(factors, combo)) for combo in missing[:3])
        return (f"{len(missing)} of the grid's {len(every)} combinations of levels have no results ({named}"
                f"{'; ...' if len(missing) > 3 else ''}): a level's mean is over the combinations it has, so the other "
                "factors' levels weigh differently in each")
    if len(set(counts.values())) > 1:
        return ("the combinations of levels have different numbers of fine-tunes (seeds): a level's mean weighs "
                "them by their number")
    return None
