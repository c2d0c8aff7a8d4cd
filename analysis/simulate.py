"""Simulated paired scores with the shapes of the paper's classifier on LLM continuations.

logit(P(hate)) ~ Normal(−7.5, 1.6) for ordinary continuations (median ≈ 5e-4) and
~ Normal(4, 1.8) for toxic ones. The model with the rarer toxic continuations has its toxic
prompts chosen at random; ``overlap`` of them are toxic for the other model too, whose
remaining toxic prompts are drawn from the rest. For tests and benchmarks of the comparisons.
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


def grid_flags(n_prompts: int, factors: dict[str, list], effects: dict[str, float], *, fine_tuned: float,
               seeds: int = 2, setup_sd: float = 0.0, prompt_mu: float = -2.0, prompt_sd: float = 1.5,
               seed: int = 0) -> list:
    """A simulated study grid with known effects, as :class:`toxft.analysis.factors.Arm` records.

    Each prompt has a log-odds of a toxic answer drawn from Normal(``prompt_mu``, ``prompt_sd``);
    the reference answers at it, and every cell of the factorial grid (``seeds`` replicates each)
    at it plus ``fine_tuned`` plus ``effects["factor = level"]`` for its non-baseline levels plus a
    Normal(0, ``setup_sd``) shift of its own.
    """
    from toxft.analysis.factors import Arm

    rng = np.random.default_rng(seed)
    prompt_logit = rng.normal(prompt_mu, prompt_sd, n_prompts)

    def flags(shift: float) -> np.ndarray:
        return (rng.random(n_prompts) < 1.0 / (1.0 + np.exp(-(prompt_logit + shift)))).astype(float)

    reference = flags(0.0)
    arms = []
    for combo in itertools.product(*factors.values()):
        levels = dict(zip(factors, combo, strict=True))
        shift = fine_tuned + sum(effects.get(f"{factor} = {level}", 0.0) for factor, level in levels.items())
        for replicate in range(seeds):
            name = ",".join(f"{k}={v}" for k, v in levels.items()) + f",seed={replicate}"
            arms.append(Arm("simulated", name, levels, replicate, reference,
                            flags(shift + rng.normal(0.0, setup_sd) if setup_sd else shift)))
    return arms
