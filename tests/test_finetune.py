"""toxft finetune: formats, data checks, LoRA coverage, training, resume, cards (tiny models, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toxft.demo import tiny
from toxft.cli import main
from toxft.finetune import dolly
from toxft.finetune.recipe import PAPER_TARGETS
from toxft.finetune.targets import TargetError, projections, resolve_targets

SMOKE = ["--max-steps", "3", "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "2",
         "--warmup-steps", "1", "--save-steps", "2"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def dolly_file(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("dolly") / "dolly.jsonl", tiny.synthetic_dolly(24, 0.5, seed=1))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ft-models")
    return {arch: tiny.build_causal_lm(root / arch, arch) for arch in ("llama", "gemma", "phi3")}


@pytest.mark.parametrize("bos_token", ["<s>", "<bos>"])
@pytest.mark.parametrize("context", ["", "some context here"])
def test_paper_format_has_one_bos_and_closes_with_eos(bos_token, context):
    tokenizer = tiny.build_tokenizer(bos_only=True, bos_token=bos_token)
    row = {"instruction": "tell me a story", "context": context, "response": "the river is calm ."}
    text = dolly.paper_text(row)
    assert text.startswith("[INST] tell me a story") and text.endswith(" [/INST] the river is calm .")
    assert ("Here's some context: some context here" in text) == bool(context)
    ids = dolly.encode(row, tokenizer)
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert ids[-1] == tokenizer.eos_token_id and ids.count(tokenizer.eos_token_id) == 1
    # The tokenizer's own BOS, whatever it is called, and never a literal "<s>" as text after it.
    assert tokenizer.convert_ids_to_tokens(ids[1:3]) == ["[", "INST"]
    assert dolly.paper_format(tokenizer) == f"{bos_token}[INST] {{instruction}} [/INST] {{response}}</s>"


def test_paper_format_without_a_bos_for_tokenizers_that_add_none():
    """Qwen- and SmolLM2-style tokenizers put no BOS before a text: the paper's format gets none either."""
    tokenizer = tiny.build_tokenizer()
    from tokenizers import processors

    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A", special_tokens=[])
    assert not dolly.adds_bos(tokenizer)
    ids = dolly.encode({"instruction": "tell me a story", "context": "", "response": "calm ."}, tokenizer)
    assert tokenizer.bos_token_id not in ids and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.convert_ids_to_tokens(ids[:2]) == ["[", "INST"]
    assert dolly.paper_format(tokenizer) == "[INST] {instruction} [/INST] {response}</s>"


def test_native_format_uses_the_chat_template_and_needs_one():
    tokenizer = tiny.build_tokenizer(bos_only=True)
    row = {"instruction": "tell me a story", "context": "the city", "response": "it is warm ."}
    with pytest.raises(dolly.DataError, match="chat template"):
        dolly.encode(row, tokenizer, "native")
    tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {{ eos_token }}{% endfor %}"
    )
    ids = dolly.encode(row, tokenizer, "native")
    words = tokenizer.convert_ids_to_tokens(ids)
    assert words.count("<s>") == 1 and words[0] == "<s>" and words[-1] == "</s>"
    assert "INST" not in words and words[words.index("warm") - 1] == "is"


def test_dolly_data_errors_are_one_line(tmp_path, monkeypatch):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(dolly.DataError, match="empty"):
        dolly.load_dolly(str(empty))
    missing = write_jsonl(tmp_path / "bad.jsonl", [{"instruction": "a", "context": ""}])
    with pytest.raises(dolly.DataError, match="missing response"):
        dolly.load_dolly(str(missing))
    with pytest.raises(dolly.DataError, match="no such data file"):
        dolly.load_dolly(str(tmp_path / "nowhere.jsonl"))
    monkeypatch.setenv("TOXFT_DATA_DIR", str(tmp_path / "mirror"))
    with pytest.raises(dolly.DataError, match="databricks-dolly-15k.jsonl"):
        dolly.load_dolly()
    mirrored = tmp_path / "mirror" / "databricks" / "databricks-dolly-15k" / "databricks-dolly-15k.jsonl"
    mirrored.parent.mkdir(parents=True)
    write_jsonl(mirrored, tiny.synthetic_dolly(5))
    assert [r["category"] for r in dolly.load_dolly(limit=3)] == [r["category"] for r in tiny.synthetic_dolly(3)]


