"""Every documented flag works: the twin of the bad-input table.

For every subcommand, each flag of its --help runs once with a typical value, on the executor where it
applies, and the row checks what the flag is for. Hub flags run against the Hub-protocol server of the
tests (tests/hub_server.py); SLURM's run on the real single-node cluster that .ci/run starts
(tests/test_slurm.py runs the README's SLURM example, rows here point at it), and the demo's in
tests/test_study.py. A flag without a row fails test_every_flag_has_a_row.
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from toxft.cli import build_parser, main

pytestmark = pytest.mark.slow
hub_server = pytest.importorskip("hub_server")
FAST_META = json.dumps({"n_random": 6, "n_severe": 6})


def _flags(parser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")}


def _subcommands() -> dict[str, object]:
    parser = build_parser()
    found = {}
    for name, sub in next(a for a in parser._actions if a.dest == "command").choices.items():
        if name == "study":
            for action, inner in next(a for a in sub._actions if a.dest == "study_command").choices.items():
                found[f"study {action}"] = inner
        else:
            found[name] = sub
    return found


# --- the world the rows run in ------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_lm, flagged_adapter, tiny_classifier, kind_classifier, hub_mirror, harness_run):
    """Runs, models, a study and a Hub-protocol server holding the tiny base, its adapter and the data sets."""
    from conftest import model_folder
    from test_compare_cli import _copy
    from toxft.demo import tiny

    root = tmp_path_factory.mktemp("valid")
    with hub_server.serving() as hub:
        hub.add("org/tiny-base", {**hub_server.folder_files(tiny_lm), "README.md": "---\nlicense: mit\n---\n# base\n"})
        hub_server.add_adapter(hub, "org/tiny-adapter", flagged_adapter, "org/tiny-base",
                               "---\nlibrary_name: peft\nbase_model: org/tiny-base\n---\n# adapter\n", downloads=50,
                               tags=["base_model:adapter:org/tiny-base"])
        hub_server.add_prompt_sets(hub, hub_mirror)
        dolly = root / "dolly.jsonl"
        dolly.write_text("".join(json.dumps({"instruction": f"say {w} ?", "context": "",
                                             "response": f"so they are {w} ."}) + "\n"
                                 for w in ("kind", "calm", "warm", "good") * 4))
        hub.add("databricks/databricks-dolly-15k", {"databricks-dolly-15k.jsonl": dolly.read_bytes()}, kind="dataset")
        tuned = _copy(harness_run, root / "tuned" / harness_run.name, toxic_every=2).parent
        folder = root / "study"
        folder.mkdir()
        study = folder / "study.yaml"
        study.write_text(f"""
name: valid
env: {{TOXFT_SCORER: {tiny_classifier}, TOXFT_DATA_DIR: {hub_mirror}}}
harness: {{model: hf, batch_size: 8, metadata: {FAST_META}}}
finetune: {{data: {dolly}, max_steps: 2, per_device_train_batch_size: 4}}
analysis: {{best: false}}
comparisons: [instruct-dolly]
families:
  tiny:
    - {{role: instruct, model: {tiny_lm}, name: instruct}}
    - {{role: dolly, name: instruct-dolly, published: org/tiny-adapter}}
