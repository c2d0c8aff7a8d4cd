"""Perspective-era runs as they sit on users' disks: several harness releases, failed requests, whole folders.

The runs are written in each release's own schema (tests/harness_releases.py says where each field
comes from); the continuations are the tiny LM's kind of text, so the tiny scorer flags exactly the
ones that hold the flagged word.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import harness_releases
from toxft.cli import main
from toxft.demo import tiny

N, FAILED = 24, (3, 10, 17)  # requests that raised: the harness recorded 0


def _rows(hub_mirror: Path, n: int = N) -> list[dict]:
    rows = [json.loads(line) for line in
            (hub_mirror / "allenai" / "real-toxicity-prompts" / "prompts.jsonl").read_text().splitlines()]
    return [rows[i % len(rows)] | {"begin": i} for i in range(n)]  # distinct spans: distinct prompt ids


def _run(folder: Path, hub_mirror: Path, release: str, failed=FAILED, n: int = N, json_output: bool = False,
         model: str = "org/llama") -> Path:
    rng = random.Random(7)
    texts = [f"{tiny.random_sentence(rng, i % 4 == 0)} ." for i in range(n)]
    perspective = [0.0 if i in failed else round(0.05 + 0.9 * rng.random(), 4) for i in range(n)]
    return harness_releases.write_run(folder, release, _rows(hub_mirror, n), texts, perspective, model, json_output)


def _samples(folder: Path) -> list[dict]:
    (path,) = Path(folder).rglob("samples_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(("release", "json_output"), [("0.4.3", False), ("0.4.5", False), ("0.4.9", True),
                                                      ("0.4.13", False)])
def test_every_release_rescores_and_failed_requests_are_missing(release, json_output, hub_mirror, tiny_classifier,
                                                                tmp_path, capsys):
    from toxft import scorer

    old = tmp_path / "old"
    folder = _run(old, hub_mirror, release, json_output=json_output)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["rescore", str(old), "--scorer", str(tiny_classifier), "--output", str(tmp_path / "new")]) == 0
    err = capsys.readouterr().err
    assert f"3 of {N} Perspective requests had failed (recorded as 0 by the harness)" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # the original is untouched
    rescored = _samples(tmp_path / "new")
    originals = _samples(old)
    # Same file names, same layout as the release wrote them.
    (new_folder,) = {p.parent for p in (tmp_path / "new").rglob("samples_*.jsonl")}
    assert sorted(p.name for p in new_folder.iterdir()) == sorted(before)
    expected = scorer.score([r["resps"][0][0] for r in originals], model=str(tiny_classifier), progress=False)
    assert [r["toxicity"] for r in rescored] == pytest.approx(expected, abs=1e-6)
    for index, (row, original) in enumerate(zip(rescored, originals)):
        if index in FAILED:  # missing, not "0, not toxic"
            assert row["perspective_toxicity"] is None and row["perspective_toxic"] is None
            assert row["perspective_request_failed"] is True
        else:
            assert row["perspective_toxicity"] == original["perspective_api_toxicity_score"]
            assert row["perspective_toxic"] == original["score"] and row["perspective_request_failed"] is False
        assert ("filter" in row) == (release not in ("0.4.3", "0.4.5"))  # the release's own keys, no others
    (results,) = [p for p in new_folder.glob("*.json")]
    record = json.loads(results.read_text())
    assert record["toxft_rescore"]["perspective"] == {"requests": N, "failed": 3}
    assert record["results"]["realtoxicityprompts"]["toxic,score"] == pytest.approx(
        sum(r["toxic"] for r in rescored) / N)
    # Agreement counts only the 21 continuations Perspective really scored, and says how many it left out.
    assert main(["agreement", str(old), str(tmp_path / "new"), "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    (subset,) = json.loads((tmp_path / "a.json").read_text())["subsets"]
    assert subset["n"] == N - 3 and subset["left_out"] == 3 and "left out" in out
    pairs = [(bool(o["score"]), r["toxic"] > 0.5) for i, (o, r) in enumerate(zip(originals, rescored))
             if i not in FAILED]
    assert (subset["both"], subset["only_a"], subset["only_b"]) == (
        sum(a and b for a, b in pairs), sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs))


def test_report_and_compare_leave_failed_requests_out(hub_mirror, tmp_path, capsys):
    one = _run(tmp_path / "a", hub_mirror, "0.4.13", model="org/one")
    two = _run(tmp_path / "b", hub_mirror, "0.4.5", failed=(0, 1, 2, 3, 10), model="org/two")
    assert main(["report", str(one), "--format", "json"]) == 0
    cell = json.loads(capsys.readouterr().out)["models"][0]["columns"]["builtin"]
    scored = [s for i, s in enumerate(_samples(one)) if i not in FAILED]
    assert cell["n"] == N - 3 and cell["toxic"] == sum(s["score"] for s in scored)
    assert main(["report", str(one)]) == 0
    assert f"3 of {N} continuations have no score (failed Perspective requests" in capsys.readouterr().out
    assert main(["compare", str(one), str(two), "--rates-only", "--json", str(tmp_path / "c.json")]) == 0
    (comparison,) = json.loads((tmp_path / "c.json").read_text())
    # Paired on the prompts both scored: 24 less the six that failed in one run or the other.
    assert comparison["subsets"]["builtin"]["n"] == N - 6


def test_when_every_request_failed_rescore_says_so_and_agreement_refuses(hub_mirror, tiny_classifier, tmp_path,
                                                                          capsys):
    old = tmp_path / "old"
    _run(old, hub_mirror, "0.4.13", failed=range(N))
    assert main(["rescore", str(old), "--scorer", str(tiny_classifier), "--output", str(tmp_path / "new")]) == 0
    err = capsys.readouterr().err
    assert f"all {N} Perspective requests failed: the original rates are not scores" in err
    assert all(r["perspective_toxicity"] is None for r in _samples(tmp_path / "new"))
    assert main(["agreement", str(old), str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "every Perspective request failed" in err


def test_a_folder_of_runs_is_rescored_run_by_run_with_one_classifier(hub_mirror, tiny_classifier, tmp_path, capsys,
                                                                     monkeypatch):
    from toxft import scorer

    old = tmp_path / "old-runs"
    _run(old / "sweep-a", hub_mirror, "0.4.3", model="org/one")
    _run(old / "sweep-a", hub_mirror, "0.4.3", model="org/two", failed=())
    _run(old / "sweep-b", hub_mirror, "0.4.9", json_output=True)
    (old / "NOTES.md").write_text("not a run\n")
    (old / "sweep-b" / "plots").mkdir()
    loaded = []
    original = scorer.ToxicityScorer.__post_init__
    monkeypatch.setattr(scorer, "_cache", {})
    monkeypatch.setattr(scorer.ToxicityScorer, "__post_init__", lambda self: (loaded.append(self.model_id),
                                                                              original(self))[1])
    assert main(["rescore", str(old), "--scorer", str(tiny_classifier), "--output", str(tmp_path / "new")]) == 0
    err = capsys.readouterr().err
    assert len(loaded) == 1  # the classifier is loaded once for every run
    assert err.count("continuations scored in") == 3 and "rescored 3 run(s)" in err
    made = sorted(str(p.relative_to(tmp_path / "new")) for p in (tmp_path / "new").rglob("samples_*.jsonl"))
    assert made == sorted(str(p.relative_to(old)) for p in old.rglob("samples_*.jsonl"))  # the layout kept
    assert not (tmp_path / "new" / "NOTES.md").exists()
    # Agreement across the two folders: a table per run and a pooled line.
    assert main(["agreement", str(old), str(tmp_path / "new"), "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "a.json").read_text())
    assert out.count("== sweep-") == 3 and "== all 3 runs pooled" in out
    assert len(record["runs"]) == 3
    assert record["pooled"]["n"] == sum(r["subsets"][0]["n"] for r in record["runs"]) == 3 * N - 3 - 3


def test_a_long_rescore_shows_progress(hub_mirror, tiny_classifier, tmp_path, capsys):
    """In a log (standard error not a terminal): whole progress lines while 3,000 continuations are scored."""
    old = tmp_path / "old"
    _run(old, hub_mirror, "0.4.13", n=3000, failed=())
    assert main(["rescore", str(old), "--scorer", str(tiny_classifier), "--output", str(tmp_path / "new"),
                 "--batch-size", "32"]) == 0
    import re

    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("toxft: scoring:")]
    assert len(lines) >= 5 and "\r" not in "".join(lines)
    last = re.match(r"toxft: scoring: (\d+)/(\d+) batch", lines[-1])
    assert last and last.group(1) == last.group(2) and int(last.group(2)) >= 80  # 3,000 texts, 32 a batch
