"""The paper's study: all 28 models, its published adapters, the Hub check and the reproduction section."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from toxft import paper
from toxft.cli import main
from toxft.study.config import load_study
from toxft.study.plan import plan

REPO = Path(__file__).resolve().parents[1]
APPENDIX_A_IDS = [
    "TheTravellingEngineer/llama2-7b-chat-hf-guanaco", "georgesung/llama2_7b_chat_uncensored",
    "SongTonyLi/gemma-2b-it-SFT-D1_chosen-orca", "rootsec1/gemma-2B-it-customer-support",
    "AXCXEPT/EZO-Common-T2-2B-gemma-2-it", "MoxoffSrL/Moxoff-Phi3Mini-ORPO",
    "Essacheez/Phi-3-mini-4k-instruct-finetune-classification-10k-alpaca-style", "anakin87/Phi-3.5-mini-ITA",
    "AXCXEPT/Borea-Phi-3.5-mini-Instruct-Jp",
]


def test_the_paper_study_has_all_28_models_named_as_in_its_tables():
    study = load_study(REPO / "studies" / "paper.yaml")
    names = [e.name for e in study.models()]
    assert len(names) == 28 and set(names) == set(paper.rates())
    models = {e.model for e in study.models()}
    assert set(APPENDIX_A_IDS) <= models
    roles = [e.role for e in study.models()]
    assert roles.count("community") == 12 and roles.count("dolly") == 6
    # By default the paper's own adapters, on the instruct model each was trained from: no fine-tune step.
    steps = plan(study, "/tmp/unused")
    assert [s.kind for s in steps].count("finetune") == 0
    dolly = {s.entry.name: s.shell() for s in steps if s.entry.role == "dolly"}
    assert "pretrained=google/gemma-2-2b-it,peft=mlkro/gemma-2-2b-it-bnb-4bit-dolly-toxicity-study" in dolly[
        "Gemma-2-2B-IT-Dolly"]
    assert all("load_in_4bit" not in command for command in dolly.values())
    retrain = plan(load_study(REPO / "studies" / "paper.yaml", dolly="train"), "/tmp/unused")
    assert [s.kind for s in retrain].count("finetune") == 6


def test_the_papers_totals_follow_from_its_columns():
    """An independent check of the committed numbers: Total is the prompt-weighted mean of the columns."""
    for model, row in paper.rates().items():
        pooled = sum(row[column] * n for column, n in paper.SIZES.items() if column != "total") / paper.SIZES["total"]
        assert row["total"] == pytest.approx(pooled, abs=0.06), model
    stated = paper.verdicts()
    assert len(stated) == 14 and {v.verdict for v in stated} <= {"credibly lower", "credibly higher",
                                                                "no credible difference"}
    assert all(v.first in paper.rates() and v.second in paper.rates() for v in stated)


# --- the Hub check, against local files in the Hub's layout ------------------------------------


def _hub_repo(root: Path, repo_id: str, *, base_model=None, adapter_base=None, gated=None) -> None:
    folder = root / repo_id
    folder.mkdir(parents=True)
    card = "---\n" + (f"base_model: {base_model}\n" if base_model else "license: mit\n") + "---\n# card\n"
    (folder / "README.md").write_text(card)
    if adapter_base:
        (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": adapter_base}))
    if gated:
        (folder / "GATED").write_text(gated)  # "ok": gated, accepted; "denied": gated, not accepted


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """huggingface_hub's model_info, auth_check and hf_hub_download, answered from local folders."""
    import hashlib
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub import ModelCard, errors
    from huggingface_hub.hf_api import ModelInfo

    root = tmp_path / "hub"

    def response(code: int):
        # The errors read only these two attributes; which HTTP library the Hub client uses varies by version.
        return SimpleNamespace(status_code=code, headers={}, request=None)

    def model_info(self, repo_id, revision=None, **kwargs):
        folder = root / repo_id
        if not folder.is_dir():
            raise errors.RepositoryNotFoundError(f"{repo_id} not found", response=response(404))
        card = ModelCard.load(folder / "README.md").data.to_dict()
        gated = (folder / "GATED").is_file()
        sha = hashlib.sha1(repo_id.encode()).hexdigest()
        return ModelInfo(id=repo_id, sha=sha, gated="auto" if gated else False, cardData=card, private=False,
                         downloads=0, likes=0, tags=[], siblings=[])

    def auth_check(repo_id, **kwargs):
        marker = root / repo_id / "GATED"
        if marker.is_file() and marker.read_text() == "denied":
            raise errors.GatedRepoError(f"{repo_id} is gated", response=response(403))

    def hf_hub_download(repo_id, filename, revision=None, **kwargs):
        path = root / repo_id / filename
        if not path.is_file():
            raise errors.EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "auth_check", auth_check)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    _hub_repo(root, "lab/base")
    _hub_repo(root, "lab/chat", base_model="lab/base", gated="ok")
    _hub_repo(root, "fan/chat-tuned", base_model="lab/chat")
    _hub_repo(root, "fan/from-base", base_model="lab/base")
    _hub_repo(root, "fan/no-card")
    _hub_repo(root, "lab/chat-adapter", adapter_base="unsloth/chat-bnb-4bit")
    _hub_repo(root, "lab/locked", gated="denied")
    return root


