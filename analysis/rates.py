"""The exact Beta-Binomial posterior of the difference of two toxic rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

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


@lru_cache(maxsize=4096)
def _difference(k_a: int, n_a: int, k_b: int, n_b: int, hdi_prob: float, seed: int | None,
                draws: int) -> tuple[tuple[float, float], float]:
    """(HDI, P(a > b)) of rate_a − rate_b; the same counts and seed give the same numbers."""
    from toxft.analysis.best import hdi_interval

    # The posteriors are exact Betas; the difference has no closed form, so its HDI and
    # P(a > b) come from many independent draws (Monte Carlo error ~1e-3).
    rng = np.random.default_rng(seed)
    diff = rng.beta(1 + k_a, 1 + n_a - k_a, size=draws) - rng.beta(1 + k_b, 1 + n_b - k_b, size=draws)
    return hdi_interval(diff, hdi_prob), float((diff > 0).mean())


def compare_rates(toxic_a, toxic_b, hdi_prob: float = 0.95, *, rope=None, seed: int | None = 0,
                  draws: int = 400_000) -> RateResult:
    """Posterior of the difference of toxic rates from 0/1 flags (conjugate, no MCMC)."""
    from toxft.analysis.best import decide

    flags_a, flags_b = np.asarray(toxic_a, dtype=float), np.asarray(toxic_b, dtype=float)
    if len(flags_a) == 0 or len(flags_b) == 0:
        raise ValueError("compare_rates needs at least one flag per group")
    k_a, k_b = int(flags_a.sum()), int(flags_b.sum())
    n_a, n_b = len(flags_a), len(flags_b)
    hdi, prob_greater = _difference(k_a, n_a, k_b, n_b, hdi_prob, seed, draws)
    exact_mean = (1 + k_a) / (2 + n_a) - (1 + k_b) / (2 + n_b)
    return RateResult(
        n_a=n_a, n_b=n_b, toxic_a=k_a, toxic_b=k_b, rate_a=k_a / n_a, rate_b=k_b / n_b,
        diff_mean=float(exact_mean), diff_hdi=hdi, prob_greater=prob_greater,
        hdi_prob=hdi_prob, rope=tuple(rope) if rope else None, credible=decide(hdi, rope, True),
    )


def rate_hdi(k: int, n: int, prob: float = 0.95) -> tuple[float, float]:
    """The highest-density interval of one toxic rate, Beta(1 + k, 1 + n - k): the interval every toxft table shows.

    Unlike an equal-tailed interval it always holds the observed rate, 0 of n included ([0, high]).
    """
    from scipy.optimize import minimize_scalar
    from scipy.stats import beta

    posterior = beta(1 + k, 1 + n - k)
    if k == 0:
        return 0.0, float(posterior.ppf(prob))
    if k == n:
        return float(posterior.ppf(1 - prob)), 1.0
    # Unimodal: the HDI is the narrowest interval holding `prob` of the mass.
    width = lambda lower: posterior.ppf(lower + prob) - posterior.ppf(lower)  # noqa: E731
    lower = minimize_scalar(width, bounds=(0.0, 1.0 - prob), method="bounded", options={"xatol": 1e-10}).x
    return float(posterior.ppf(lower)), float(posterior.ppf(lower + prob))
