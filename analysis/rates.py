"""The exact Beta-Binomial posterior of the difference of two toxic rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class RateResult:
    """Posterior of rate_a - rate_b under independent Beta(1, 1) priors."""

    n_a: int
    n_b: int
    toxic_a: int
    toxic_b: int
    rate_a: float
    rate_b: float
    diff_mean: float
    diff_hdi: tuple[float, float]
    prob_greater: float
    hdi_prob: float
    rope: tuple[float, float] | None
    credible: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare_rates(toxic_a, toxic_b, hdi_prob: float = 0.95, *, rope=None, seed: int | None = 0,
                  draws: int = 400_000) -> RateResult:
    """Posterior of the difference of toxic rates from 0/1 flags (conjugate, no MCMC)."""
    from toxft.analysis.best import hdi_interval, decide

    flags_a, flags_b = np.asarray(toxic_a, dtype=float), np.asarray(toxic_b, dtype=float)
    if len(flags_a) == 0 or len(flags_b) == 0:
        raise ValueError("compare_rates needs at least one flag per group")
    k_a, k_b = int(flags_a.sum()), int(flags_b.sum())
    n_a, n_b = len(flags_a), len(flags_b)
    # The posteriors are exact Betas; the difference has no closed form, so its HDI and
    # P(a > b) come from many independent draws (Monte Carlo error ~1e-3).
    rng = np.random.default_rng(seed)
    post_a = rng.beta(1 + k_a, 1 + n_a - k_a, size=draws)
    post_b = rng.beta(1 + k_b, 1 + n_b - k_b, size=draws)
    diff = post_a - post_b
    hdi = hdi_interval(diff, hdi_prob)
    exact_mean = (1 + k_a) / (2 + n_a) - (1 + k_b) / (2 + n_b)
    return RateResult(
        n_a=n_a, n_b=n_b, toxic_a=k_a, toxic_b=k_b, rate_a=k_a / n_a, rate_b=k_b / n_b,
        diff_mean=float(exact_mean), diff_hdi=hdi, prob_greater=float((diff > 0).mean()),
        hdi_prob=hdi_prob, rope=tuple(rope) if rope else None, credible=decide(hdi, rope, True),
    )
