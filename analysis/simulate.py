"""Simulated paired scores with the shapes of the paper's classifier on LLM continuations.

logit(P(hate)) ~ Normal(−7.5, 1.6) for ordinary continuations (median ≈ 5e-4) and
~ Normal(4, 1.8) for toxic ones. The model with the rarer toxic continuations has its toxic
prompts chosen at random; ``overlap`` of them are toxic for the other model too, whose
remaining toxic prompts are drawn from the rest. For tests and benchmarks of the comparisons;
and study grids with known level effects, set-up variance between seeds and interactions, with the
truth their intervals should cover (:func:`grid_coverage`).
"""

from __future__ import annotations

import itertools

import numpy as np


def paired_scores(n: int, rate_a: float, rate_b: float, overlap: float = 0.7,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores of models A and B on the same ``n`` prompts, with toxic shares ``rate_a`` and ``rate_b``."""
    rng = np.random.default_rng(seed)
    k_a, k_b = round(rate_a * n), round(rate_b * n)
    rare, common = (k_a, k_b) if k_a <= k_b else (k_b, k_a)
    order = rng.permutation(n)
    rare_set = order[:rare]
    shared = rare_set[: round(overlap * rare)]
    rest = rng.permutation(order[rare:])[: common - len(shared)]
    common_set = np.concatenate([shared, rest])
    toxic_rare, toxic_common = np.zeros(n, bool), np.zeros(n, bool)
    toxic_rare[rare_set], toxic_common[common_set] = True, True

    def scores(toxic: np.ndarray) -> np.ndarray:
        logits = np.where(toxic, rng.normal(4.0, 1.8, n), rng.normal(-7.5, 1.6, n))
        return 1.0 / (1.0 + np.exp(-logits))

    a, b = (toxic_rare, toxic_common) if k_a <= k_b else (toxic_common, toxic_rare)
    return scores(a), scores(b)


def _shift(levels: dict, effects: dict[str, float], interactions: dict[tuple[str, str], float] | None) -> float:
    named = {f"{factor} = {level}" for factor, level in levels.items()}
    return (sum(effects.get(name, 0.0) for name in named)
            + sum(value for pair, value in (interactions or {}).items() if set(pair) <= named))


def grid_settings(factors: dict[str, list], design: str = "factorial") -> list[dict]:
    """The grid's settings (levels of every factor): every combination, or the baseline and one change at a time."""
    if design == "factorial":
        return [dict(zip(factors, combo, strict=True)) for combo in itertools.product(*factors.values())]
    baseline = {factor: levels[0] for factor, levels in factors.items()}
    return [baseline] + [{**baseline, factor: level} for factor, levels in factors.items() for level in levels[1:]]


def grid_flags(n_prompts: int, factors: dict[str, list], effects: dict[str, float], *, fine_tuned: float,
               seeds: int = 2, setup_sd: float = 0.0, prompt_mu: float = -2.0, prompt_sd: float = 1.5,
               interactions: dict[tuple[str, str], float] | None = None, design: str = "factorial",
               seed: int = 0) -> list:
    """A simulated study grid with known effects, as :class:`toxft.analysis.levels.Arm` records.

    Each prompt has a log-odds of a toxic answer drawn from Normal(``prompt_mu``, ``prompt_sd``);
    the reference answers at it, and every cell of the grid (``seeds`` replicates each)
    at it plus ``fine_tuned`` plus ``effects["factor = level"]`` for its non-baseline levels plus
    ``interactions[("a = x", "b = y")]`` where it has both levels plus a Normal(0, ``setup_sd``) shift
    of its own (the seed's).
    """
    from toxft.analysis.levels import Arm

    rng = np.random.default_rng(seed)
    prompt_logit = rng.normal(prompt_mu, prompt_sd, n_prompts)

    def flags(shift: float) -> np.ndarray:
        return (rng.random(n_prompts) < 1.0 / (1.0 + np.exp(-(prompt_logit + shift)))).astype(float)

    reference = flags(0.0)
    arms = []
    for levels in grid_settings(factors, design):
        shift = fine_tuned + _shift(levels, effects, interactions)
        for replicate in range(seeds):
            name = ",".join(f"{k}={v}" for k, v in levels.items()) + f",seed={replicate}"
            arms.append(Arm("simulated", name, levels, replicate, reference,
                            flags(shift + rng.normal(0.0, setup_sd) if setup_sd else shift)))
    return arms


def true_change(levels: dict, effects: dict[str, float], *, fine_tuned: float, setup_sd: float = 0.0,
                prompt_mu: float = -2.0, prompt_sd: float = 1.5,
                interactions: dict[tuple[str, str], float] | None = None) -> float:
    """What :func:`grid_flags`' fine-tunes at ``levels`` change the toxic rate by, on average over the population
    of prompts and of seeds (Gauss-Hermite quadrature): the quantity a level's interval should cover."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()

    def rate(shift: float, sd: float) -> float:
        return float(weights @ (1.0 / (1.0 + np.exp(-(prompt_mu + shift + sd * nodes)))))

    shift = fine_tuned + _shift(levels, effects, interactions)
    return rate(shift, float(np.hypot(prompt_sd, setup_sd))) - rate(0.0, prompt_sd)


def grid_coverage(world: dict, *, design: str = "factorial", replicates: int = 100, hdi_prob: float = 0.95,
                  draws: int = 4000, seed: int = 0) -> dict[str, dict[str, float]]:
    """How often the level and interaction intervals cover the truth over ``replicates`` simulated grids of
    ``world`` (:func:`grid_flags`' keyword arguments, seed and design aside), with the mean bias and width of
    the estimates, in pp; ``prompts only`` rows are the same intervals without the seed term."""
    from toxft.analysis.levels import SetupVariance, interactions, level_cells, level_changes, setup_variance

    truth_options = {k: world[k] for k in ("effects", "fine_tuned", "setup_sd", "prompt_mu", "prompt_sd", "interactions")
                     if k in world}
    factors = world["factors"]

    def truth(cells) -> float:
        settings = {tuple(arm.levels.items()): arm.levels for arm in cells}
        return float(np.mean([true_change(levels, **truth_options) for levels in settings.values()]))

    def combo(a: str, x, b: str, y) -> float:
        return float(np.mean([true_change(levels, **truth_options) for levels in grid_settings(factors)
                              if levels[a] == x and levels[b] == y]))

    tallies: dict[str, list] = {}
    for replicate in range(replicates):
        arms = grid_flags(world["n_prompts"], factors, world["effects"], **{k: v for k, v in world.items() if k not in (
            "n_prompts", "factors", "effects")}, design=design, seed=seed + replicate)
        members = level_cells(arms, factors, design)
        for label, setup in (("levels", setup_variance(arms)), ("levels, prompts only", SetupVariance(0.0, 0, 0))):
            for row in level_changes(arms, factors, hdi_prob=hdi_prob, draws=draws, design=design, setup=setup,
                                     seed=replicate):
                tallies.setdefault(label, []).append((row, truth(members[(row.factor, row.level)])))
        if design == "factorial":
            for row in interactions(arms, factors, hdi_prob=hdi_prob, draws=draws, seed=replicate):
                (a, b), (x, y), (x0, y0) = row.factors, row.levels, row.baselines
                expected = combo(a, x, b, y) - combo(a, x0, b, y) - combo(a, x, b, y0) + combo(a, x0, b, y0)
                tallies.setdefault("interactions", []).append((row, expected))
    return {label: {"intervals": len(found),
                    "coverage": float(np.mean([row.hdi[0] <= t <= row.hdi[1] for row, t in found])),
                    "bias_pp": float(100 * np.mean([row.change - t for row, t in found])),
                    "width_pp": float(100 * np.mean([row.hdi[1] - row.hdi[0] for row, t in found]))}
            for label, found in tallies.items()}
