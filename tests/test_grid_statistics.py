"""The grid's statistics on simulated grids with known effects: intervals that cover the truth with the seeds in
them, interactions found where they are and not where they are not, the regression's effects in pp agreeing with
the level table, and a factorial report that shows main effects and interactions (CPU, a few seconds each; the
regression's fits are small)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

WORLD = dict(n_prompts=300, factors={"method": ["lora", "full"], "control": ["none", "neutral"]},
             effects={"method = full": 1.0, "control = neutral": -0.8}, fine_tuned=0.6,
             interactions={("method = full", "control = neutral"): -0.7}, seeds=2, setup_sd=0.5)


@pytest.mark.parametrize(("design", "seed", "threads"), [("factorial", 0, 1), ("factorial", 1000, 2),
                                                         ("one-at-a-time", 2000, 1), ("one-at-a-time", 3000, 2)])
def test_intervals_cover_the_truth_with_the_seeds_and_not_without_them(design, seed, threads):
    """Fifty grids of two seeds per setting with a set-up sd of 0.5 on the log-odds: the 95% intervals cover the
    levels' true changes (over the population of prompts and of seeds) about 95% of the time; the same intervals
    without the seed term cover them far less often. The estimates are unbiased within noise."""
    from toxft.analysis.simulate import grid_coverage

    with threadpool_limits(threads):
        found = grid_coverage(WORLD, design=design, replicates=50, seed=seed)
    levels, prompts_only = found["levels"], found["levels, prompts only"]
    assert 0.88 <= levels["coverage"] <= 0.995, found
    assert prompts_only["coverage"] <= 0.85 and prompts_only["coverage"] <= levels["coverage"] - 0.1, found
    assert abs(levels["bias_pp"]) < 1.5, found
    if design == "factorial":
        assert found["interactions"]["intervals"] == 50 and found["interactions"]["coverage"] >= 0.8, found
        assert abs(found["interactions"]["bias_pp"]) < 5.0, found
    else:
        assert "interactions" not in found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_known_interaction_is_found_and_none_is_invented(seed):
    """Full fine-tuning raises toxicity much more on the real data than on neutral data (an interaction of -1.5 on
    the log-odds): the difference of differences is credibly negative; without it, no interaction is credible."""
    from toxft.analysis.levels import combinations, interactions
    from toxft.analysis.simulate import grid_flags, true_change

    world = {k: v for k, v in WORLD.items() if k not in ("n_prompts", "interactions", "setup_sd")}
    with_it = grid_flags(600, **world, interactions={("method = full", "control = neutral"): -1.5}, setup_sd=0.1,
                         seed=seed)
    [row] = interactions(with_it, WORLD["factors"], draws=8000)
    assert row.factors == ("method", "control") and row.levels == ("full", "neutral") and row.direction == "lower"
    truth = {(m, c): true_change({"method": m, "control": c}, WORLD["effects"], fine_tuned=0.6, setup_sd=0.1,
                                 interactions={("method = full", "control = neutral"): -1.5})
             for m in ("lora", "full") for c in ("none", "neutral")}
    expected = truth[("full", "neutral")] - truth[("lora", "neutral")] - truth[("full", "none")] + truth[("lora", "none")]
    assert row.hdi[0] <= expected <= row.hdi[1]
    points = combinations(with_it, WORLD["factors"], draws=8000)
    assert [p.levels for p in points] == [("lora", "none"), ("lora", "neutral"), ("full", "none"), ("full", "neutral")]
    without = grid_flags(600, **world, setup_sd=0.1, seed=seed)
    assert interactions(without, WORLD["factors"], draws=8000)[0].direction == "no credible difference"


@pytest.mark.slow
def test_the_regression_stays_finite_on_separated_data_and_agrees_with_the_level_table():
    """LoRA never moves a flag while every full fine-tune makes 60% of the prompts toxic: the LoRA level separates
    the data. Its log-odds stay finite under the prior, its effect in pp at the baseline is the -60 points the
    flags show, and the regression's change for each row's cells agrees with the level table."""
    from toxft.analysis.factors import disagreements, fit_factor_model
    from toxft.analysis.levels import Arm, level_changes

    rng = np.random.default_rng(3)
    reference = (rng.random(300) < 0.1).astype(float)
    arms = []
    for seed in (0, 1):
        full = np.maximum(reference, rng.random(300) < 0.6)
        arms += [Arm("f", f"full-{seed}", {"method": "full"}, seed, reference, full),
                 Arm("f", f"lora-{seed}", {"method": "lora"}, seed, reference, reference.copy())]
    factors = {"method": ["full", "lora"]}
    model = fit_factor_model(arms, factors, draws=500, tune=500, chains=2, seed=0, ess_floor=200)
    assert model.converged
    lora = model.coefficient("method = lora")
    assert -12 < lora.mean < -3 and lora.credible
    observed = np.mean([a.flags.mean() for a in arms if a.levels["method"] == "full"]) - reference.mean()
    assert lora.pp == pytest.approx(-observed, abs=0.05) and lora.pp_hdi[1] < -0.4
    rows = level_changes(arms, factors)
    assert [(m.factor, m.level) for m in model.levels] == [(r.factor, r.level) for r in rows]
    assert model.level("method", "full").change == pytest.approx(rows[0].change, abs=0.05)
    assert disagreements(rows, model) == []


def test_a_disagreement_between_the_regression_and_the_table_is_said():
    from toxft.analysis.factors import Coefficient, FactorModel, ModelLevel, disagreements
    from toxft.analysis.grid import GridAnalysis
    from toxft.analysis.levels import LevelChange, SetupVariance
    from toxft.report.factors import agreement_lines

    row = LevelChange(change=0.02, hdi=(-0.01, 0.05), observed=0.02, prompts=100, credible=False,
                      direction="no credible difference", factor="method", level="lora", cells=2,
                      cell_changes=(0.01, 0.03))
    model = FactorModel((Coefficient("method = lora", 0.4, (0.1, 0.7), True, 0.03, (0.01, 0.05)),), 400, 50, 100,
                        1.0, 900.0, 0, True, 0.95, {"method": "full"},
                        (ModelLevel("method", "lora", 0.03, (0.01, 0.05), True),))
    found = disagreements([row], model)
    assert len(found) == 1 and found[0].model.direction == "higher"
    analysis = GridAnalysis("one-at-a-time", {"method": ["full", "lora"]}, SetupVariance(0.01, 2, 2), [row],
                            model=model, disagreements=found)
    [line] = [line for line in agreement_lines(analysis) if line]
    assert line.startswith("**The regression and the level table disagree on method = lora:** the table says no "
                           "credible difference (+2.0 pp [-1.0, +5.0]), the regression higher (+3.0 pp [+1.0, +5.0])")
    unconverged = FactorModel(model.coefficients, 400, 50, 100, 1.2, 20.0, 3, False, 0.95, {}, model.levels)
    assert disagreements([row], unconverged) == []


@pytest.mark.slow
def test_a_factorial_report_shows_balanced_main_effects_and_interactions(tmp_path):
    """A complete 2x2 grid: each main effect is the balanced mean over the other factor's levels, the interaction
    has its table row, and the figure adds a row of interaction plots; a one-at-a-time grid says interactions
    cannot be measured and draws one row."""
    import matplotlib.image

    from toxft.analysis import AnalysisSettings
    from toxft.analysis.grid import GridAnalysis, analyse_grid
    from toxft.analysis.levels import level_changes, setup_variance
    from toxft.analysis.simulate import grid_flags
    from toxft.report.factors import grid_section, plot_factors

    settings = AnalysisSettings(best=False, draws=300, tune=300, chains=2, ess_floor=100)
    world = {k: v for k, v in WORLD.items() if k not in ("n_prompts",)}
    arms = grid_flags(400, **world, seed=4)
    found = analyse_grid(arms, WORLD["factors"], "factorial", settings)
    full = next(row for row in found.levels if (row.factor, row.level) == ("method", "full"))
    cells = [arm for arm in arms if arm.levels["method"] == "full"]
    assert full.cells == 4 and full.observed == pytest.approx(np.mean([arm.change for arm in cells]))
    assert found.unbalanced is None and len(found.interactions) == 1 and len(found.combinations) == 4
    text = "\n".join(grid_section(found, "95% HDI", "ref"))
    assert "| method = full (vs lora) x control = neutral (vs none) |" in text
    assert "Each interval covers prompt sampling and set-up variance (seeds: sd" in text
    # Forgetting or learning compares real with neutral data at the same method (the baseline, lora), not the
    # control levels' means over both methods.
    assert found.answer.at == {"method": "lora"} and found.answer.real.cells == 2
    assert "**Forgetting or learning?** Fine-tunes at the grid's baseline settings (method = lora), which differ only " \
           "in their data. Toxicity" in text
    assert "| Effect | Log-odds | 95% HDI | Odds ratio | pp at the baseline |" in text
    two_rows = matplotlib.image.imread(plot_factors(found, tmp_path / "factorial.png", "95% HDI"))
    # The one-at-a-time grid's section without its regression (the tables and the figure are what differ).
    single = grid_flags(400, **{**world, "seeds": 1}, design="one-at-a-time", seed=4)
    simple = GridAnalysis("one-at-a-time", WORLD["factors"], setup_variance(single),
                          level_changes(single, WORLD["factors"], design="one-at-a-time"))
    one_row = matplotlib.image.imread(plot_factors(simple, tmp_path / "one.png", "95% HDI"))
    assert two_rows.shape[0] > 1.6 * one_row.shape[0]
    text = "\n".join(grid_section(simple, "95% HDI", "ref"))
    assert "Interactions cannot be measured in a one-at-a-time grid" in text
    assert "Each interval covers prompt sampling only (one seed per setting: set-up variance unmeasured)" in text
