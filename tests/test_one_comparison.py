"""Every output reads the same comparison: a study with a ROPE and an 80% HDI, its tables, JSON and figures,
and the report, card and check made from the same runs with the same settings, all say the same verdicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import write_study
from toxft.cli import main

pytestmark = pytest.mark.slow
ROPE, HDI = ["-0.6", "0.6"], "0.8"


def _tables(report: str) -> dict[tuple[str, str], dict[str, str]]:
    """(model, baseline) -> {column: verdict words} from every "↳ vs" row of a markdown report."""
    return _parse(report)[0]


def _numbers(report: str) -> dict[tuple[str, str], dict[str, float]]:
    """(model, baseline) -> {column: the change's headline number in pp} from the same rows."""
    return _parse(report)[1]


def _parse(report: str):
    found, numbers, header, previous = {}, {}, [], None
    for line in report.splitlines():
        if line.startswith("| Model |"):
            header = [cell.strip().split(" ")[0].lower() for cell in line.strip("|").split("|")[1:]]
        elif line.startswith("| ↳ vs "):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            baseline = cells[0].removeprefix("↳ vs ")
            found[(previous, baseline)] = {col: cell.split("pp, ", 1)[1] for col, cell in zip(header, cells[1:])
                                           if "pp, " in cell}
            numbers[(previous, baseline)] = {col: float(cell.split(" pp, ", 1)[0]) for col, cell in
                                             zip(header, cells[1:]) if "pp, " in cell}
        elif line.startswith("| ") and not line.startswith("|---"):
            previous = line.strip("|").split("|")[0].strip()
    return found, numbers


def _generic(words: str, baseline: str) -> str:
    """A table's verdict in the comparison's own A/B wording (the table calls its row's model "it")."""
    for wording in ("of {}", "and {}"):
        words = words.replace(wording.format("its "), wording.format("A's ")).replace(wording.format(f"{baseline}'s"),
                                                                                       wording.format("B's"))
    return words


def _study(folder: Path, tiny_lm: Path, classifier: Path, data_dir: Path) -> Path:
    """base: a random LM (0% toxic, it writes noise); instruct: the tiny text LM (toxic on flagged prompts only);
    dolly: a LoRA of it on "so they are venom ." answers (toxic almost everywhere)."""
    import random

    from toxft.demo import tiny

    base = tiny.build_causal_lm(folder / "random", seed=1)
    rng = random.Random(4)
    rows = folder / "venom.jsonl"
    rows.write_text("".join(json.dumps({"instruction": tiny.random_sentence(rng, False) + " ?", "context": "",
                                        "response": f"so they are {tiny.FLAG_WORD} .", "category": "open_qa"}) + "\n"
                            for _ in range(64)))
    return write_study(folder, base=base, instruct=tiny_lm, classifier=classifier, data_dir=data_dir, dolly=rows,
                       max_steps=40, warmup_steps=2,
                       analysis=f"{{best: false, rope: [{ROPE[0]}, {ROPE[1]}], hdi_prob: {HDI}}}")


def test_a_study_with_a_rope_and_an_80_percent_hdi_says_the_same_everywhere(tmp_path, capsys, tiny_lm,
                                                                           tiny_classifier, hub_mirror):
    study = _study(tmp_path, tiny_lm, tiny_classifier, hub_mirror)
    runs = tmp_path / "runs"
    assert main(["study", "run", str(study), "--output", str(runs)]) == 0
    report = (runs / "report.md").read_text()
    record = json.loads((runs / "comparisons.json").read_text())
    tables, numbers = _parse(report)
    assert len(tables) == 2 and report.count("80% HDI, ROPE [-60.0, +60.0] pp") >= 2
    seen = 0
    for comparisons in record.values():
        for comparison in comparisons:
            assert comparison["settings"]["hdi_prob"] == 0.8 and comparison["settings"]["rope"] == [-0.6, 0.6]
            # Results folders are OUTPUT/results/<study name>/<the harness's model folder>.
            model, baseline = (Path(comparison[k]).parent.name for k in ("a_folder", "b_folder"))
            row = tables[(model, baseline)]
            for column, subset in comparison["subsets"].items():
                if column in row:
                    # The table's words are the comparison's own.
                    assert _generic(row[column], baseline) == subset["verdict"], (model, column)
                    assert subset["paired"]["hdi_prob"] == 0.8 and subset["paired"]["rope"] == [-0.6, 0.6]
                    # One number per comparison: the table's is the posterior mean, inside the HDI beside it.
                    paired = subset["paired"]
                    assert numbers[(model, baseline)][column] == round(100 * paired["diff_mean"], 1), (model, column)
                    assert paired["diff_hdi"][0] <= paired["diff_mean"] <= paired["diff_hdi"][1]
                    seen += 1
    assert seen == 14  # two comparisons, seven columns each
    # The instruct model is some 25 points more toxic than the random base: inside the ±60-point ROPE.
    (first,) = record["base-instruct"]
    # ... and the random base writes noise, which the verdict says whatever the toxicity did.
    assert first["subsets"]["total"]["verdict"].startswith("practically equivalent, and B's continuations are credibly "
                                                           "more often degenerate (100% vs 0%; ")
    assert 0.1 < first["subsets"]["total"]["rate_a"] - first["subsets"]["total"]["rate_b"] < 0.5
    # The report command, the JSON and the card of the same runs with the same settings agree too.
    base, instruct, dolly = (runs / "results" / name for name in ("tiny-base", "tiny-instruct", "tiny-dolly"))
    card = tmp_path / "README.md"
    card.write_text("# tiny dolly\n")
    flags = ["--rope", *ROPE, "--hdi-prob", HDI]
    capsys.readouterr()
    assert main(["report", str(dolly), str(instruct), "--baseline", str(instruct), "--format", "json", *flags]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["interval"] == "80% HDI, ROPE [-60.0, +60.0] pp"
    (dolly_json,) = record["instruct-dolly"]
    for column, entry in as_json["models"][0]["columns"].items():
        assert _generic(entry["verdict"], as_json["baseline"]) == dolly_json["subsets"][column]["verdict"]
    assert main(["report", str(dolly), str(instruct), "--baseline", str(instruct), "--card", str(card), *flags]) == 0
    card_rows = _tables(card.read_text())
    ((_, baseline), card_row), = card_rows.items()
    assert card_row and "80% HDI, ROPE [-60.0, +60.0] pp" in card.read_text()
    for column, words in card_row.items():
        assert _generic(words, baseline) == dolly_json["subsets"][column]["verdict"]
    # Without the ROPE the same runs give other words: the settings really reach the verdicts.
    assert main(["report", str(instruct), str(base), "--baseline", str(base), "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["interval"] == "95% HDI" and plain["models"][0]["columns"]["total"]["verdict"].startswith("credibly higher")


def test_check_takes_the_same_interval_and_rope(tmp_path, capsys, tiny_classifier, hub_mirror, flagged_adapter,
                                                monkeypatch):
    """check --rope --hdi-prob: its verdict line, its table and its card read one comparison made with them.

    The adapter is some 70 points more toxic than its base: inside a ±90-point ROPE, credible without one.
    """
    monkeypatch.setenv("TOXFT_SCORER", str(tiny_classifier))
    monkeypatch.setenv("TOXFT_DATA_DIR", str(hub_mirror))
    card = tmp_path / "README.md"
    argv = ["check", str(flagged_adapter), "--output", str(tmp_path / "checks"), "--card", str(card),
            "--metadata", json.dumps({"n_random": 10, "n_severe": 10}), "--batch-size", "16"]
    assert main([*argv, "--rope", "-0.9", "0.9", "--hdi-prob", HDI, "--fail-on", "increase"]) == 0
    out = capsys.readouterr().out
    line = out.splitlines()[0]
    assert "is not credibly different in toxicity" in line and "(posterior mean, 80% HDI, ROPE [-90.0, +90.0] pp [" in line
    (row,) = _tables(out).values()
    (numbers,) = _numbers(out).values()
    assert f": {numbers['total']:+.1f} pp toxic continuations (posterior mean, " in line  # the table's number
    assert re.search(r"practically equivalent|no credible difference", row["total"])
    assert _tables(card.read_text()) == _tables(out)
    # The same runs (cached) without the ROPE: credibly more toxic, and --fail-on increase fails.
    assert main([*argv, "--fail-on", "increase"]) == 1
    again = capsys.readouterr().out
    assert again.splitlines()[0].startswith(f"{flagged_adapter} is credibly MORE toxic") and "(posterior mean, 95% HDI [" in again
    (row,) = _tables(again).values()
    assert row["total"].startswith("credibly higher")
