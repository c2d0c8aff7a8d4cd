"""Every subcommand, every kind of bad input: one line on standard error, exit 2, no traceback, nothing changed.

The cases are a table, not a list of patches: every subcommand's --help and an unknown flag;
missing, empty, truncated and non-UTF-8 files; outputs into missing folders or with unknown
extensions; negative or zero counts; reversed ranges; unknown YAML keys at every level of a
study; read-only and folder-shaped cards. Before and after each case, every file under the
test's folder and the harness run it reads is snapshotted (bytes and mode) and compared.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from toxft.cli import build_parser, main

SUBCOMMANDS = ["check", "compare", "report", "rescore", "agreement", "finetune", "study", "study run", "study plan",
               "study report", "survey", "demo", "tasks-path", "measurement-path"]


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as done:  # argparse exits by itself for --help and usage errors
        code = done.code if isinstance(done.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _snapshot(*roots: Path) -> dict[str, tuple[bytes, int]]:
    found = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and not path.is_symlink():
                found[str(path)] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
            elif path.is_symlink():
                found[str(path)] = (os.readlink(path).encode(), 0)
    return found


def test_every_subcommand_is_covered():
    """A new subcommand must be added to SUBCOMMANDS (and so to every test below)."""
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(commands) == {name.split()[0] for name in SUBCOMMANDS}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_shows_defaults_once(command, capsys):
    code, out, err = _run([*command.split(), "--help"], capsys)
    assert code == 0 and out.startswith("usage: toxft") and not err
    assert "(default: None)" not in out and "(default: False)" not in out
    assert not any(line.count("default") > 1 for line in out.splitlines())


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_unknown_flag_is_one_line(command, capsys):
    code, out, err = _run([*command.split(), "--no-such-flag"], capsys)
    # Commands with required arguments name those first; either way, one line.
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "--no-such-flag" in err or "arguments are required" in err, err


@pytest.fixture
def files(tmp_path, harness_run) -> dict[str, Path]:
    """Good and bad inputs side by side, all under tmp_path."""
    run = tmp_path / "run"
    shutil.copytree(harness_run, run)
    samples = sorted(run.glob("samples_*.jsonl"))

    def variant(name: str, damage) -> Path:
        folder = tmp_path / name
        shutil.copytree(run, folder)
        damage(folder / samples[0].name)
        return folder

    lines = samples[0].read_text().splitlines(True)
    made = {
        "run": run,
        "empty_samples": variant("empty", lambda p: p.write_bytes(b"")),
        "truncated_samples": variant("truncated", lambda p: p.write_text(lines[0] + lines[1][: len(lines[1]) // 2])),
        "latin1_samples": variant("latin1", lambda p: p.write_bytes(p.read_bytes() + "caf\xe9\n".encode("latin-1"))),
        "missing": tmp_path / "no-such-run",
    }
    broken = tmp_path / "broken-results"
    shutil.copytree(run, broken)
    for path in broken.glob("results_*.json"):
        path.write_bytes(b"\xff\xfe not json")
    made["broken_results"] = broken
    card = tmp_path / "README.md"
    card.write_text("---\nlicense: mit\n---\n# my model\n")
    card.chmod(0o444)
    made["readonly_card"] = card
    no_runs = tmp_path / "notes"  # a folder of other files, no harness run in it
    no_runs.mkdir()
    (no_runs / "README.md").write_text("no runs here\n")
    made["no_runs"] = no_runs
    mixed = tmp_path / "mixed" / "runs"  # two runs, one of them made without --log_samples
    shutil.copytree(run, mixed / "with-samples")
    (mixed / "without-samples").mkdir()
    for path in run.glob("results_*.json"):
        shutil.copy(path, mixed / "without-samples" / path.name)
    made["mixed"] = mixed
    used = tmp_path / "used" / "run"  # an earlier rescore of the same run
    used.mkdir(parents=True)
    (used / "results_2026-01-01T00-00-00.000000.json").write_text("{}")
    made["used_output"] = used.parent
    made["folder_card"] = tmp_path / "card-folder"
    made["folder_card"].mkdir()
    study = tmp_path / "study.yaml"
    study.write_text(
        "name: s\nharness: {model: hf, batch_size: 4}\nanalysis: {best: false}\nfinetune: {max_steps: 3}\n"
        f"families:\n  f:\n    - {{role: base, model: {run}}}\n    - {{role: instruct, model: {run}, name: i}}\n")
    made["study"] = study
    made["study_latin1"] = tmp_path / "latin1.yaml"
    made["study_latin1"].write_bytes("name: caf\xe9\n".encode("latin-1") + b"\xff")
    made["study_empty"] = tmp_path / "empty.yaml"
    made["study_empty"].write_text("")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"{run},{run},{run}\n")
    made["pairs_three_columns"] = pairs
    made.update(_gguf_files(tmp_path))
    return made


def _gguf_files(tmp_path: Path) -> dict[str, Path]:
    from conftest import write_gguf

    truncated = write_gguf(tmp_path / "truncated.gguf", "llama")
    truncated.write_bytes(truncated.read_bytes()[:60])
    text = tmp_path / "notes.gguf"
    text.write_text("a text file with a GGUF name\n")
    return {"gguf_truncated": truncated, "gguf_not_gguf": text,
            "gguf_encoder": write_gguf(tmp_path / "encoder.gguf", "bert"),
            "gguf_unknown": write_gguf(tmp_path / "rwkv.gguf", "rwkv6")}


def _study(files, tmp_path, old: str, new: str) -> str:
    path = tmp_path / f"bad-{abs(hash((old, new)))}.yaml"
    text = files["study"].read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return str(path)


# (id, argv builder, a fragment the one line must contain)
CASES = [
    # missing, empty, truncated, non-UTF-8 and unreadable inputs
    ("compare-missing-run", lambda f, t: ["compare", str(f["missing"]), str(f["run"])], "does not exist"),
    ("report-missing-run", lambda f, t: ["report", str(f["missing"])], "does not exist"),
    ("compare-empty-samples", lambda f, t: ["compare", str(f["empty_samples"]), str(f["run"]), "--rates-only"],
     "holds no samples"),
    ("report-empty-samples", lambda f, t: ["report", str(f["empty_samples"])], "holds no samples"),
    ("report-truncated-samples", lambda f, t: ["report", str(f["truncated_samples"])], "is not a toxft sample line"),
    ("compare-latin1-samples", lambda f, t: ["compare", str(f["latin1_samples"]), str(f["run"]), "--rates-only"],
     "not UTF-8"),
    ("report-broken-results", lambda f, t: ["report", str(f["broken_results"])], "not a readable harness results"),
    ("compare-pairs-missing", lambda f, t: ["compare", "--pairs", str(t / "nope.csv")], "cannot read"),
    ("compare-pairs-three-columns", lambda f, t: ["compare", "--pairs", str(f["pairs_three_columns"])],
     "expected 'first,second'"),
    ("study-missing", lambda f, t: ["study", "plan", str(t / "nope.yaml")], "cannot read"),
    ("study-empty", lambda f, t: ["study", "plan", str(f["study_empty"])], "lists no model families"),
    ("study-latin1", lambda f, t: ["study", "plan", str(f["study_latin1"])], "not UTF-8"),
    ("check-missing-model", lambda f, t: ["check", str(t / "no-model"), "--against", str(t / "no-ref")],
     "no such folder"),
    # outputs into missing folders, with unknown extensions, onto read-only or folder-shaped files
    ("compare-json-missing-folder", lambda f, t: ["compare", str(f["run"]), str(f["run"]) + "/", "--rates-only",
                                                  "--json", str(t / "no" / "c.json")], "does not exist"),
    ("compare-json-extension", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--json", str(t / "c.txt")],
     "unknown file type"),
    ("compare-plot-extension", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--plot", str(t / "c.bmp")],
     "unknown file type"),
    ("compare-plot-missing-folder", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--plot",
                                                  str(t / "no" / "c.png")], "does not exist"),
    ("report-output-missing-folder", lambda f, t: ["report", str(f["run"]), "--output", str(t / "no" / "r.md")],
     "does not exist"),
    ("report-output-extension", lambda f, t: ["report", str(f["run"]), "--format", "json", "--output",
                                              str(t / "r.md")], "unknown file type"),
    ("report-plot-extension", lambda f, t: ["report", str(f["run"]), "--plot", str(t / "r.gif")], "unknown file type"),
    ("report-readonly-card", lambda f, t: ["report", str(f["run"]), "--card", str(f["readonly_card"])], "read-only"),
    ("report-folder-card", lambda f, t: ["report", str(f["run"]), "--card", str(f["folder_card"])], "is a folder"),
    ("check-readonly-card", lambda f, t: ["check", str(f["run"]), "--against", str(f["run"]), "--card",
                                          str(f["readonly_card"])], "read-only"),
    # negative or zero counts, out-of-range numbers, reversed ranges
    ("compare-examples-negative", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--examples", "-1"], "0 or more"),
    ("compare-draws-zero", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--draws", "0"], "1 or more"),
    ("compare-chains-zero", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--chains", "0"], "1 or more"),
    ("compare-seed-negative", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--seed", "-4"], "0 or more"),
    ("compare-hdi-above-one", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--hdi-prob", "1.5"],
     "between 0 and 1"),
    ("compare-rope-reversed", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--rope", "0.05", "0.01"],
     "LOW below HIGH"),
    ("compare-rope-not-a-number", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--rope", "a", "b"],
     "must be a number"),
    ("check-limit-zero", lambda f, t: ["check", str(f["run"]), "--limit", "0"], "1 or more"),
    ("check-limit-negative", lambda f, t: ["check", str(f["run"]), "--limit", "-3"], "1 or more"),
    ("check-examples-negative", lambda f, t: ["check", str(f["run"]), "--examples", "-2"], "0 or more"),
    ("study-timeout-zero", lambda f, t: ["study", "run", str(f["study"]), "--timeout-min", "0"], "above 0"),
    ("study-mem-zero", lambda f, t: ["study", "run", str(f["study"]), "--mem-gb", "0"], "1 or more"),
    ("study-gpus-negative", lambda f, t: ["study", "run", str(f["study"]), "--gpus-per-node", "-1"], "0 or more"),
    ("finetune-rank-zero", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--r", "0"],
     "1 or more"),
    ("finetune-lr-negative", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--learning-rate",
                                           "-1"], "above 0"),
    ("finetune-limit-zero", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--limit", "0"],
     "1 or more"),
    ("finetune-max-steps-zero", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--max-steps",
                                              "0"], "-1 (run the epochs)"),
    ("finetune-dropout-one", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--lora-dropout",
                                           "1"], "below 1"),
    ("finetune-rows-zero", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--rows", "0"],
     "1 or more"),
    ("finetune-method-unknown", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--method", "ia3"],
     "invalid choice"),
    ("finetune-control-unknown", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--control",
                                               "reversed"], "invalid choice"),
    # a method and a setting that contradict each other stop before anything loads
    ("finetune-qlora-without-cuda", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--method",
                                                  "qlora"], "needs a CUDA GPU and bitsandbytes"),
    ("finetune-qlora-not-4bit", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--method",
                                              "qlora", "--load-in-4bit", "no"], "drop --load-in-4bit no"),
    ("finetune-full-4bit", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--method", "full",
                                         "--load-in-4bit", "yes"], "cannot train 4-bit"),
    ("finetune-dora-unsloth", lambda f, t: ["finetune", "--model", "m", "--output", str(t / "a"), "--method", "dora",
                                            "--backend", "unsloth"], "use --backend peft"),
    # a study grid: a bad level, a level twice, an unknown design, a grid with nothing to train
    ("study-grid-bad-level", lambda f, t: ["study", "plan", _study(f, t, "max_steps: 3", "max_steps: 3, method: [lora, ia3]")],
     "method: must be one of"),
    ("study-grid-level-twice", lambda f, t: ["study", "plan", _study(f, t, "max_steps: 3", "max_steps: 3, r: [8, 16, 8]")],
     "8 is given twice"),
    ("study-grid-design", lambda f, t: ["study", "plan", _study(f, t, "name: s", "name: s\ngrid: diagonal")],
     "grid must be factorial or one-at-a-time"),
    ("study-grid-nothing-to-train", lambda f, t: ["study", "plan", _study(f, t, "max_steps: 3", "max_steps: 3, r: [8, 16]")],
     "needs a dolly model the study trains"),
    ("demo-seed-negative", lambda f, t: ["demo", "--output", str(t / "d"), "--seed", "-1"], "0 or more"),
    # unknown keys and bad values at every level of a study file
    ("study-top-key", lambda f, t: ["study", "plan", _study(f, t, "name: s", "nmae: s")], "unknown key 'nmae'"),
    ("study-harness-key", lambda f, t: ["study", "plan", _study(f, t, "batch_size: 4", "batchsize: 4")],
     "unknown key 'batchsize'"),
    ("study-analysis-key", lambda f, t: ["study", "plan", _study(f, t, "best: false", "bset: 1")],
     "unknown key 'bset'"),
    ("study-finetune-key", lambda f, t: ["study", "plan", _study(f, t, "max_steps: 3", "max_stpes: 3")],
     "unknown key 'max_stpes'"),
    ("study-finetune-value", lambda f, t: ["study", "plan", _study(f, t, "max_steps: 3", "max_steps: many")],
     "max-steps"),
    ("study-model-key", lambda f, t: ["study", "plan", _study(f, t, "role: base,", "role: base, revison: x,")],
     "unknown key 'revison'"),
    ("study-harness-limit-zero", lambda f, t: ["study", "plan", _study(f, t, "batch_size: 4", "limit: 0")],
     "limit must be a whole number of 1 or more"),
    ("study-harness-limit-negative", lambda f, t: ["study", "plan", _study(f, t, "batch_size: 4", "limit: -3")],
     "limit must be a whole number of 1 or more"),
    ("study-analysis-draws-zero", lambda f, t: ["study", "plan", _study(f, t, "best: false", "draws: 0")],
     "draws must be a whole number of 1 or more"),
    ("study-analysis-rope-reversed", lambda f, t: ["study", "plan", _study(f, t, "best: false",
                                                                           "rope: [0.05, 0.01]")], "LOW below HIGH"),
    ("study-comparisons-not-a-list", lambda f, t: ["study", "plan", _study(f, t, "name: s",
                                                                           "name: s\ncomparisons: base-instruct")],
     "must be a list"),
    ("rescore-missing-run", lambda f, t: ["rescore", str(f["missing"]), "--scorer", "paper", "--output", str(t / "new")],
     "does not exist"),
    ("rescore-into-the-run", lambda f, t: ["rescore", str(f["run"]), "--scorer", "paper", "--output", str(f["run"])],
     "must be another folder"),
    ("rescore-into-a-used-folder", lambda f, t: ["rescore", str(f["run"]), "--scorer", "paper", "--output",
                                                 str(f["used_output"])], "not empty"),
    ("rescore-no-samples", lambda f, t: ["rescore", str(f["broken_results"].parent / "no-samples"), "--scorer",
                                         "paper", "--output", str(t / "new")], "does not exist"),
    ("rescore-bad-batch", lambda f, t: ["rescore", str(f["run"]), "--scorer", "paper", "--output", str(t / "new"),
                                        "--batch-size", "0"], "1 or more"),
    ("agreement-missing-run", lambda f, t: ["agreement", str(f["missing"]), str(f["run"])], "does not exist"),
    ("agreement-latin1", lambda f, t: ["agreement", str(f["latin1_samples"]), str(f["run"])], "not UTF-8"),
    ("agreement-json-extension", lambda f, t: ["agreement", str(f["run"]), str(f["run"]), "--json", str(t / "a.txt")],
     "unknown file type"),
    ("survey-no-network", lambda f, t: ["survey", "org/model", "--output", str(t / "s")], "cannot reach the Hub"),
    ("survey-local-folder", lambda f, t: ["survey", str(f["run"]), "--output", str(t / "s")], "give a Hub id"),
    ("survey-top-zero", lambda f, t: ["survey", "org/model", "--output", str(t / "s"), "--top", "0"], "1 or more"),
    ("survey-min-downloads-negative", lambda f, t: ["survey", "org/model", "--output", str(t / "s"),
                                                    "--min-downloads", "-5"], "0 or more"),
    ("survey-output-is-a-file", lambda f, t: ["survey", "org/model", "--output", str(f["study"])], "is a file"),
    ("survey-metadata-not-json", lambda f, t: ["survey", "org/model", "--output", str(t / "s"), "--metadata", "{"],
     "must be JSON"),
    ("survey-timeout-zero", lambda f, t: ["survey", "org/model", "--output", str(t / "s"), "--timeout-min", "0"],
     "above 0"),
    ("rescore-folder-without-runs", lambda f, t: ["rescore", str(f["no_runs"]), "--scorer", "paper", "--output",
                                                  str(t / "new")], "holds no harness runs"),
    ("rescore-folder-with-a-run-without-samples", lambda f, t: ["rescore", str(f["mixed"]), "--scorer", "paper",
                                                                "--output", str(t / "new")],
     "made without --log_samples"),
    ("agreement-folder-without-runs", lambda f, t: ["agreement", str(f["no_runs"]), str(f["run"])],
     "holds no harness runs"),
    ("agreement-the-same-run-twice", lambda f, t: ["agreement", str(f["run"]), str(f["run"])],
     "both runs are"),
    ("survey-id-with-two-slashes", lambda f, t: ["survey", "a/b/c", "--output", str(t / "s")],
     "a Hub id is NAME or ORG/NAME"),
    ("check-scorers-unknown", lambda f, t: ["check", str(f["run"]), "--scorers", "toxicbert"], "unknown scorer"),
    ("check-scorers-twice", lambda f, t: ["check", str(f["run"]), "--scorers", "paper,paper"], "is given twice"),
    ("check-rope-reversed", lambda f, t: ["check", str(f["run"]), "--rope", "0.1", "-0.1"], "LOW below HIGH"),
    ("check-batch-size-word", lambda f, t: ["check", str(f["run"]), "--batch-size", "many"], "auto or auto:N"),
    ("study-analysis-scorers-twice", lambda f, t: ["study", "plan", _study(f, t, "best: false",
                                                                           "scorers: [paper, paper]")],
     "'paper' is given twice"),
    ("compare-subset-unknown", lambda f, t: ["compare", str(f["run"]), str(f["run"]), "--subsets", "ptp_xx"],
     "unknown subset 'ptp_xx'"),
    ("check-languages-unknown", lambda f, t: ["check", str(f["run"]), "--languages", "de,xx"],
     "no PolygloToxicityPrompts prompts in language 'xx'; the 17 are: ar (Arabic), cs (Czech)"),
    ("check-languages-empty", lambda f, t: ["check", str(f["run"]), "--languages", ","], "at least one language"),
    ("check-scorers-label-of-unknown", lambda f, t: ["check", str(f["run"]), "--scorers", "paper,toxicbert:toxic"],
     "unknown scorer 'toxicbert:toxic'"),
    ("study-languages-unknown", lambda f, t: ["study", "plan", _study(f, t, "name: s", "name: s\nlanguages: [de, tlh]")],
     "no PolygloToxicityPrompts prompts in language 'tlh'"),
    ("study-languages-not-a-list", lambda f, t: ["study", "plan", _study(f, t, "name: s", "name: s\nlanguages: {de: 1}")],
     "languages must be a list"),
    ("unknown-subcommand", lambda f, t: ["frobnicate"], "invalid choice"),
    # GGUF files that are not what a model published as GGUF must be
    ("check-gguf-truncated", lambda f, t: ["check", str(f["gguf_truncated"]), "--against", str(f["run"])],
     "unreadable GGUF file"),
    ("check-gguf-not-gguf", lambda f, t: ["check", str(f["gguf_not_gguf"]), "--against", str(f["run"])],
     "not a GGUF file"),
    ("check-gguf-encoder", lambda f, t: ["check", str(f["gguf_encoder"]), "--against", str(f["run"])],
     "a bert model, not a causal language model"),
    ("check-gguf-unknown-architecture", lambda f, t: ["check", str(f["gguf_unknown"]), "--against", str(f["run"])],
     "transformers cannot load GGUF architecture 'rwkv6'"),
    ("check-gguf-missing", lambda f, t: ["check", str(t / "gone.gguf"), "--against", str(f["run"])],
     "no such GGUF file"),
    ("study-gguf-truncated", lambda f, t: ["study", "plan", _study(f, t, "{role: base, model: " + str(f["run"]),
                                                                  "{role: base, model: " + str(f["gguf_truncated"]))],
     "unreadable GGUF file"),
]


@pytest.mark.parametrize(("argv", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(argv, fragment, files, tmp_path, harness_run, capsys):
    arguments = argv(files, tmp_path)
    before = _snapshot(tmp_path, harness_run)
    code, out, err = _run(arguments, capsys)
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and err.startswith("toxft"), err
    assert "Traceback" not in err and fragment in err, err
    assert _snapshot(tmp_path, harness_run) == before
