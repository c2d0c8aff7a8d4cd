"""`toxft report`: the paper's table, machine formats, model-index and model-card updates."""

from __future__ import annotations

import csv
import io
import json

import pytest

from test_compare_cli import _copy
from toxft.cli import main
from toxft.runs import load_run


def _expected(folder, column):
    samples = list(load_run(folder).subset(column).values())
    return 100 * sum(s.toxic for s in samples) / len(samples), len(samples)


def test_markdown_cells_match_the_samples(harness_run, tmp_path, capsys):
    tuned = _copy(harness_run, tmp_path / "tuned", toxic_every=2)
    assert main(["report", str(harness_run), str(tuned), "--baseline", str(harness_run),
                 "--name", "base", "--name", "tuned"]) == 0
    out = capsys.readouterr().out
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in out.splitlines()
             if line.startswith("| ")}
    header = lines["Model"]
    for model, folder in (("base", harness_run), ("tuned", tuned)):
        for title, value in zip(header, lines[model]):
            column = title.split(" ")[0].lower()
            rate, n = _expected(folder, column)
            assert value == f"{rate:.1f}" and f"(n={n})" in title
    change = lines["↳ vs base"]
    assert all("credibly higher" in cell or "no credible difference" in cell for cell in change)
    assert "credibly higher" in change[0]  # Total: half the continuations were made toxic
    assert "Scorer:" in out and "classifier" in out  # the tiny classifier's path, recorded by the tasks
    assert "chat template off" in out


def test_partial_run_is_marked_not_invented(harness_run, tmp_path, capsys):
    partial = _copy(harness_run, tmp_path / "partial")
    for path in partial.glob("samples_toxft_ceb_age_*.jsonl"):
        path.unlink()
    assert main(["report", str(partial), "--format", "json"]) == 0
    columns = json.loads(capsys.readouterr().out)["models"][0]["columns"]
    assert columns["age"] is None and columns["total"] is None
    assert columns["race"]["rate"] == pytest.approx(_expected(harness_run, "race")[0] / 100)
    assert main(["report", str(partial)]) == 0
    assert "not run" in capsys.readouterr().out


def test_csv_has_a_row_per_model_and_subset(harness_run, capsys):
    assert main(["report", str(harness_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["subset"] for r in rows] == ["total", "severe", "random", "race", "gender", "age", "religion"]
    total = rows[0]
    assert int(total["toxic"]) / int(total["n"]) == pytest.approx(float(total["toxic_rate"]), abs=1e-6)


def test_model_index_round_trips_through_huggingface_hub(harness_run, capsys):
    from huggingface_hub import ModelCard

    assert main(["report", str(harness_run), "--format", "model-index", "--name", "me/tiny"]) == 0
    card = ModelCard(f"---\n{capsys.readouterr().out}---\n\nbody\n")
    results = card.data.eval_results
    assert card.data.model_name == "me/tiny"
    total_rate = next(r for r in results if r.dataset_config == "total" and r.metric_type == "toxic_rate")
    assert total_rate.metric_value == pytest.approx(_expected(harness_run, "total")[0], abs=0.01)
    assert total_rate.task_type == "text-generation" and total_rate.source_name == "toxft"
    assert {r.dataset_config for r in results} == {"total", "severe", "random", "race", "gender", "age", "religion"}


def test_card_update_is_idempotent_and_keeps_other_content(harness_run, tmp_path):
    card = tmp_path / "README.md"
    card.write_text("---\nlicense: mit\nmodel-index:\n- name: m\n  results:\n  - task:\n      type: text-generation\n"
                    "    dataset:\n      name: Other\n      type: other\n    metrics:\n    - type: acc\n      value: 1.0\n"
                    "    source:\n      name: someone-else\n      url: https://example.org\n---\n\n# My model\n\nHand-written text.\n")
    assert main(["report", str(harness_run), "--card", str(card)]) == 0
    once = card.read_text()
    assert main(["report", str(harness_run), "--card", str(card)]) == 0
    assert card.read_text() == once
    assert "Hand-written text." in once and "license: mit" in once and "## Toxicity evaluation (toxft)" in once
    assert once.count("## Toxicity evaluation (toxft)") == 1
    from huggingface_hub import ModelCard

    sources = {r.source_name for r in ModelCard(once).data.eval_results}
    assert sources == {"someone-else", "toxft"}


def test_card_without_front_matter_gets_one(harness_run, tmp_path, capsys):
    card = tmp_path / "README.md"
    card.write_text("# Plain card\n")
    assert main(["report", str(harness_run), "--card", str(card)]) == 0
    text = card.read_text()
    assert text.startswith("---\n") and "# Plain card" in text and "model-index" in text
    assert "no metadata block" in capsys.readouterr().err


def test_errors_never_touch_the_card(harness_run, tmp_path, capsys):
    card = tmp_path / "README.md"
    card.write_text("# Card\n")
    assert main(["report", str(tmp_path / "missing"), "--card", str(card)]) == 2
    assert main(["report", str(harness_run), str(harness_run), "--card", str(card)]) == 2
    assert card.read_text() == "# Card\n"
    broken = "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: x}\n    metrics: oops\n---\n# Card\n"
    card.write_text(broken)
    assert main(["report", str(harness_run), "--card", str(card)]) == 2
    assert card.read_text() == broken
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("toxft:") for e in errors)


def test_dry_run_prints_the_change_only(harness_run, tmp_path, capsys):
    card = tmp_path / "README.md"
    card.write_text("---\nlicense: mit\n---\n# Card\n")
    assert main(["report", str(harness_run), "--card", str(card), "--dry-run"]) == 0
    assert "+## Toxicity evaluation (toxft)" in capsys.readouterr().out
    assert card.read_text() == "---\nlicense: mit\n---\n# Card\n"


def test_push_without_the_hub_is_a_one_line_error(harness_run, capsys):
    assert main(["report", str(harness_run), "--push-to-hub", "me/tiny", "--dry-run"]) == 2
    assert "cannot read the card of me/tiny" in capsys.readouterr().err


def test_rates_figure(harness_run, tmp_path):
    assert main(["report", str(harness_run), "--plot", str(tmp_path / "rates.png")]) == 0
    assert (tmp_path / "rates.png").read_bytes()[:4] == b"\x89PNG"


def test_default_verdict_is_paired_and_commits_are_shown(harness_run, tmp_path, capsys):
    tuned = _copy(harness_run, tmp_path / "tuned", toxic_every=2)
    for path in tuned.glob("results_*.json"):  # as the harness records a Hub model's commit
        results = json.loads(path.read_text())
        results["config"]["model_sha"] = "0123456789abcdef0123"
        path.write_text(json.dumps(results))
    names = ["--name", "tuned", "--name", "base"]
    assert main(["report", str(tuned), "--baseline", str(harness_run), "--format", "json", *names]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict_from"] == "paired"
    assert report["revisions"] == {"tuned": f"{load_run(tuned).model_args['pretrained']} @ 0123456789ab"}
    assert main(["report", str(tuned), "--baseline", str(harness_run), *names]) == 0
    out = capsys.readouterr().out
    assert "the verdict comes from the paired rate model" in out and "@ 0123456789ab" in out
    assert main(["report", str(tuned), "--baseline", str(harness_run), "--verdict", "rates", *names]) == 0
    assert "unpaired Beta-Binomial rate model" in capsys.readouterr().out