def _study(folder: Path, extra: str = "") -> Path:
    path = folder / "study.yaml"
    path.write_text(f"""
name: hub check
dolly_adapters: published
families:
  lab:
    - {{role: base, model: lab/base}}
    - {{role: instruct, model: lab/chat}}
    - {{role: dolly, name: chat-dolly, published: lab/chat-adapter}}
    - {{role: community, model: fan/chat-tuned}}
    - {{role: community, model: fan/from-base}}
    - {{role: community, model: fan/no-card}}
{extra}""")
    return path


def test_check_resolves_pins_and_warns_about_lineage(fake_hub, tmp_path, capsys):
    study = _study(tmp_path)
    output = tmp_path / "runs"
    assert main(["study", "plan", str(study), "--output", str(output), "--check"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert sum(line.startswith("ok ") for line in lines) == 6
    assert any(line.startswith("ok    model   lab/chat @ ") and "(gated, accessible)" in line for line in lines)
    warnings = [line for line in lines if line.startswith("warn  lineage")]
    assert len(warnings) == 2
    assert any("from-base: declares base lab/base, not lab/chat" in w for w in warnings)
    assert any("no-card: no base_model" in w for w in warnings)
    assert not any("chat-dolly" in w or "chat-tuned" in w for w in warnings)  # 4-bit copy of lab/chat counts
    pins = json.loads((output / "pins.json").read_text())
    assert set(pins["models"]) == {"lab/base", "lab/chat", "fan/chat-tuned", "fan/from-base", "fan/no-card"}
    assert set(pins["adapters"]) == {"lab/chat-adapter"}
    # The plan now evaluates the pinned commits; a pinned Hub adapter is fetched at its own commit, so the
    # base under it is pinned too (tests/test_hub_http.py checks the downloads over HTTP).
    assert main(["study", "plan", str(study), "--output", str(output)]) == 0
    planned = capsys.readouterr().out.splitlines()
    commands = [line for line in planned if line.startswith("lm_eval")]
    base_command = next(c for c in commands if "pretrained=lab/base," in c)
    assert f"revision={pins['models']['lab/base']}" in base_command
    dolly_command = next(c for c in commands if "peft=lab/chat-adapter" in c)
    assert f"revision={pins['models']['lab/chat']}" in dolly_command
    assert (f"# (the adapter lab/chat-adapter is fetched at {pins['adapters']['lab/chat-adapter']} and loaded from "
            "that copy)") in planned
    # Retraining instead: the Dolly model has no adapter to check yet, and no lineage warning either.
    assert main(["study", "plan", str(study), "--output", str(tmp_path / "retrain"), "--check", "--dolly", "train"]) == 0
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if line.startswith("warn")]) == 2 and "chat-adapter" not in out


def test_quantised_copies_count_as_their_model():
    from toxft.hub import descends_from

    assert descends_from(["unsloth/gemma-2-2b-it-bnb-4bit"], "google/gemma-2-2b-it")
    assert descends_from(["unsloth/gemma-2-2b-it-unsloth-bnb-4bit"], "google/gemma-2-2b-it")
    assert not descends_from(["unsloth/gemma-2-2b-bnb-4bit"], "google/gemma-2-2b-it")


