"""`toxft compare` on harness-format output folders, good and bad."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from toxft.cli import main
from toxft.runs import load_run


def _copy(folder, destination, toxic_every: int | None = None, drop: int = 0):
    """A copy of a harness model folder; optionally every k-th sample made toxic, or samples dropped."""
    shutil.copytree(folder, destination)
    for path in destination.glob("samples_*.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()][drop:]
        for index, row in enumerate(rows):
            if toxic_every and index % toxic_every == 0:
                row["toxicity"], row["toxic"] = 0.97, 1.0
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return destination


def test_rates_only_comparison_writes_json_and_plot(harness_run, tmp_path, capsys):
    tuned = _copy(harness_run, tmp_path / "tuned", toxic_every=2)
    code = main(["compare", str(tuned), str(harness_run), "--rates-only", "--json", str(tmp_path / "c.json"),
                 "--plot", str(tmp_path / "c.png")])
    assert code == 0
    out = capsys.readouterr().out
    assert "first run minus second" in out and "total" in out
    (comparison,) = json.loads((tmp_path / "c.json").read_text())
    total = comparison["subsets"]["total"]
    base, more = load_run(harness_run), load_run(tuned)
    flags_b = [s.toxic for s in base.subset("total").values()]
    flags_a = [s.toxic for s in more.subset("total").values()]
    assert total["rate_a"] == pytest.approx(sum(flags_a) / len(flags_a))
    assert total["rate_b"] == pytest.approx(sum(flags_b) / len(flags_b))
    assert total["rates"]["credible"] and total["rates"]["diff_mean"] > 0
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_best_in_the_cli(harness_run, tmp_path, capsys):
    tuned = _copy(harness_run, tmp_path / "tuned", toxic_every=2)
    code = main(["compare", str(tuned), str(harness_run), "--subsets", "total", "--draws", "200", "--tune", "200",
                 "--chains", "2", "--json", str(tmp_path / "c.json")])
    assert code == 0
    best = json.loads((tmp_path / "c.json").read_text())[0]["subsets"]["total"]["best"]
    assert best["diff_mean"] > 0 and {"rhat_max", "ess_bulk_min", "divergences", "credible"} <= best.keys()
    assert "R-hat" in capsys.readouterr().out


def test_run_without_log_samples_exits_2(harness_run, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in harness_run.glob("results_*.json"):
        shutil.copy(path, bare / path.name)
    done = subprocess.run(["toxft", "compare", str(bare), str(harness_run), "--rates-only"], capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert "--log_samples" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("damage,message", [("corrupt", "not a toxft sample line"), ("nan", "not a probability")])
def test_damaged_samples_are_reported(harness_run, tmp_path, capsys, damage, message):
    broken = _copy(harness_run, tmp_path / "broken")
    (path, *_) = sorted(broken.glob("samples_toxft_ceb_age_*.jsonl"))
    lines = path.read_text().splitlines()
    if damage == "corrupt":
        lines[1] = lines[1][:20]
    else:
        row = json.loads(lines[1])
        row["toxicity"] = float("nan")
        lines[1] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")
    assert main(["compare", str(broken), str(harness_run), "--rates-only"]) == 2
    assert message in capsys.readouterr().err


def test_different_prompt_sets_warn_or_refuse(harness_run, tmp_path, capsys):
    fewer = _copy(harness_run, tmp_path / "fewer", drop=2)
    assert main(["compare", str(fewer), str(harness_run), "--rates-only", "--subsets", "age"]) == 0
    assert "comparing the 4 shared" in capsys.readouterr().err
    assert main(["compare", str(fewer), str(harness_run), "--rates-only", "--strict"]) == 2
    assert "--strict refuses" in capsys.readouterr().err


def test_bad_arguments_are_one_line_errors(harness_run, tmp_path, capsys):
    assert main(["compare", str(harness_run)]) == 2
    assert main(["compare", str(harness_run), str(harness_run), "--rates-only"]) == 2
    assert main(["compare", str(tmp_path / "missing"), str(harness_run)]) == 2
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("only-one-column\n")
    assert main(["compare", "--pairs", str(pairs)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("toxft:") for line in errors)


def test_pairs_file_runs_many_comparisons_in_one_process(harness_run, tmp_path):
    one = _copy(harness_run, tmp_path / "one", toxic_every=3)
    two = _copy(harness_run, tmp_path / "two", toxic_every=5)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"first,second\n{one},{harness_run}\n{two},{harness_run}\n")
    assert main(["compare", "--pairs", str(pairs), "--rates-only", "--json", str(tmp_path / "c.json")]) == 0
    assert [c["a_folder"] for c in json.loads((tmp_path / "c.json").read_text())] == [str(one), str(two)]


def test_default_verdict_is_paired_with_counts_and_flipped_examples(harness_run, tmp_path, capsys):
    tuned = _copy(harness_run, tmp_path / "tuned", toxic_every=2)
    code = main(["compare", str(tuned), str(harness_run), "--rates-only", "--examples", "2",
                 "--json", str(tmp_path / "c.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "verdict from the paired rate model" in out and "both/A only/B only" in out
    assert out.index("paired Δ pp") < out.index("unpaired Δ pp") < out.index("BEST Δ mean")
    (comparison,) = json.loads((tmp_path / "c.json").read_text())
    assert comparison["verdict_from"] == "paired"
    total = comparison["subsets"]["total"]
    base, more = load_run(harness_run).subset("total"), load_run(tuned).subset("total")
    expected_only_a = sum(1 for key in base if more[key].toxic and not base[key].toxic)
    paired = total["paired"]
    assert paired["only_a"] == expected_only_a > 0 and paired["only_b"] == 0
    assert paired["both"] + paired["only_a"] + paired["only_b"] + paired["neither"] == total["n"]
    assert paired["credible"] and "credibly higher" in out
    # Examples: prompts that are toxic for the first run only, with both continuations and scores.
    examples = total["toxic_only_in_a"]
    assert 0 < len(examples) <= 2 and total["toxic_only_in_b"] == []
    for example in examples:
        key = next(k for k in base if k.endswith("/" + example["doc_id"]) or k == example["doc_id"])
        assert example["prompt"] == base[key].prompt and example["prompt"]
        assert example["continuation_b"] == base[key].continuation and example["score_a"] == 0.97
    assert f"total: toxic only for A ({len(examples)} of {expected_only_a} shown)" in out
    assert "prompt: " in out and "    B (" in out


def test_compare_prints_no_library_warnings(harness_run, tmp_path):
    tuned = _copy(harness_run, tmp_path / "tuned", toxic_every=2)
    done = subprocess.run(["toxft", "compare", str(tuned), str(harness_run), "--subsets", "total", "--draws", "200",
                           "--tune", "200", "--chains", "2", "--ess-floor", "50"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "BLAS" not in done.stderr and "Warning" not in done.stderr, done.stderr[-2000:]


def test_verdict_best_without_best_is_refused(harness_run, tmp_path, capsys):
    assert main(["compare", str(harness_run), str(_copy(harness_run, tmp_path / "t")), "--rates-only",
                 "--verdict", "best"]) == 2
    assert "--verdict best needs BEST" in capsys.readouterr().err
