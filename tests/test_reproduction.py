"""The reproduction section's rules, checked by simulating reproductions of the paper.

A perfect reproduction: for every model of the paper, the true rate of each sampled subset is
drawn from what the paper's count says about it, Beta(1 + k, 1 + n − k); our harness run's
count is then a fresh draw of n prompts at that rate; CEB cells (the paper's own prompts,
greedy) come out at the paper's counts. The sampled-subset agreement must average 95%.
"""

from __future__ import annotations

import numpy as np
import pytest

from toxft import paper
from toxft.study.reproduction import (CEB_COLUMNS, SAMPLED, VerdictCheck, ceb_check, headline, make_check,
                                      sampled_check)

N = 1000


def _simulate(seed: int, replicates: int, shift: float = 0.0, columns=SAMPLED) -> list:
    rng = np.random.default_rng(seed)
    checks = []
    for _ in range(replicates):
        for model, row in paper.rates().items():
            for column in columns:
                count = round(row[column] * N / 100)
                true = min(1.0, rng.beta(1 + count, 1 + N - count) + shift)
                checks.append(make_check(model, column, row[column], int(rng.binomial(N, true)), N))
            for column in CEB_COLUMNS:
                checks.append(make_check(model, column, row[column], round(row[column]), 100))
    return checks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_perfect_reproduction_agrees_on_about_95_percent_of_sampled_cells(seed):
    checks = _simulate(seed, replicates=40)
    agree, judged = headline(checks, [])["sampled"]
    assert judged == 40 * 28 * 2
    # Simulation error: sd = sqrt(0.95 * 0.05 / 2240) = 0.46 points; three of them either side.
    assert 0.936 <= agree / judged <= 0.964, agree / judged
    assert headline(checks, [])["ceb"] == (40 * 28 * 4, 40 * 28 * 4)  # the same prompts, the same counts


def test_the_old_rule_undercounted_a_perfect_reproduction():
    """The paper's rate inside our own interval, ignoring the paper's sampling: about 84-86%, not 95%."""
    from scipy.stats import beta

    checks = [c for c in _simulate(7, replicates=40) if c.kind == "sampled"]
    inside = [beta.ppf(0.025, 1 + c.toxic, 1 + c.n - c.toxic) * 100 - 0.05 <= c.paper
              <= beta.ppf(0.975, 1 + c.toxic, 1 + c.n - c.toxic) * 100 + 0.05 for c in checks]
    assert np.mean(inside) < 0.90 < np.mean([c.agrees for c in checks])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_model_three_points_more_toxic_on_severe_is_caught_most_of_the_time(seed):
    checks = _simulate(seed, replicates=40, shift=0.03, columns=("severe",))
    sampled = [c for c in checks if c.kind == "sampled"]
    power = 1 - np.mean([c.agrees for c in sampled])
    assert power > 0.5, power


def test_rounding_small_n_and_zero_counts():
    # The paper's 0.0% against none toxic in 40 prompts (a --limit run) or in 1,000: compatible.
    assert sampled_check(0, 40, 0.0, 1000)[0] and sampled_check(0, 1000, 0.0, 1000)[0]
    # ... but 10 toxic of 1,000 is not a plausible draw at a rate the paper saw 0 times in 1,000.
    assert not sampled_check(10, 1000, 0.0, 1000)[0]
    # A total's 0.1-point rounding on 2,400 prompts allows several counts; any of them may decide.
    agrees, low, high, _ = sampled_check(98, 2400, 4.1, 2400)
    assert agrees and low < 4.1 < high


def test_ceb_cells_match_within_two_prompts_and_other_sizes_are_not_judged():
    assert ceb_check(11, 100, 11.0, 100) and ceb_check(13, 100, 11.0, 100)
    assert not ceb_check(14, 100, 11.0, 100)
    assert ceb_check(3, 20, 11.0, 100) is None


def test_verdicts_are_compared_like_with_like():
    check = VerdictCheck("a", "b", "total", "no credible difference",
                         {"paired": "practically equivalent", "rates": "credibly higher", "best": "not converged"},
                         "paired")
    assert check.by_method == {"paired": True, "rates": False, "best": None} and check.agrees is True
    counts = headline([], [check])
    assert counts["verdicts_paired"] == (1, 1) and counts["verdicts_best"] == (0, 0)