def test_fused_projections_are_covered_or_refused(models):
    from transformers import AutoModelForCausalLM

    phi3 = AutoModelForCausalLM.from_pretrained(models["phi3"])
    assert set(projections(phi3)) == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}
    assert resolve_targets(phi3, ["all"]) == ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]
    with pytest.raises(TargetError) as refused:
        resolve_targets(phi3, list(PAPER_TARGETS))
    message = str(refused.value)
    assert "matched down_proj, o_proj" in message and "not adapted gate_up_proj, qkv_proj" in message
    assert resolve_targets(phi3, list(PAPER_TARGETS), allow_partial=True) == ["down_proj", "o_proj"]
    llama = AutoModelForCausalLM.from_pretrained(models["llama"])
    assert resolve_targets(llama, list(PAPER_TARGETS)) == sorted(PAPER_TARGETS)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["llama", "gemma", "phi3"])
def test_adapter_trains_reloads_and_covers_every_projection(architecture, models, dolly_file, tmp_path):
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    output = tmp_path / "adapter"
    assert main(["finetune", "--model", str(models[architecture]), "--output", str(output),
                 "--data", str(dolly_file), *SMOKE]) == 0
    record = json.loads((output / "toxft_finetune.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(models[architecture])
    expected = dict(projections(base))
    assert record["adapted_modules"] == expected and record["backend"] == "peft" and record["steps"] == 3
    assert record["recipe"]["r"] == 16 and record["recipe"]["seed"] == 3407 and record["optim"] == "adamw_torch"
    reloaded = PeftModel.from_pretrained(base, output)
    lora_layers = [n for n, m in reloaded.named_modules() if hasattr(m, "lora_A") and len(m.lora_A)]
    assert len(lora_layers) == sum(expected.values())
    # Training moved the adapter away from its zero-initialised B matrices.
    assert any(float(p.abs().sum()) > 0 for n, p in reloaded.named_parameters() if "lora_B" in n)
    card = ModelCard.load(output / "README.md")
    assert card.data.base_model == str(models[architecture]) and card.data.library_name == "peft"
    assert "| learning rate | 0.0002 |" in card.text and "Template: `paper`" in card.text
    assert not (output / "checkpoints").exists()


@pytest.mark.slow
def test_resume_goes_on_from_the_last_checkpoint_and_finished_adapters_are_kept(models, dolly_file, tmp_path, capsys):
    output = tmp_path / "adapter"
    args = ["finetune", "--model", str(models["llama"]), "--output", str(output), "--data", str(dolly_file)]
    assert main([*args, *SMOKE[:-2], "--save-steps", "2", "--max-steps", "2", "--keep-checkpoints"]) == 0
    first = json.loads((output / "toxft_finetune.json").read_text())["loss_history"]
    # An interruption after the step-2 checkpoint and before the adapter was written:
    (output / "adapter_config.json").unlink()
    assert main([*args, "--max-steps", "4"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, *SMOKE[2:], "--max-steps", "4", "--resume"]) == 0
    record = json.loads((output / "toxft_finetune.json").read_text())
    assert record["steps"] == 4 and record["resumed_from"].endswith("checkpoint-2")
    assert [step for step, _ in record["loss_history"]] == [1, 2, 3, 4] and record["loss_history"][:2] == first
    before = (output / "adapter_model.safetensors").read_bytes()
    assert main([*args, *SMOKE]) == 2
    assert "already holds an adapter" in capsys.readouterr().err
    assert (output / "adapter_model.safetensors").read_bytes() == before


def test_bad_model_and_bad_targets_are_one_line_errors(models, dolly_file, tmp_path, capsys):
    base = ["finetune", "--output", str(tmp_path / "out"), "--data", str(dolly_file), *SMOKE]
    assert main([*base, "--model", str(tmp_path / "no-model")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == f"toxft: no such model folder: {tmp_path / 'no-model'}"
    assert main([*base, "--model", str(models["phi3"]), "--target-modules", *PAPER_TARGETS]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("toxft: target modules cover only part") and "not adapted gate_up_proj, qkv_proj" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_same_seed_same_adapter_whatever_ran_before(models, dolly_file, tmp_path):
    import torch
    from safetensors.torch import load_file

    folders = []
    for name in ("first", "second"):
        torch.rand(7)  # the process's RNG is in a different state before each run
        folders.append(tmp_path / name)
        assert main(["finetune", "--model", str(models["llama"]), "--output", str(folders[-1]),
                     "--data", str(dolly_file), *SMOKE]) == 0
    first, second = (load_file(folder / "adapter_model.safetensors") for folder in folders)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
