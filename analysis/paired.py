"""The paired rate model: both models answered the same prompts, so model the 2×2 table.

Inputs: two equal-length sequences of 0/1 toxic flags, ``toxic_a[i]`` and ``toxic_b[i]``
for the same prompt ``i``. The four cells (toxic for both, only for A, only for B, for
neither) get a Dirichlet(1, 1, 1, 1) prior, so the posterior is Dirichlet(1 + counts),
exact and conjugate: no MCMC. The difference of toxic rates is
``p(only A) − p(only B)``; prompts both models treat alike carry no information about
it, which is why the paired posterior is narrower than two independent Betas whenever
the models agree on most prompts.

Output: :class:`PairedRateResult`, with the same fields as
:class:`toxft.analysis.rates.RateResult` plus the four counts.

Example::

    >>> from toxft.analysis import compare_paired
    >>> r = compare_paired([1, 1, 0, 0] * 50, [1, 0, 0, 0] * 50)
    >>> r.only_a, r.only_b, r.credible
    (50, 0, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from toxft.analysis.rates import RateResult


@dataclass(frozen=True)
class PairedRateResult(RateResult):
    """Posterior of rate_a − rate_b from prompt-paired flags (Dirichlet over the 2×2 table)."""

    both: int
    only_a: int
    only_b: int
    neither: int
    diff_sd: float


def dirichlet_moments(only_a: int, only_b: int, n: int) -> tuple[float, float]:
    """Closed-form posterior mean and standard deviation of p(only A) − p(only B)."""
    alpha_a, alpha_b, total = 1.0 + only_a, 1.0 + only_b, 4.0 + n
    mean = (alpha_a - alpha_b) / total
    # Var(X − Y) for two Dirichlet components: Var X + Var Y − 2 Cov(X, Y), Cov = −a_x a_y / (t² (t + 1)).
    variance = (alpha_a * (total - alpha_a) + alpha_b * (total - alpha_b) + 2.0 * alpha_a * alpha_b) / (
        total**2 * (total + 1.0)
    )
    return mean, float(np.sqrt(variance))


def prob_first_greater(only_a: int, only_b: int) -> float:
    """Exact P(p(only A) > p(only B)): their share of the discordant mass is Beta(1 + only A, 1 + only B)."""
    from scipy.stats import beta

    return float(beta.sf(0.5, 1 + only_a, 1 + only_b))


@lru_cache(maxsize=4096)
def _difference_hdi(counts: tuple[int, int, int, int], hdi_prob: float, seed: int | None,
                    draws: int) -> tuple[float, float]:
    """The HDI of p(only A) − p(only B) under Dirichlet(1 + counts); the same counts and seed give the same interval."""
    from toxft.analysis.best import hdi_interval

    # The HDI has no closed form: many independent Dirichlet draws (Monte Carlo error ~1e-4 of a rate).
    rng = np.random.default_rng(seed)
    cells = rng.dirichlet([1.0 + c for c in counts], size=draws)
    return hdi_interval(cells[:, 1] - cells[:, 2], hdi_prob)


def compare_paired(toxic_a, toxic_b, hdi_prob: float = 0.95, *, rope=None, seed: int | None = 0,
                   draws: int = 400_000) -> PairedRateResult:
    """Posterior of the difference of toxic rates from flags paired by prompt (conjugate, no MCMC)."""
    from toxft.analysis.best import decide

    flags_a, flags_b = np.asarray(toxic_a, dtype=float) > 0.5, np.asarray(toxic_b, dtype=float) > 0.5
    if flags_a.shape != flags_b.shape or flags_a.ndim != 1:
        raise ValueError("compare_paired needs two flag sequences of the same length, one flag per shared prompt")
    n = len(flags_a)
    if n == 0:
        raise ValueError("compare_paired needs at least one shared prompt")
    both = int((flags_a & flags_b).sum())
    only_a = int((flags_a & ~flags_b).sum())
    only_b = int((~flags_a & flags_b).sum())
    neither = n - both - only_a - only_b
    hdi = _difference_hdi((both, only_a, only_b, neither), hdi_prob, seed, draws)
    mean, sd = dirichlet_moments(only_a, only_b, n)
    return PairedRateResult(
        n_a=n, n_b=n, toxic_a=both + only_a, toxic_b=both + only_b, rate_a=(both + only_a) / n,
        rate_b=(both + only_b) / n, diff_mean=mean, diff_hdi=hdi, prob_greater=prob_first_greater(only_a, only_b),
        hdi_prob=hdi_prob, rope=tuple(rope) if rope else None, credible=decide(hdi, rope, True),
        both=both, only_a=only_a, only_b=only_b, neither=neither, diff_sd=sd,
    )
