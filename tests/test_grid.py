"""The study grid: methods, data subsets and controls of toxft finetune; grid cells in a study's plan; the factor
analysis checked on simulated data with known effects (tiny models, CPU)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from toxft.cli import main
from toxft.demo import tiny
from toxft.finetune import dolly

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--max-steps", "2", "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1",
         "--warmup-steps", "0"]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return tiny.synthetic_dolly(60, 0.3, seed=5)


def test_row_subsets_are_nested_fixed_and_independent_of_the_training_seed(rows):
    small, large = dolly.subset(rows, 10), dolly.subset(rows, 30)
    assert len(small) == 10 and len(large) == 30
    assert all(row in large for row in small)  # nested: 10 rows are within 30
    assert dolly.subset(list(rows), 10) == small and dolly.subset(rows, None) is rows
    assert small != rows[:10]  # a random subset, not the first rows (that is --limit)
    with pytest.raises(dolly.DataError, match="has only 60 rows"):
        dolly.subset(rows, 61)


def test_controls_remove_the_content_and_keep_the_rest(rows):
    shuffled = dolly.control_rows(rows, "shuffled")
    assert [r["instruction"] for r in shuffled] == [r["instruction"] for r in rows]
    assert Counter(r["response"] for r in shuffled) == Counter(r["response"] for r in rows)
    # No row keeps its own response (a derangement), and the permutation does not depend on the order of calls.
    assert all(new["response"] is not old["response"] for new, old in zip(shuffled, rows))
    assert dolly.control_rows(rows, "shuffled") == shuffled
    neutral = dolly.control_rows(rows, "neutral")
    assert {r["response"] for r in neutral} == {dolly.NEUTRAL_RESPONSE}
    assert dolly.control_rows(rows, "none") is rows


@pytest.fixture(scope="module")
def lm(tmp_path_factory) -> Path:
    return tiny.build_causal_lm(tmp_path_factory.mktemp("grid-lm") / "llama")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory, rows) -> Path:
    path = tmp_path_factory.mktemp("grid-data") / "dolly.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_full_fine_tuning_trains_every_weight_and_saves_a_model(lm, data_file, tmp_path):
    from transformers import AutoModelForCausalLM

    from toxft.finetune.train import finished

    output = tmp_path / "full"
    assert main(["finetune", "--model", str(lm), "--output", str(output), "--data", str(data_file), "--method", "full",
                 "--rows", "20", "--control", "shuffled", *SMOKE]) == 0
    record = json.loads((output / "toxft_finetune.json").read_text())
    base, tuned = AutoModelForCausalLM.from_pretrained(lm), AutoModelForCausalLM.from_pretrained(output)
    assert record["method"] == "full" and record["rows"] == 20 and record["control"] == "shuffled"
    assert record["trainable_parameters"] == sum(p.numel() for p in base.parameters())
    assert record["peak_memory_mb"] > 0 and finished(output) and not (output / "adapter_config.json").exists()
    changed = [n for (n, a), (_, b) in zip(base.named_parameters(), tuned.named_parameters()) if not np.allclose(
        a.detach().numpy(), b.detach().numpy())]
    assert any("embed" in n for n in changed) and any("layers.0.self_attn" in n for n in changed)
    card = (output / "README.md").read_text()
    assert "# Full fine-tune for" in card and "library_name: transformers" in card and "Every weight trained" in card
    # A finished full fine-tune is kept like an adapter.
    assert main(["finetune", "--model", str(lm), "--output", str(output), "--data", str(data_file), *SMOKE]) == 2


def test_dora_adapters_decompose_the_weights(lm, data_file, tmp_path):
    output = tmp_path / "dora"
    assert main(["finetune", "--model", str(lm), "--output", str(output), "--data", str(data_file), "--method", "dora",
                 "--r", "4", *SMOKE]) == 0
    config = json.loads((output / "adapter_config.json").read_text())
    record = json.loads((output / "toxft_finetune.json").read_text())
    assert config["use_dora"] is True and config["r"] == 4 and record["method"] == "dora"
    assert "# DoRA adapter for" in (output / "README.md").read_text()


def _study(tmp_path: Path, finetune: str, grid: str = "") -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(f"""
name: grid
finetune: {{data: ./dolly.jsonl, max_steps: 3, load_in_4bit: "no", {finetune}}}
{grid}
analysis: {{best: false}}
comparisons: [instruct-dolly]
families:
  f:
    - {{role: instruct, model: org/instruct, name: it}}
    - {{role: dolly, name: it-dolly}}
