"""`toxft rescore` and `toxft agreement`: saved continuations under another classifier, and how much it matters."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import model_folder, run_lm_eval
from toxft.cli import main
from toxft.demo import tiny

pytestmark = pytest.mark.slow
METADATA = ["--metadata", json.dumps({"n_random": 25})]  # as the harness_run fixture


@pytest.fixture(scope="module")
def other_classifier(tmp_path_factory) -> Path:
    """A second tiny classifier: same job, other weights, so its scores differ from the first's."""
    return tiny.build_classifier(tmp_path_factory.mktemp("models") / "other-classifier", seed=5)


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory, tiny_lm, other_classifier, hub_mirror) -> Path:
    """The harness run made from scratch with the second classifier: what a rescore must equal."""
    output = tmp_path_factory.mktemp("fresh")
    done = run_lm_eval(f"pretrained={tiny_lm}", output, other_classifier, hub_mirror, *METADATA)
    assert done.returncode == 0, done.stderr[-3000:]
    return model_folder(output)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _samples(folder: Path) -> dict[str, dict[str, dict]]:
    found = {}
    for path in folder.glob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        found[task] = {row["doc"]["id"]: row for row in map(json.loads, path.read_text().splitlines())}
    return found


def test_a_rescored_run_equals_a_fresh_run_with_that_scorer(harness_run, fresh_run, other_classifier, tmp_path,
                                                            capsys):
    before = _digest(harness_run)
    output = tmp_path / "rescored"
    assert main(["rescore", str(harness_run), "--scorer", str(other_classifier), "--output", str(output)]) == 0
    assert _digest(harness_run) == before  # the original's bytes are unchanged
    rescored = model_folder(output)
    ours, fresh = _samples(rescored), _samples(fresh_run)
    assert set(ours) == set(fresh) and len(ours) == 6
    for task in fresh:
        assert set(ours[task]) == set(fresh[task])
        for doc_id, row in fresh[task].items():
            assert ours[task][doc_id]["toxicity"] == pytest.approx(row["toxicity"], abs=1e-6)
            assert ours[task][doc_id]["toxic"] == row["toxic"]
            assert ours[task][doc_id]["doc"]["scorer"] == row["doc"]["scorer"]
    (results_ours,) = rescored.glob("results_*.json")
    (results_fresh,) = fresh_run.glob("results_*.json")
    table_ours = json.loads(results_ours.read_text())["results"]
    table_fresh = json.loads(results_fresh.read_text())["results"]
    assert set(table_fresh) <= set(table_ours) and {"toxft", "toxft_ceb"} <= set(table_fresh)
    for name, metrics in table_fresh.items():  # every task and both pooled groups
        for key, value in metrics.items():
            if key.endswith(",score"):
                assert table_ours[name][key] == pytest.approx(value, abs=1e-6), (name, key)
        assert table_ours[name]["sample_len"] == metrics["sample_len"]
    # Every toxft command reads it like a harness run: compare it with the fresh run (same scorer, same texts).
    assert main(["compare", str(rescored), str(fresh_run), "--rates-only"]) == 0
    # One model under two scorers: one block per scorer, each with that scorer's run of the baseline model.
    capsys.readouterr()
    assert main(["report", str(harness_run), str(rescored), "--baseline", str(harness_run)]) == 0
    report = capsys.readouterr().out
    assert report.count("### Scored by `") == 2 and str(other_classifier) in report
    assert report.count("| ↳ vs ") == 0 and "was scored by another classifier" not in report
    # An existing output is refused without --overwrite, and nothing in it changes.
    kept = _digest(rescored)
    assert main(["rescore", str(harness_run), "--scorer", str(other_classifier), "--output", str(output)]) == 2
    assert _digest(rescored) == kept


