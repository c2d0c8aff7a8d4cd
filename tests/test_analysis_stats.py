"""BEST and the rate model: a published result, known differences, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from toxft.analysis import best, compare_rates

pytestmark = pytest.mark.slow

# Kruschke (2013), "Bayesian estimation supersedes the t test", the "smart drug" IQ data
# (N1 = 47, N2 = 42). Published: difference of means about 1.0, 95% HDI from about 0.17 to
# 1.9, excluding 0, while Welch's t test gives p = 0.11.
DRUG = (101, 100, 102, 104, 102, 97, 105, 105, 98, 101, 100, 123, 105, 103, 100, 95, 102, 106, 109, 102, 82, 102,
        100, 102, 102, 101, 102, 102, 103, 103, 97, 97, 103, 101, 97, 104, 96, 103, 124, 101, 101, 100, 101, 101,
        104, 100, 101)
PLACEBO = (99, 101, 100, 101, 102, 100, 97, 101, 104, 101, 102, 102, 100, 105, 88, 101, 100, 104, 100, 100, 100,
           101, 102, 103, 97, 101, 101, 100, 101, 99, 101, 100, 100, 101, 100, 99, 101, 100, 102, 99, 100, 99)


def test_reproduces_kruschkes_published_smart_drug_result():
    result = best(DRUG, PLACEBO, priors="kruschke", seed=1)
    assert 0.85 < result.diff_mean < 1.2
    assert 0.05 < result.diff_hdi[0] < 0.35 and 1.6 < result.diff_hdi[1] < 2.2
    assert result.prob_greater > 0.97
    assert result.converged and result.credible
    assert result.nu_mean < 5  # the outliers make the data heavy-tailed, as in the paper


def test_large_difference_is_credible_and_none_is_not():
    rng = np.random.default_rng(0)
    low, high = rng.normal(0.2, 0.1, 150), rng.normal(0.5, 0.1, 150)
    different = best(high, low, seed=3, draws=500, tune=500, chains=2, ess_floor=200)
    assert different.credible and different.diff_mean == pytest.approx(0.3, abs=0.05)
    assert different.effect_size_mean > 2 and different.prob_greater > 0.999
    same = best(rng.normal(0.2, 0.1, 150), rng.normal(0.2, 0.1, 150), seed=3, draws=500, tune=500, chains=2,
                ess_floor=200)
    assert same.converged and not same.credible
    assert same.diff_hdi[0] < 0 < same.diff_hdi[1]


def test_same_seed_same_posterior_and_rope_rule():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.30, 0.1, 80), rng.normal(0.25, 0.1, 80)
    first = best(a, b, seed=9, draws=300, tune=300, chains=2, ess_floor=100)
    again = best(a, b, seed=9, draws=300, tune=300, chains=2, ess_floor=100)
    assert first.diff_mean == again.diff_mean and first.diff_hdi == again.diff_hdi
    wide_rope = best(a, b, seed=9, draws=300, tune=300, chains=2, ess_floor=100, rope=(-1.0, 1.0))
    assert not wide_rope.credible


def test_failed_diagnostics_are_never_credible():
    rng = np.random.default_rng(2)
    # A huge difference, but an impossible ESS floor: flagged, not reported as credible.
    result = best(rng.normal(0.8, 0.05, 60), rng.normal(0.1, 0.05, 60), seed=0, draws=100, tune=200, chains=2,
                  ess_floor=10_000)
    assert not result.converged and not result.credible


def test_rates_exact_posterior():
    a, b = [1] * 30 + [0] * 70, [1] * 10 + [0] * 90
    result = compare_rates(a, b)
    assert result.diff_mean == pytest.approx(31 / 102 - 11 / 102)
    assert result.credible and result.prob_greater > 0.99
    assert result.diff_hdi[0] > 0
    equal = compare_rates(a, list(a))
    assert not equal.credible and equal.prob_greater == pytest.approx(0.5, abs=0.01)


def test_rates_catch_a_doubled_toxic_rate_that_best_means_miss():
    """Scores near 0 with rare toxic ones: the t likelihood treats the toxic tail as outliers."""
    rng = np.random.default_rng(0)

    def scores(share):
        values = rng.beta(0.3, 30, 2400)
        toxic = rng.random(2400) < share
        values[toxic] = rng.beta(20, 2, toxic.sum())
        return values

    a, b = scores(0.10), scores(0.05)
    rates = compare_rates(a > 0.5, b > 0.5)
    bayes = best(a, b, seed=1, draws=500, tune=500, chains=2, ess_floor=200)
    assert rates.credible and rates.diff_mean > 0.03
    # BEST's difference of means is two orders of magnitude below the rate difference.
    assert abs(bayes.diff_mean) < rates.diff_mean / 20


@pytest.mark.parametrize("seed", [0, 1])
def test_on_realistic_scores_best_misses_what_the_paired_rates_see(seed):
    """1.1% vs 8.8% toxic continuations with the classifier's real score shapes: BEST's means barely move."""
    from toxft.analysis import compare_paired
    from toxft.analysis.simulate import paired_scores

    a, b = paired_scores(2400, 0.011, 0.088, seed=seed)
    paired = compare_paired(a > 0.5, b > 0.5)
    bayes = best(a, b, seed=seed, draws=400, tune=400, chains=2, ess_floor=100)
    assert paired.credible and paired.diff_mean < -0.06
    assert bayes.nu_mean < 1.5 and abs(bayes.diff_mean) < abs(paired.diff_mean) / 100
    assert not bayes.credible