def test_check_failures_are_one_line_each_and_exit_1(fake_hub, tmp_path, capsys):
    study = _study(tmp_path, "    - {role: community, model: lab/locked}\n    - {role: community, model: nobody/missing}\n"
                             "    - {role: community, model: ./not-here}\n")
    assert main(["study", "plan", str(study), "--output", str(tmp_path / "runs"), "--check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  model   lab/locked: gated and not accessible with your token" in out
    assert "FAIL  model   nobody/missing: not found on the Hub" in out
    assert "no such folder" in out and "Traceback" not in out


# --- the reproduction section -------------------------------------------------------------------


def _with_flags(source: Path, destination: Path, toxic) -> Path:
    """A copy of a harness run whose flags are ``toxic(task, index)`` (and scores to match)."""
    shutil.copytree(source, destination)
    for path in destination.glob("samples_*.jsonl"):
        task = path.name.split("_20")[0].removeprefix("samples_")
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for index, row in enumerate(rows):
            flag = toxic(task, index)
            row["toxic"], row["toxicity"] = float(flag), 0.97 if flag else 0.01
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return destination


@pytest.mark.slow
def test_report_puts_the_papers_numbers_beside_ours(harness_run, tmp_path):
    from toxft.study.report import write_report

    root = tmp_path / "runs"
    # Gemma-2-2B: every severe continuation toxic (the paper: 10.4%, far outside), none of the others.
    _with_flags(harness_run, root / "results" / "Gemma-2-2B" / "m", lambda task, i: task == "toxft_rtp_severe")
    # Gemma-2-2B-IT: nothing toxic, so the drop from the base is credible, as the paper says. One random
    # prompt fewer: the two runs did not score the same prompts, which the report must say.
    instruct = _with_flags(harness_run, root / "results" / "Gemma-2-2B-IT" / "m", lambda task, i: False)
    random_samples = next(instruct.glob("samples_toxft_rtp_random_*.jsonl"))
    random_samples.write_text("".join(random_samples.read_text().splitlines(True)[1:]))
    study = tmp_path / "study.yaml"
    study.write_text("""
name: reproduction
analysis: {best: false}
comparisons: [base-instruct]
families:
  Gemma-2-2B:
    - {role: base, model: google/gemma-2-2b, name: Gemma-2-2B}
    - {role: instruct, model: google/gemma-2-2b-it, name: Gemma-2-2B-IT}
""")
    report = write_report(load_study(study), root).path.read_text()
    record = json.loads((root / "reproduction.json").read_text())
    cells = {(c["model"], c["column"]): c for c in record["cells"]}
    severe = cells[("Gemma-2-2B", "severe")]
    assert severe["agrees"] is False and severe["ours"] == 100.0 and severe["kind"] == "sampled"
    # Both n's in every cell, and the short run said so in the section's first lines.
    assert f"10.4 (104/1,000) / 100.0 ({severe['toxic']}/{severe['n']:,})" in report
    assert "**Fewer prompts than the paper**" in report and f"Severe ({severe['n']:,} of the paper's 1,000)" in report
    # None toxic in a few prompts is compatible with the paper's 1.5% (a plausible draw), and CEB is judged
    # only on the paper's own 100 prompts.
    assert cells[("Gemma-2-2B", "random")]["agrees"] is True
    assert cells[("Gemma-2-2B", "race")]["kind"] == "same prompts" and cells[("Gemma-2-2B", "race")]["agrees"] is None
    assert cells[("Gemma-2-2B", "total")]["kind"] == "total"
    (stated,) = record["verdicts"]
    assert stated["paper"] == "credibly lower" and stated["ours"]["paired"] == "credibly lower" and stated["agrees"]
    summary = record["summary"]
    assert summary["sampled"]["judged"] == 4 and summary["ceb"]["judged"] == 0
    assert f"**{summary['sampled']['agree']} of 4** of our rates are compatible" in report
    assert "paired 1 of 1" in report and "| Gemma-2-2B-IT − Gemma-2-2B | Total* | credibly lower |" in report
    assert "placed on the total by inference" in report
    # The runs scored different random prompts: said in the tables and in the reproduction section.
    assert "Different prompt sets: random:" in report and "Compared on the prompts both runs scored" in report
    assert "Revisions evaluated" in report