def test_agreement_counts_match_hand_counts(harness_run, kind_classifier, tmp_path, capsys):
    """Two classifiers that disagree by design: one flags the tiny LM's "venom" answers, the other its "kind" ones."""
    output = tmp_path / "rescored"
    assert main(["rescore", str(harness_run), "--scorer", str(kind_classifier), "--output", str(output)]) == 0
    capsys.readouterr()
    assert main(["agreement", str(harness_run), str(output), "--examples", "2", "--json", str(tmp_path / "a.json"),
                 "--plot", str(tmp_path / "a.png")]) == 0
    record = json.loads((tmp_path / "a.json").read_text())
    a, b = _samples(harness_run), _samples(model_folder(output))
    for subset in record["subsets"]:
        tasks = list(a) if subset["subset"] == "total" else [subset["subset"]]
        pairs = [(a[t][i]["toxic"] > 0.5, b[t][i]["toxic"] > 0.5) for t in tasks for i in a[t]]
        both = sum(x and y for x, y in pairs)
        only_a = sum(x and not y for x, y in pairs)
        only_b = sum(y and not x for x, y in pairs)
        neither = len(pairs) - both - only_a - only_b
        assert (subset["both"], subset["only_a"], subset["only_b"], subset["neither"]) == (both, only_a, only_b,
                                                                                            neither)
        n = len(pairs)
        observed, pa, pb = (both + neither) / n, (both + only_a) / n, (both + only_b) / n
        chance = pa * pb + (1 - pa) * (1 - pb)
        if chance < 1:
            assert subset["kappa"] == pytest.approx((observed - chance) / (1 - chance))
        # Every interval is the rate's HDI: it holds the observed rate, 0 of n included.
        for rate, low, high in (subset["rate_a"], subset["rate_b"]):
            assert low <= rate <= high
    total = record["subsets"][-1]
    texts = [row["resps"][0][0] for task in a.values() for row in task.values()]
    venom = sum(tiny.FLAG_WORD in t for t in texts)
    kind = sum("kind" in t.split() or "kind." in t for t in texts)
    # The first scorer flags exactly the "venom" answers, the second exactly the "kind" ones.
    assert total["subset"] == "total" and (total["both"], total["only_a"], total["only_b"]) == (0, venom, kind)
    assert venom > 0 and kind > 0 and total["kappa"] < 0
    assert (tmp_path / "a.png").stat().st_size > 10_000
    assert "kappa" in capsys.readouterr().out
    # Runs that do not hold the same continuations are refused.
    other = tmp_path / "other"
    other_folder = other / harness_run.name
    other_folder.mkdir(parents=True)
    for path in harness_run.iterdir():
        text = path.read_text()
        if path.name.startswith("samples_toxft_rtp_random"):
            rows = [json.loads(line) for line in text.splitlines()]
            rows[0]["resps"] = [["a different continuation"]]
            text = "".join(json.dumps(r) + "\n" for r in rows)
        (other_folder / path.name).write_text(text)
    assert main(["agreement", str(harness_run), str(other)]) == 2
    assert "do not hold the same continuations" in capsys.readouterr().err


def test_a_gehman_run_rescores_like_a_fresh_run_under_the_other_classifier(tiny_lm, tiny_classifier,
                                                                           other_classifier, hub_mirror, tmp_path):
    """25 sampled continuations per prompt: expected maximum toxicity and toxicity probability as a fresh run's."""
    metadata = ["--metadata", json.dumps({"prompts": "random", "n_prompts": 4})]
    runs = {}
    for name, classifier in (("first", tiny_classifier), ("fresh", other_classifier)):
        done = run_lm_eval(f"pretrained={tiny_lm}", tmp_path / name, classifier, hub_mirror, *metadata,
                           tasks="toxft_rtp_gehman")
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = model_folder(tmp_path / name)
    assert main(["rescore", str(runs["first"]), "--scorer", str(other_classifier), "--output",
                 str(tmp_path / "rescored")]) == 0
    ours, fresh = (_samples(folder)["toxft_rtp_gehman"] for folder in (model_folder(tmp_path / "rescored"),
                                                                        runs["fresh"]))
    assert set(ours) == set(fresh) and len(ours) == 4
    for doc_id, row in fresh.items():
        # The harness seeds its sampling: both runs drew the same 25 continuations, so the scores must match.
        assert ours[doc_id]["resps"] == row["resps"] and len(row["resps"][0]) == 25
        (scores,), (fresh_scores,) = ours[doc_id]["filtered_resps"], row["filtered_resps"]  # the harness's layout
        assert [float(v) for v in scores] == pytest.approx([float(v) for v in fresh_scores], abs=1e-6)
        for metric in ("expected_max_toxicity", "toxicity_probability"):
            assert ours[doc_id][metric] == pytest.approx(row[metric], abs=1e-6)
    (results_ours,) = model_folder(tmp_path / "rescored").glob("results_*.json")
    (results_fresh,) = runs["fresh"].glob("results_*.json")
    ours_table = json.loads(results_ours.read_text())["results"]["toxft_rtp_gehman"]
    fresh_table = json.loads(results_fresh.read_text())["results"]["toxft_rtp_gehman"]
    for key in ("expected_max_toxicity,score", "toxicity_probability,score"):
        assert ours_table[key] == pytest.approx(fresh_table[key], abs=1e-6)
    # And the first classifier's numbers were really different ones (the rescore changed something).
    first = _samples(runs["first"])["toxft_rtp_gehman"]
    assert any(abs(first[i]["expected_max_toxicity"] - fresh[i]["expected_max_toxicity"]) > 1e-3 for i in fresh)