""")
    return path


def test_lists_in_the_finetune_section_become_cells(tmp_path):
    from toxft.study.config import load_study
    from toxft.study.plan import plan

    study = load_study(_study(tmp_path, "method: [lora, qlora, full], r: [8, 64], seed: [1, 2]"))
    # r means nothing to a full fine-tune: full x r=64 is full x r=8, once per seed.
    assert len(study.cells()) == 3 * 2 * 2 - 2 and study.design == "factorial"
    assert study.same_cells == {"method=full,r=64,seed=1": "method=full,r=8,seed=1",
                                "method=full,r=64,seed=2": "method=full,r=8,seed=2"}
    one = load_study(_study(tmp_path, "method: [lora, qlora, full], r: [8, 64], seed: [1, 2]", "grid: one-at-a-time"))
    assert [c.cell for c in one.cells()][:2] == [{"method": "lora", "r": 8, "seed": 1}, {"method": "lora", "r": 8, "seed": 2}]
    assert len(one.cells()) == (1 + 2 + 1) * 2 and one.cells()[0].name == "it-dolly[method=lora,r=8,seed=1]"
    steps = {(s.kind, s.entry.name): s for s in plan(one, tmp_path / "out")}
    finetune = {name: s.argv for (kind, name), s in steps.items() if kind == "finetune"}
    assert len(finetune) == 8
    lora = finetune["it-dolly[method=lora,r=64,seed=2]"]
    assert lora[lora.index("--r") + 1] == "64" and lora[lora.index("--seed") + 1] == "2"
    assert lora[lora.index("--load-in-4bit") + 1] == "no" and lora[lora.index("--max-steps") + 1] == "3"
    # qlora and full cells leave the lora cells' 4-bit setting out instead of contradicting their method.
    assert "--load-in-4bit" not in finetune["it-dolly[method=qlora,r=8,seed=1]"]
    assert str(tmp_path / "dolly.jsonl") in lora  # relative data paths count from the study file
    full = steps[("evaluate", "it-dolly[method=full,r=8,seed=1]")].argv
    adapter = steps[("evaluate", "it-dolly[method=lora,r=8,seed=1]")].argv
    full_args, adapter_args = full[full.index("--model_args") + 1], adapter[adapter.index("--model_args") + 1]
    assert full_args.startswith(f"pretrained={tmp_path / 'out' / 'adapters'}") and "peft=" not in full_args
    assert adapter_args.startswith("pretrained=org/instruct,") and "peft=" in adapter_args


def test_plan_lists_every_cell_and_the_paper_grid_is_sized(tmp_path, capsys):
    assert main(["study", "plan", str(ROOT / "studies" / "open-questions.yaml"), "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "# grid (one-at-a-time): 30 fine-tunes over method [lora, dora, qlora, full]" in out
    cells = [line for line in out.splitlines() if line.startswith("#   Gemma-2-2B-IT-Dolly[")]
    assert len(cells) == 30 and all("[todo]" in line for line in cells)
    assert "#   Gemma-2-2B-IT-Dolly[method=full,r=16,learning_rate=0.0002,rows=15011,control=none,seed=3407] [todo]" in out
    assert out.count("toxft finetune --model google/gemma-2-2b-it") == 30 and "--control shuffled" in out


def test_level_changes_are_the_paired_mean_over_the_cells_at_each_level():
    from toxft.analysis import compare_paired
    from toxft.analysis.levels import Arm, SetupVariance, level_changes, setup_variance

    reference = np.r_[np.ones(10), np.zeros(90)]
    full = np.r_[np.ones(40), np.zeros(60)]  # +30 points
    lora = np.r_[np.zeros(5), np.ones(5), np.zeros(90)]  # -5 points: five toxic prompts no longer are
    arms = [Arm("f", "a", {"method": "full"}, 1, reference, full), Arm("f", "b", {"method": "lora"}, 1, reference, lora),
            Arm("f", "c", {"method": "lora"}, 2, reference, reference)]
    # The two LoRA seeds measure the set-up variance (one degree of freedom); first the prompts' part alone.
    rows = {r.level: r for r in level_changes(arms, setup=SetupVariance(0.0, 0, 0))}
    # The posterior mean with the paired model's prior (four pseudo-prompts): 30/104 and -2.5/104.
    assert rows["full"].change == pytest.approx(30 / 104, abs=0.003) and rows["full"].direction == "higher"
    assert rows["lora"].change == pytest.approx(-2.5 / 104, abs=0.003) and rows["lora"].cells == 2
    assert rows["lora"].cell_changes == pytest.approx((-0.05, 0.0))
    assert rows["full"].hdi[0] > 0.15 and rows["lora"].hdi[0] < 0 < rows["full"].hdi[0]
    assert rows["lora"].observed == pytest.approx(-0.025) and rows["full"].observed == pytest.approx(0.3)
    # With the seeds: their changes differ by 5 points over 5 discordant prompts, a set-up sd of about 3 points
    # known from one pair, so every interval widens by a t with one degree of freedom and +30 is no longer certain.
    setup = setup_variance(arms)
    assert setup.df == 1 and setup.sd == pytest.approx(np.sqrt(0.00125 - (0.025 - 0.00125) / 99), rel=1e-6)
    seeds = {r.level: r for r in level_changes(arms)}
    assert seeds["full"].change == rows["full"].change and seeds["full"].hdi[0] < rows["full"].hdi[0] - 0.1
    assert "set-up variance (seeds: sd 3.2 pp, pooled over 1 setting, 1 degree of freedom)" in setup.covers
    assert "unmeasured" in SetupVariance(0.0, 0, 0).covers
    # One cell per level is the paired rate model itself.
    single = level_changes([arms[0]])[0]
    paired = compare_paired(full, reference)
    assert single.hdi == pytest.approx(paired.diff_hdi, abs=0.005) and single.change == pytest.approx(paired.diff_mean, abs=0.002)
    # A single discordant prompt is no credible rise.
    one = Arm("f", "d", {"method": "lora"}, 1, reference, np.r_[np.ones(11), np.zeros(89)])
    assert level_changes([one])[0].direction == "no credible difference"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_regression_recovers_known_effects_on_simulated_grids(seed):
    from toxft.analysis.factors import fit_factor_model
    from toxft.analysis.grid import forgetting_or_learning
    from toxft.analysis.levels import level_changes
    from toxft.analysis.simulate import grid_flags

    truth = {"method = full": 1.0, "method = dora": 0.0, "control = neutral": -1.2}
    factors = {"method": ["lora", "dora", "full"], "control": ["none", "neutral"]}
    arms = grid_flags(800, factors, truth, fine_tuned=0.8, seeds=2, setup_sd=0.1, seed=seed)
    model = fit_factor_model(arms, factors, draws=800, tune=400, chains=2, seed=seed, ess_floor=200)
    assert model.converged, (model.rhat_max, model.ess_bulk_min, model.divergences)
    # Within about three posterior standard deviations; the fine-tuning effect rests on one reference model's
    # flags, so it is the least precise.
    for name, value in {**truth, "fine-tuned (simulated)": 0.8}.items():
        found = model.coefficient(name)
        assert abs(found.mean - value) < 0.35, (seed, name, found)
    assert model.coefficient("method = full").credible and model.coefficient("control = neutral").credible
    assert not model.coefficient("method = dora").credible
    # Averaged over the methods, the neutral control takes the rise away: -0.4, -0.4 and +0.6 on the log-odds.
    assert forgetting_or_learning(level_changes(arms, factors), model).answer == "learning"


def test_forgetting_or_learning_reads_the_control_levels_and_the_sentence_quotes_them():
    from toxft.analysis.grid import forgetting_or_learning
    from toxft.analysis.levels import LevelChange
    from toxft.report.factors import forgetting_sentence

    def row(level, change, low, high):
        direction = "higher" if low > 0 else "lower" if high < 0 else "no credible difference"
        return LevelChange(change=change, hdi=(low, high), observed=change, prompts=100,
                           credible=direction != "no credible difference", direction=direction, factor="control",
                           level=level, cells=2, cell_changes=(change,))

    def said(*rows):
        answer = forgetting_or_learning(list(rows))
        return answer.answer, forgetting_sentence(answer)

    kind, text = said(row("none", .2, .1, .3), row("neutral", 0, -.02, .02))
    assert kind == "learning" and "**learning from the data**" in text and "(+20.0 pp [+10.0, +30.0])" in text
    assert said(row("none", .2, .1, .3), row("shuffled", .15, .05, .25))[0] == "forgetting"
    kind, text = said(row("none", 0, -.02, .02), row("neutral", 0, -.02, .02))
    assert kind == "untestable" and "cannot tell" in text
    assert forgetting_or_learning([row("none", .2, .1, .3)]) is None and forgetting_sentence(None) is None
    kind, mixed = said(row("none", .2, .1, .3), row("shuffled", .1, .05, .15), row("neutral", -.01, -.03, -.001))
    assert kind == "forgetting" and "**forgetting**" in mixed
    assert "too (control = shuffled" in mixed and "did not rise (control = neutral" in mixed


@pytest.mark.slow
def test_the_tiny_world_grid_shows_the_technique_changing_the_outcome(tmp_path):
    """studies/open-questions.yaml's design on the demo's tiny world, through lm_eval and the study report: at
    the grid's learning rate a full fine-tune undoes the mitigation and a LoRA adapter does not, and with
    content-free (neutral) data the full fine-tune does not either: learning from the data, not forgetting."""
    assert main(["demo", "--grid", "--fast", "--output", str(tmp_path / "demo")]) == 0
    runs = tmp_path / "demo" / "runs"
    record = json.loads((runs / "factors.json").read_text())
    assert len(record["cells"]) == 6 and record["design"] == "one-at-a-time"
    levels = {(row["factor"], row["level"]): row for row in record["levels"]}
    full, lora = levels[("method", "full")], levels[("method", "lora")]
    assert full["direction"] == "higher" and full["change"] - lora["change"] >= 0.1
    assert levels[("control", "neutral")]["direction"] != "higher"
    effects = {c["name"]: c for c in record["model"]["coefficients"]}
    assert record["model"]["converged"] and effects["method = lora"]["credible"] and effects["method = lora"]["mean"] < 0
    assert record["forgetting_or_learning"]["answer"] == "learning"
    # Like with like: method = full is the baseline cell (full, real data) on its two seeds, not averaged with the
    # full fine-tunes on neutral data; its change lies within its cells' own.
    assert full["cells"] == 2 and min(full["cell_changes"]) - 0.05 <= full["change"] <= max(full["cell_changes"]) + 0.05
    report = (runs / "report.md").read_text()
    assert "## What changed the toxicity" in report and "| method | full | 2 |" in report
    assert "with every other factor at its baseline level" in report
    # Two seeds per setting: the intervals cover them, and the headline lies inside its interval.
    assert record["setup_variance"]["df"] == 3 and "and set-up variance (seeds: sd" in report
    assert all(row["hdi"][0] <= row["change"] <= row["hdi"][1] for row in record["levels"])
    assert "Interactions cannot be measured in a one-at-a-time grid" in report
    assert "The regression agrees with the level table" in report and not record["disagreements"]
    # The regression's LoRA effect in pp at the baseline is what the flags show: full's rise taken away.
    assert effects["method = lora"]["pp"] == pytest.approx(lora["observed"] - full["observed"], abs=0.1)
    assert "![What changed the toxicity](figures/factors.png)" in report and (runs / "figures" / "factors.png").is_file()


@pytest.mark.slow
def test_the_factor_regression_is_fitted_once_while_its_inputs_are_unchanged(monkeypatch):
    """A report written again (study run, study report) reuses the fit factors.json holds; changed flags, levels or
    sampler settings refit."""
    import json

    from toxft.analysis import factors as module
    from toxft.analysis.simulate import grid_flags

    factors = {"method": ["lora", "full"]}
    arms = grid_flags(200, factors, {"method = full": 1.0}, fine_tuned=0.5, seeds=1, setup_sd=0.0, seed=0)
    options = dict(draws=200, tune=200, chains=2, seed=0, ess_floor=50)
    model, key, reused = module.fit_or_reuse(arms, factors, None, **options)
    assert not reused
    record = json.loads(json.dumps({"model": model.to_dict(), "fit_inputs": key}))  # as factors.json holds it
    fits = []
    monkeypatch.setattr(module, "fit_factor_model", lambda *a, **k: fits.append(1) or model)
    again, same_key, reused = module.fit_or_reuse(arms, factors, record, **options, cores=1)
    assert reused and same_key == key and not fits and again == model
    flipped = [module.Arm(a.family, a.name, a.levels, a.seed, a.reference, 1 - a.flags, a.prompts) for a in arms]
    for changed, other in ((flipped, options), (arms, {**options, "draws": 300})):
        assert not module.fit_or_reuse(changed, factors, record, **other)[2]
    assert len(fits) == 2


def test_a_grid_trains_only_distinct_fine_tunes_and_says_what_each_method_ignores(tmp_path, capsys):
    """method x r: r means nothing to a full fine-tune, so method=full,r=64 is method=full,r=8; load_in_4bit means
    nothing to full or qlora. The plan says both, and a method is asked, not compared as a string."""
    from toxft.finetune.methods import METHODS, effective, method
    from toxft.study.config import load_study

    assert [m.name for m in METHODS.values() if m.adapter] == ["lora", "dora", "qlora"]
    assert method("qlora").four_bit == "always" and method("full").four_bit == "never"
    assert effective({"method": "full", "r": 8, "learning_rate": 1e-4, "load_in_4bit": "no"}) == {
        "method": "full", "learning_rate": 1e-4}
    study = tmp_path / "grid.yaml"
    study.write_text("name: g\nharness: {model: hf, batch_size: 4}\nanalysis: {best: false}\n"
                     "finetune: {max_steps: 3, load_in_4bit: 'no', method: [lora, full, qlora], r: [8, 64]}\n"
                     f"families:\n  f:\n    - {{role: instruct, model: {tmp_path}, name: i}}\n    - {{role: dolly, name: d}}\n")
    loaded = load_study(study)
    assert [e.cell for e in loaded.cells()] == [{"method": m, "r": r} for m, r in
                                                (("lora", 8), ("lora", 64), ("full", 8), ("qlora", 8), ("qlora", 64))]
    assert loaded.same_cells == {"method=full,r=64": "method=full,r=8"}
    assert main(["study", "plan", str(study), "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "# grid (factorial): 5 fine-tunes" in out
    assert "[method=full,r=64] is the same fine-tune as [method=full,r=8]" in out
    assert "d[method=full,r=8] [todo]" in out and "(its method ignores load_in_4bit, r)" in out
    assert "d[method=qlora,r=64] [todo]" in out and "(its method ignores load_in_4bit)" in out
    full_step = next(line for line in out.splitlines() if line.startswith("toxft finetune") and "method full" in line)
    assert "--r " not in full_step and "--load-in-4bit" not in full_step


def _arm(levels: dict, rise: int, seed: int = 0):
    """A fine-tune on 200 prompts whose reference is toxic on the first 40: ``rise`` more (or fewer) toxic prompts."""
    from toxft.analysis.levels import Arm

    reference = np.r_[np.ones(40), np.zeros(160)]
    flags = reference.copy()
    if rise >= 0:
        flags[40:40 + rise] = 1
    else:
        flags[:-rise] = 0
    return Arm("f", ",".join(f"{k}={v}" for k, v in levels.items()) + f",seed={seed}", levels, seed, reference, flags)


def test_one_at_a_time_levels_are_compared_like_with_like_where_plain_averaging_reverses_them():
    """Baseline full fine-tune on real data +20 points, LoRA on real data +10, full on neutral data -40: full is the
    more toxic method at the same settings; averaging full over the control levels would call it the less toxic."""
    from toxft.analysis.levels import level_changes, unbalanced

    factors = {"method": ["full", "lora"], "control": ["none", "neutral"]}
    arms = [_arm({"method": "full", "control": "none"}, 40, s) for s in (0, 1)]
    arms += [_arm({"method": "lora", "control": "none"}, 20, s) for s in (0, 1)]
    arms += [_arm({"method": "full", "control": "neutral"}, -30, s) for s in (0, 1)]
    like = {(r.factor, r.level): r for r in level_changes(arms, factors, design="one-at-a-time")}
    plain = {(r.factor, r.level): r for r in level_changes(arms, factors, design="factorial")}
    assert like[("method", "full")].change > like[("method", "lora")].change  # +20 vs +10
    assert like[("method", "full")].cells == 2 and like[("control", "none")].cells == 2
    assert like[("method", "full")].change == pytest.approx(0.2, abs=0.02)
    assert plain[("method", "full")].change < plain[("method", "lora")].change  # the reversal averaging makes
    # The report's table says it the right way round: full above lora, each its baseline-settings cells.
    from toxft.report.factors import changes_table

    table = changes_table(list(like.values()), "95% HDI", "ref")
    full_line = next(line for line in table if line.startswith("| method | full | 2 | +"))
    lora_line = next(line for line in table if line.startswith("| method | lora | 2 | +"))
    assert full_line.split(" | ")[5] == "+20.0" and lora_line.split(" | ")[5] == "+10.0"  # observed, cell by cell
    assert float(full_line.split(" | ")[3]) > float(lora_line.split(" | ")[3]) > 0
    # A factorial grid with a combination missing says so instead of averaging silently.
    why = unbalanced(arms, factors)
    assert why.startswith("1 of the grid's 4 combinations of levels have no results (method = lora, control = neutral)")
    complete = arms + [_arm({"method": "lora", "control": "neutral"}, 0, s) for s in (0, 1)]
    assert unbalanced(complete, factors) is None
    assert "different numbers of fine-tunes" in unbalanced(complete + [_arm({"method": "lora", "control": "none"}, 20, 2)],
                                                           factors)