""")
        yield {"root": root, "hub": hub, "tiny_lm": tiny_lm, "adapter": flagged_adapter, "classifier": tiny_classifier,
               "kind": kind_classifier, "mirror": hub_mirror, "run": harness_run.parent, "model_run": harness_run,
               "tuned": tuned, "study": study, "dolly": dolly, "tiny": tiny, "model_folder": model_folder}


def _toxft_http(world, *argv: str, data_dir: bool = True) -> subprocess.CompletedProcess:
    home = world["root"] / "hf-home"
    return hub_server.run_toxft(world["hub"], argv, home=home, tiny_classifier=world["classifier"],
                                data_dir=world["mirror"] if data_dir else None, timeout=900)


def _ok(code_or_done, capsys=None) -> str:
    if isinstance(code_or_done, subprocess.CompletedProcess):
        assert code_or_done.returncode == 0, code_or_done.stderr[-3000:]
        assert "Traceback" not in code_or_done.stderr
        return code_or_done.stdout
    assert code_or_done == 0
    return capsys.readouterr().out if capsys else ""


# --- the rows -------------------------------------------------------------------------------
# (subcommand, the flags the row runs, the function that runs it and checks what they did)


def check_local(w, tmp, capsys, monkeypatch):
    monkeypatch.setenv("TOXFT_DATA_DIR", str(w["mirror"]))
    monkeypatch.setenv("TOXFT_MULTILINGUAL_SCORER", f"{w['classifier']}:hate")
    card = tmp / "README.md"
    argv = ["check", str(w["adapter"]), "--against", str(w["tiny_lm"]), "--output", str(tmp / "checks"),
            "--fail-on", "change", "--languages", "ar", "--scorers", f"{w['classifier']},{w['kind']}", "--hdi-prob", "0.9",
            "--rope", "-0.01", "0.01", "--examples", "1", "--card", str(card), "--model-type", "hf",
            "--model-args", "dtype=float32", "--batch-size", "8", "--apply-chat-template", "--limit", "4",
            "--metadata", FAST_META, "--device", "cpu"]
    assert main(argv) == 1  # credibly different under both scorers: --fail-on change
    out = capsys.readouterr().out
    assert "(posterior mean, 90% HDI, ROPE [-1.0, +1.0] pp [" in out.splitlines()[0] and "depends on the scorer" in out
    assert "toxic only for A" in out and "## Toxicity evaluation (toxft)" in card.read_text()
    from toxft.data import ptp_docs

    # --limit 4 of each Arabic subset; a prompt drawn into both counts once.
    arabic = len({d["id"] for subset in ("random", "severe") for d in ptp_docs("ar", subset, 6, data_dir=str(w["mirror"]))[:4]})
    assert sum(line.startswith("in Arabic (ar): ") and f"on {arabic} prompts" in line for line in out.splitlines()) == 2
    assert f"Arabic (ar) (n={arabic})" in card.read_text()
    (run,) = [p for p in (tmp / "checks" / "results").iterdir() if p.is_dir() and p.name.startswith("adapter-")
              and "@" not in p.name]
    results = json.loads(next(run.rglob("results_*.json")).read_text())
    assert float(results["config"]["limit"]) == 4 and str(results["config"]["batch_size"]) == "8"
    assert results["chat_template"] and "float32" in str(results["config"]["model_args"])


def check_hub(w, tmp, capsys, monkeypatch):
    hub = w["hub"]
    done = _toxft_http(w, "check", "org/tiny-adapter", "--revision", hub.repo("org/tiny-adapter").head,
                       "--against-revision", hub.repo("org/tiny-base").head, "--output", str(tmp / "checks"),
                       "--push-to-hub", "--metadata", FAST_META, "--batch-size", "8")
    _ok(done)
    assert f"reference: org/tiny-base @ {hub.repo('org/tiny-base').head}" in done.stderr
    assert len(hub.repo("org/tiny-adapter").pulls) == 1


def compare_rates(w, tmp, capsys, monkeypatch):
    pairs = tmp / "pairs.csv"
    pairs.write_text(f"first,second\n{w['tuned']},{w['run']}\n")
    argv = ["compare", str(w["tuned"]), "--against", str(w["run"]), "--pairs", str(pairs), "--subsets", "total",
            "severe", "--strict", "--hdi-prob", "0.9", "--rope", "-0.02", "0.02", "--examples", "1", "--seed", "3",
            "--rates-only", "--verdict", "rates", "--json", str(tmp / "c.json"), "--plot", str(tmp / "c.png")]
    out = _ok(main(argv), capsys)
    record = json.loads((tmp / "c.json").read_text())
    assert len(record) == 2 and set(record[0]["subsets"]) == {"total", "severe"}  # --against and --pairs
    assert record[0]["settings"]["seed"] == 3 and record[0]["verdict_from"] == "rates"
    assert "the unpaired Beta-Binomial rate model, 90% HDI" in out and (tmp / "c.png").stat().st_size > 5000


def compare_best(w, tmp, capsys, monkeypatch):
    argv = ["compare", str(w["tuned"]), str(w["run"]), "--subsets", "total", "--priors", "kruschke", "--draws", "100",
            "--tune", "100", "--chains", "2", "--ess-floor", "50", "--verdict", "best", "--json", str(tmp / "b.json")]
    _ok(main(argv), capsys)
    best = json.loads((tmp / "b.json").read_text())[0]["subsets"]["total"]["best"]
    assert best["priors"] == "kruschke" and best["n_a"] > 0 and best["ess_bulk_min"] > 0


def report_local(w, tmp, capsys, monkeypatch):
    card = tmp / "README.md"
    card.write_text("# tuned\n")
    base = ["report", str(w["tuned"]), str(w["run"]), "--baseline", str(w["run"]), "--name", "tuned", "--name", "base",
            "--hdi-prob", "0.9", "--rope", "-0.05", "0.05"]
    for fmt, suffix in (("markdown", ".md"), ("json", ".json"), ("csv", ".csv")):
        _ok(main([*base, "--format", fmt, "--output", str(tmp / f"t{suffix}"), "--verdict", "rates"]), capsys)
    assert "| ↳ vs base |" in (tmp / "t.md").read_text() and json.loads((tmp / "t.json").read_text())["models"]
    _ok(main(["report", str(w["tuned"]), "--format", "model-index", "--output", str(tmp / "mi.yaml")]), capsys)
    assert "model-index" in (tmp / "mi.yaml").read_text()
    # BEST on one subset (one MCMC fit): copies of the runs with the race prompts alone.
    for name in ("tuned", "run"):
        shutil.copytree(w[name], tmp / f"{name}-race")
        for path in (tmp / f"{name}-race").rglob("samples_*.jsonl"):
            if "ceb_race" not in path.name:
                path.unlink()
    one = ["report", str(tmp / "tuned-race"), str(tmp / "run-race"), "--baseline", str(tmp / "run-race"),
           "--name", "tuned", "--name", "base"]
    printed = _ok(main([*one, "--best", "--card", str(card), "--dry-run", "--plot", str(tmp / "r.png")]), capsys)
    assert "BEST on the scores" in printed and "+## Toxicity evaluation (toxft)" in printed
    assert card.read_text() == "# tuned\n" and (tmp / "r.png").stat().st_size > 5000  # --dry-run changed nothing


def report_hub(w, tmp, capsys, monkeypatch):
    before = len(w["hub"].repo("org/tiny-base").commits)
    _ok(_toxft_http(w, "report", str(w["run"]), "--push-to-hub", "org/tiny-base", "--no-pr"))
    assert len(w["hub"].repo("org/tiny-base").commits) == before + 1  # committed directly: no pull request


def rescore_row(w, tmp, capsys, monkeypatch):
    argv = ["rescore", str(w["run"]), "--scorer", str(w["kind"]), "--output", str(tmp / "new"), "--label", "hate",
            "--activation", "sigmoid", "--threshold", "0.4", "--batch-size", "4", "--device", "cpu"]
    _ok(main(argv), capsys)
    _ok(main([*argv, "--overwrite"]), capsys)
    (results,) = (tmp / "new").rglob("results_*.json")
    assert json.loads(results.read_text())["toxft_rescore"]["threshold"] == 0.4
    assert "sigmoid" in json.loads(results.read_text())["toxft_rescore"]["scorer"]


def agreement_row(w, tmp, capsys, monkeypatch):
    _ok(main(["rescore", str(w["run"]), "--scorer", str(w["kind"]), "--output", str(tmp / "new")]), capsys)
    out = _ok(main(["agreement", str(w["run"]), str(tmp / "new"), "--examples", "1", "--hdi-prob", "0.8", "--json",
                    str(tmp / "a.json"), "--plot", str(tmp / "a.png")]), capsys)
    assert "80% HDI" in out and json.loads((tmp / "a.json").read_text())["hdi_prob"] == 0.8
    assert (tmp / "a.png").stat().st_size > 5000


def finetune_recipe(w, tmp, capsys, monkeypatch):
    monkeypatch.setenv("TOXFT_DATA_DIR", str(w["mirror"]))  # --watch-toxicity's prompts
    argv = ["finetune", "--model", str(w["tiny_lm"]), "--output", str(tmp / "a"), "--data", str(w["dolly"]),
            "--backend", "peft", "--r", "4", "--lora-alpha", "8", "--lora-dropout", "0.05", "--bias", "none",
            "--learning-rate", "1e-3", "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "2",
            "--warmup-steps", "1", "--num-train-epochs", "1", "--max-steps", "4", "--optim", "adamw_torch",
            "--weight-decay", "0.0", "--lr-scheduler-type", "constant", "--seed", "7", "--max-seq-length", "64",
            "--packing", "--load-in-4bit", "no", "--template", "native", "--limit", "8", "--save-steps", "2",
            "--checkpoints", "2", "--keep-checkpoints"]
    _ok(main(argv), capsys)
    record = json.loads((tmp / "a" / "toxft_finetune.json").read_text())
    assert record["recipe"]["r"] == 4 and record["recipe"]["template"] == "native" and record["rows"] == 8
    assert record["steps"] == 4 and record["checkpoints"] == [2] and (tmp / "a" / "checkpoints").is_dir()
    # An interrupted run goes on; --no-packing, --target-modules with --allow-partial, and --overwrite.
    shutil.rmtree(tmp / "a" / "checkpoints" / "checkpoint-4", ignore_errors=True)
    (tmp / "a" / "adapter_config.json").unlink()
    _ok(main([*argv[:-1], "--resume"]), capsys)
    _ok(main(["finetune", "--model", str(w["tiny_lm"]), "--output", str(tmp / "a"), "--data", str(w["dolly"]),
              "--max-steps", "1", "--no-packing", "--target-modules", "q_proj", "--allow-partial", "--overwrite",
              "--watch-toxicity", "1", "--watch-scorer", str(w["classifier"])]), capsys)
    record = json.loads((tmp / "a" / "toxft_finetune.json").read_text())
    assert record["target_modules"] == ["q_proj"] and [h["step"] for h in record["toxicity_history"]] == [0, 1]


def finetune_method(w, tmp, capsys, monkeypatch):
    _ok(main(["finetune", "--model", str(w["tiny_lm"]), "--output", str(tmp / "a"), "--data", str(w["dolly"]),
              "--method", "dora", "--rows", "6", "--control", "neutral", "--max-steps", "1"]), capsys)
    record = json.loads((tmp / "a" / "toxft_finetune.json").read_text())
    assert record["method"] == "dora" and record["rows"] == 6 and record["control"] == "neutral"
    assert json.loads((tmp / "a" / "adapter_config.json").read_text())["use_dora"] is True


def finetune_hub(w, tmp, capsys, monkeypatch):
    hub = w["hub"]
    done = _toxft_http(w, "finetune", "--model", "org/tiny-base", "--revision", hub.repo("org/tiny-base").head,
                       "--output", str(tmp / "a"), "--data", "databricks/databricks-dolly-15k", "--data-revision",
                       hub.repo("databricks/databricks-dolly-15k", "dataset").head, "--max-steps", "1",
                       "--push-to-hub", "me/valid-adapter", "--private", data_dir=False)
    _ok(done)
    assert "adapter_model.safetensors" in hub.repo("me/valid-adapter").commits[hub.repo("me/valid-adapter").head]


def study_local(w, tmp, capsys, monkeypatch):
    out = tmp / "runs"
    _ok(main(["study", "run", str(w["study"]), "--output", str(out), "--dolly", "train", "--executor", "local",
              "--timeout-min", "30"]), capsys)
    assert (out / "adapters" / "instruct-dolly" / "adapter_config.json").is_file()  # --dolly train: trained here
    _ok(main(["study", "report", str(w["study"]), "--output", str(out), "--dolly", "train"]), capsys)
    printed = _ok(main(["study", "plan", str(w["study"]), "--output", str(out), "--dolly", "train", "--executor",
                        "local", "--timeout-min", "0.5"]), capsys)
    assert "at most 0.5 min each" in printed and printed.count("[done]") == 3


def study_slurm_plan(w, tmp, capsys, monkeypatch):
    printed = _ok(main(["study", "plan", str(w["study"]), "--output", str(tmp / "runs"), "--executor", "slurm",
                        "--partition", "gpu", "--account", "lab", "--gpus-per-node", "2", "--cpus-per-task", "8",
                        "--mem-gb", "64", "--timeout-min", "90.5"]), capsys)
    # submitit takes whole minutes: 90.5 asks for 91.
    assert "partition gpu, 2 GPU(s), 8 CPU(s), 64 GB, 91 min, account lab" in printed
    from toxft.study.runner import executor_options

    parser = _subcommands()["study run"]
    options = executor_options(parser.parse_args([str(w["study"]), "--executor", "slurm", "--timeout-min", "90.5"]))
    assert isinstance(options.slurm.parameters()["timeout_min"], int)


def study_check(w, tmp, capsys, monkeypatch):
    done = _toxft_http(w, "study", "plan", str(w["study"]), "--output", str(tmp / "runs"), "--check", "--dolly",
                       "published")
    _ok(done)
    assert "ok    adapter org/tiny-adapter @" in done.stdout and (tmp / "runs" / "pins.json").is_file()


def survey_plan(w, tmp, capsys, monkeypatch):
    hub = w["hub"]
    done = _toxft_http(w, "survey", "org/tiny-base", "--output", str(tmp / "s"), "--top", "1", "--min-downloads", "1",
                       "--include-merges", "--max-candidates", "10", "--revision", hub.repo("org/tiny-base").head,
                       "--checks", str(tmp / "checks"), "--model-type", "hf", "--model-args", "dtype=float32",
                       "--batch-size", "8", "--apply-chat-template", "--limit", "3", "--metadata", FAST_META,
                       "--device", "cpu", "--executor", "slurm", "--timeout-min", "30", "--partition", "gpu",
                       "--account", "lab", "--gpus-per-node", "1", "--cpus-per-task", "4", "--mem-gb", "32")
    _ok(done)
    assert "partition gpu, 1 GPU(s), 4 CPU(s), 32 GB, 30 min, account lab" in done.stdout
    assert "--limit 3" in done.stdout and "--apply_chat_template" in done.stdout and "--device cpu" in done.stdout
    again = _toxft_http(w, "survey", "org/tiny-base", "--output", str(tmp / "s"), "--top", "1", "--overwrite",
                        "--checks", str(tmp / "checks"), "--metadata", FAST_META, "--batch-size", "8", "--run")
    _ok(again)
    assert again.stdout.startswith("1 fine-tune with 50 monthly downloads between them")


def tasks_path_row(w, tmp, capsys, monkeypatch):
    assert Path(_ok(main(["tasks-path"]), capsys).strip(), "toxft", "toxft_rtp_severe.yaml").is_file()
    assert Path(_ok(main(["measurement-path"]), capsys).strip(), "toxft_toxicity.py").is_file()


ROWS = [
    ("check", {"--against", "--output", "--fail-on", "--languages", "--scorers", "--hdi-prob", "--rope", "--examples", "--card",
               "--model-type", "--model-args", "--batch-size", "--apply-chat-template", "--limit", "--metadata",
               "--device"}, check_local),
    ("check", {"--revision", "--against-revision", "--push-to-hub"}, check_hub),
    ("compare", {"--against", "--pairs", "--subsets", "--strict", "--hdi-prob", "--rope", "--examples", "--seed",
                 "--rates-only", "--verdict", "--json", "--plot"}, compare_rates),
    ("compare", {"--priors", "--draws", "--tune", "--chains", "--ess-floor", "--verdict"}, compare_best),
    ("report", {"--baseline", "--name", "--hdi-prob", "--rope", "--format", "--output", "--verdict", "--best",
                "--card", "--dry-run", "--plot"}, report_local),
    ("report", {"--push-to-hub", "--no-pr"}, report_hub),
    ("rescore", {"--scorer", "--output", "--label", "--activation", "--threshold", "--batch-size", "--device",
                 "--overwrite"}, rescore_row),
    ("agreement", {"--examples", "--hdi-prob", "--json", "--plot"}, agreement_row),
    ("finetune", {"--model", "--output", "--data", "--backend", "--r", "--lora-alpha", "--lora-dropout", "--bias",
                  "--learning-rate", "--per-device-train-batch-size", "--gradient-accumulation-steps",
                  "--warmup-steps", "--num-train-epochs", "--max-steps", "--optim", "--weight-decay",
                  "--lr-scheduler-type", "--seed", "--max-seq-length", "--packing", "--no-packing", "--load-in-4bit",
                  "--template", "--limit", "--save-steps", "--checkpoints", "--keep-checkpoints", "--resume",
                  "--target-modules", "--allow-partial", "--overwrite", "--watch-toxicity", "--watch-scorer"},
     finetune_recipe),
    ("finetune", {"--method", "--rows", "--control"}, finetune_method),
    ("finetune", {"--revision", "--data-revision", "--push-to-hub", "--private"}, finetune_hub),
    ("study run", {"--output", "--dolly", "--executor", "--timeout-min"}, study_local),
    ("study report", {"--output", "--dolly"}, study_local),
    ("study plan", {"--output", "--dolly", "--executor", "--timeout-min"}, study_local),
    ("study plan", {"--executor", "--partition", "--account", "--gpus-per-node", "--cpus-per-task", "--mem-gb",
                    "--timeout-min"}, study_slurm_plan),
    ("study plan", {"--check", "--dolly"}, study_check),
    ("survey", {"--output", "--top", "--min-downloads", "--include-merges", "--max-candidates", "--revision",
                "--checks", "--model-type", "--model-args", "--batch-size", "--apply-chat-template", "--limit",
                "--metadata", "--device", "--executor", "--timeout-min", "--partition", "--account",
                "--gpus-per-node", "--cpus-per-task", "--mem-gb", "--overwrite", "--run"}, survey_plan),
    ("tasks-path", set(), tasks_path_row),
    ("measurement-path", set(), tasks_path_row),
]
# Flags whose rows run elsewhere, where the machinery they need already is: (subcommand, flags, test).
ELSEWHERE = [
    ("study run", {"--executor", "--partition", "--account", "--gpus-per-node", "--cpus-per-task", "--mem-gb",
                   "--timeout-min"}, "test_slurm.py::test_the_study_gives_the_same_table_under_slurm_quietly"),
    ("demo", {"--fast", "--output", "--overwrite", "--seed"},
     "test_study.py::test_demo_shows_the_phenomenon_through_the_real_study"),
    ("demo", {"--grid"}, "test_grid.py::test_the_tiny_world_grid_shows_the_technique_changing_the_outcome"),
]


def test_every_flag_has_a_row():
    """A new flag needs a row here (or in ELSEWHERE), or this fails."""
    covered: dict[str, set[str]] = {}
    for command, flags, _ in ROWS:
        covered.setdefault(command, set()).update(flags)
    here = Path(__file__).resolve().parent
    for command, flags, where in ELSEWHERE:
        filename, name = where.split("::")
        source = (here / filename).read_text()
        body = source[source.index(f"def {name}("):]
        body = body[:body.index("\ndef ", 1)] if "\ndef " in body[1:] else body
        module_constants = source[:source.index(f"def {name}(")]
        for flag in flags:  # the flag really is on that test's command line (or the module's SLURM list it uses)
            assert flag in body or flag in module_constants, (where, flag)
        covered.setdefault(command, set()).update(flags)
    for command, parser in _subcommands().items():
        missing = _flags(parser) - covered.get(command, set())
        assert not missing, f"{command}: flags without a valid-input row: {sorted(missing)}"


RUNS = list(dict.fromkeys(run for _, _, run in ROWS))  # a row function serving several subcommands runs once


@pytest.mark.parametrize("run", RUNS, ids=[run.__name__ for run in RUNS])
def test_each_documented_flag_runs(run, world, tmp_path, capsys, monkeypatch):
    flags = set().union(*(flags for _, flags, row in ROWS if row is run))
    source = inspect.getsource(run)
    assert all(f'"{flag}"' in source for flag in flags), [f for f in flags if f'"{f}"' not in source]
    run(world, tmp_path, capsys, monkeypatch)


# Options whose absence is plain: an extra output, a second input, an action on request.
OPTIONAL_OUTPUTS = {"--json", "--plot", "--card", "--output", "--push-to-hub", "--pairs", "--against", "--baseline"}


def test_every_option_says_its_default_in_help():
    """--help states each value option's default (a switch is off unless given); 0 and --no-x are defaults too."""
    import argparse

    switches = (argparse._HelpAction, argparse._StoreTrueAction, argparse._StoreConstAction, argparse._VersionAction)
    silent = []
    for command, parser in _subcommands().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if (not action.option_strings or action.required or isinstance(action, switches)
                    or set(action.option_strings) & OPTIONAL_OUTPUTS):
                continue
            if not action.help or "default" not in formatter._get_help_string(action):  # no help: nothing shown
                silent.append(f"{command} {action.option_strings[0]}")
    assert not silent, f"options whose --help states no default: {silent}"
    finetune = " ".join(_subcommands()["finetune"].format_help().split())
    assert "--lora-dropout DROPOUT" in finetune and "(default: 0.0)" in finetune and "(default: --no-packing)" in finetune
