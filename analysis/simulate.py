"""Simulated paired scores with the shapes of the paper's classifier on LLM continuations.

logit(P(hate)) ~ Normal(−7.5, 1.6) for ordinary continuations (median ≈ 5e-4) and
~ Normal(4, 1.8) for toxic ones. The model with the rarer toxic continuations has its toxic
prompts chosen at random; ``overlap`` of them are toxic for the other model too, whose
remaining toxic prompts are drawn from the rest. For tests and benchmarks of the comparisons.
"""

from __future__ import annotations

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
