"""The paired rate model against independent computations, and against the unpaired one."""

from __future__ import annotations

import numpy as np
import pytest

from toxft.analysis import compare_paired, compare_rates


def flags(both: int, only_a: int, only_b: int, neither: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two flag vectors with exactly these 2×2 counts, in an order shuffled by ``seed``."""
    a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither)
    b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither)
    order = np.random.default_rng(seed).permutation(len(a))
    return a[order], b[order]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_and_closed_form_moments(seed):
    a, b = flags(40, 32, 17, 911, seed)
    result = compare_paired(a, b, seed=seed)
    assert (result.both, result.only_a, result.only_b, result.neither) == (40, 32, 17, 911)
    assert (result.rate_a, result.rate_b) == (0.072, 0.057)
    # Posterior mean of p(only A) − p(only B) under Dirichlet(1 + counts), by hand.
    assert result.diff_mean == pytest.approx((33 - 18) / 1004)
    # An independent Monte Carlo estimate of the same posterior (other generator, other draws).
    draws = np.random.default_rng(100 + seed).dirichlet([41, 33, 18, 912], size=200_000)
    diff = draws[:, 1] - draws[:, 2]
    assert result.diff_sd == pytest.approx(diff.std(), rel=0.01)
    assert result.prob_greater == pytest.approx((diff > 0).mean(), abs=0.003)
    low, high = result.diff_hdi
    assert low == pytest.approx(np.quantile(diff, 0.025), abs=0.0015)
    assert high == pytest.approx(np.quantile(diff, 0.975), abs=0.0015)


def test_large_samples_agree_with_the_paired_proportions_interval():
    """With many prompts the posterior approaches the textbook interval for paired proportions."""
    n, only_a, only_b = 200_000, 9_000, 7_000
    a, b = flags(4_000, only_a, only_b, n - 4_000 - only_a - only_b, 0)
    result = compare_paired(a, b)
    p10, p01 = only_a / n, only_b / n
    estimate = p10 - p01
    se = np.sqrt((p10 + p01 - estimate**2) / n)
    assert result.diff_mean == pytest.approx(estimate, abs=2e-5)
    assert result.diff_hdi[0] == pytest.approx(estimate - 1.96 * se, abs=2e-4)
    assert result.diff_hdi[1] == pytest.approx(estimate + 1.96 * se, abs=2e-4)
    # P(A > B) is the one-sided binomial test of the discordant pairs, near certainty here.
    assert result.prob_greater > 0.9999


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_correlated_pairs_paired_credible_unpaired_not(seed):
    """The paper's Figure 4 case: severe subset, 7.2% vs 5.7% of 1,000 prompts, 70% shared toxic prompts."""
    a, b = flags(40, 32, 17, 911, seed)
    paired = compare_paired(a, b, seed=seed)
    unpaired = compare_rates(a, b, seed=seed)
    assert paired.credible and paired.diff_hdi[0] > 0
    assert not unpaired.credible and unpaired.diff_hdi[0] < 0 < unpaired.diff_hdi[1]
    assert paired.diff_hdi[1] - paired.diff_hdi[0] < 0.75 * (unpaired.diff_hdi[1] - unpaired.diff_hdi[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_difference_is_credible_for_neither(seed):
    a, b = flags(40, 25, 24, 911, seed)
    assert not compare_paired(a, b, seed=seed).credible
    assert not compare_rates(a, b, seed=seed).credible


def test_rope_rule():
    from toxft.analysis.compare import words as verdict

    a, b = flags(40, 32, 17, 911, 0)
    # HDI about [+0.1, +2.9] points: outside a ±0.05 point ROPE, not wholly outside ±1 point.
    assert compare_paired(a, b, rope=(-0.0005, 0.0005)).credible
    assert not compare_paired(a, b, rope=(-0.01, 0.01)).credible
    same = compare_paired(*flags(400, 100, 100, 9_400, 0), rope=(-0.01, 0.01))
    assert verdict(same) == "practically equivalent"


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        compare_paired([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="at least one"):
        compare_paired([], [])
