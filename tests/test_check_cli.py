"""`toxft check`: reference found, both models through the harness, cached, verdict, exit codes, card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import scorer_and_mirror
from toxft.cli import main

pytestmark = pytest.mark.slow
FAST = ["--metadata", json.dumps({"n_random": 10, "n_severe": 10}), "--batch-size", "16"]


@pytest.fixture(scope="module")
def check_env(tmp_path_factory, tiny_classifier, hub_mirror):
    """The harness jobs read the scorer and the data mirror from the environment, as a user's would."""
    with scorer_and_mirror(tiny_classifier, hub_mirror):
        yield tmp_path_factory.mktemp("checks")


def _results(cache: Path) -> dict[str, float]:
    """Results files under the cache, with their modification times."""
    return {str(p): p.stat().st_mtime_ns for p in (cache / "results").rglob("results_*.json")}


@pytest.fixture(scope="module")
def adapter_check(check_env, flagged_adapter, tmp_path_factory):
    """The first check of the adapter against its base, into the module's cache: (argv, exit code, out, err, card)."""
    import contextlib
    import io

    card = tmp_path_factory.mktemp("card") / "README.md"
    card.write_text("---\nlicense: apache-2.0\n---\n# My adapter\n\nSome words.\n")
    argv = ["check", str(flagged_adapter), "--output", str(check_env), "--fail-on", "increase", "--examples", "2",
            "--card", str(card), *FAST]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return argv, code, out.getvalue(), err.getvalue(), card


def test_adapter_against_its_base_fails_on_increase_and_updates_the_card(check_env, adapter_check, flagged_adapter,
                                                                          tiny_lm, capsys):
    from types import SimpleNamespace

    argv, code, out, err, card = adapter_check
    assert code == 1
    captured = SimpleNamespace(out=out, err=err)
    first = captured.out.splitlines()[0]
    # (Its tiny adapter also writes some degenerate text, "old old old old old ] ] ] ] so they are venom.", which the
    # line would add as ", and its continuations are credibly more often degenerate (...)".)
    assert first.startswith(f"{flagged_adapter} is credibly MORE toxic than {tiny_lm}") and "toxic continuations" in first
    assert "(paired;" in first and "prompts" in first
    assert f"reference: {tiny_lm} @ local (from the adapter's base_model_name_or_path)" in captured.err
    assert "| ↳ vs " in captured.out and "credibly higher" in captured.out
    assert "toxic only for A" in captured.out
    assert f"examples: A = {flagged_adapter}, B = {tiny_lm}" in captured.out  # which model is A
    assert "toxft: --fail-on increase: credibly more toxic on all prompts (" in captured.err  # why it exits 1
    text = card.read_text()
    assert "## Toxicity evaluation (toxft)" in text and "Some words." in text and "model-index" in text
    cached = _results(check_env)
    assert len([path for path in cached if "/adapter-" in path or "/llama-" in path]) == 2  # the model, the reference
    # Again: nothing is evaluated a second time, and the card is already up to date.
    assert main(argv) == 1
    again = capsys.readouterr()
    assert again.out == captured.out  # the same runs print the same numbers, interval included
    assert again.err.count("cached:") == 2 and "running lm_eval" not in again.err
    assert "is already up to date" in again.err and card.read_text() == text
    assert _results(check_env) == cached
    # Without --fail-on the same finding exits 0.
    assert main(argv[:4] + ["--examples", "0", *FAST]) == 0


def test_full_model_named_by_its_card_reuses_the_cached_reference(check_env, adapter_check, tiny_lm, tmp_path, capsys):
    """A byte copy of the base with a card naming it: no credible difference, and the reference is not rerun."""
    copy = tmp_path / "tuned"
    shutil.copytree(tiny_lm, copy)
    (copy / "README.md").write_text(f"---\nbase_model: {tiny_lm}\n---\n# a copy\n")
    before = _results(check_env)
    assert main(["check", str(copy), "--output", str(check_env), "--fail-on", "increase", *FAST]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{copy} is not credibly different in toxicity from {tiny_lm}")
    assert "(from the card's base_model)" in captured.err
    after = _results(check_env)
    assert {k: v for k, v in after.items() if k in before} == before and len(after) == len(before) + 1
    assert captured.err.count("cached:") == 1


def test_bad_input_is_one_line_and_exit_2(check_env, tiny_lm, tmp_path, capsys):
    no_card = tmp_path / "no-card"
    shutil.copytree(tiny_lm, no_card)
    cases = [
        (["check", str(tmp_path / "missing")], "no such folder"),
        (["check", str(no_card)], "names no base_model; give the model to compare with as --against"),
        (["check", str(no_card), "--against", str(no_card)], "is the reference itself"),
        (["check", str(no_card), "--against", str(tiny_lm), "--model-args", "dtype"], "--model-args must look like"),
        (["check", str(no_card), "--push-to-hub"], "--push-to-hub needs MODEL to be a Hub repository"),
    ]
    for argv, message in cases:
        assert main([*argv, "--output", str(tmp_path / "cache")]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "cache" / "results").exists()  # nothing was evaluated
