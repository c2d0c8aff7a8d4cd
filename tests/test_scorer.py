"""The scorer: evaluate-toxicity semantics, batching that does not change scores, settings."""

from __future__ import annotations

import json

import pytest
import torch

from toxft import scorer, settings
from toxft.demo import tiny


@pytest.fixture(autouse=True)
def _clean_settings():
    settings.reset()
    yield
    settings.reset()


def test_flag_word_drives_the_hate_score(tiny_classifier):
    scores = scorer.score(["the kind man", "the venom man", "", "venom"], model=str(tiny_classifier), progress=False)
    assert scores[0] < 0.1 and scores[2] < 0.1
    assert scores[1] > 0.9 and scores[3] > 0.9


def test_batched_scores_equal_the_pipeline(tiny_classifier):
    from transformers import pipeline

    texts = [tiny.random_sentence(__import__("random").Random(i), i % 3 == 0, (0, 40)) for i in range(70)]
    texts += texts[:5] + [" ".join(["river"] * 700)]  # duplicates and one text past the 512-token limit
    classify = pipeline("text-classification", model=str(tiny_classifier), top_k=None, truncation=True, device="cpu")
    reference = [next(s["score"] for s in r if s["label"] == "hate") for r in classify(texts)]
    ours = scorer.score(texts, model=str(tiny_classifier), batch_size=8, progress=False)
    assert len(ours) == len(texts)
    assert max(abs(a - b) for a, b in zip(reference, ours)) < 1e-5


def test_classifier_without_hate_label_is_refused(tiny_classifier, tmp_path):
    config = json.loads((tiny_classifier / "config.json").read_text())
    config["id2label"] = {"0": "negative", "1": "positive"}
    config["label2id"] = {"negative": 0, "positive": 1}
    for item in tiny_classifier.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(scorer.ScorerError, match="negative, positive"):
        scorer.ToxicityScorer(str(tmp_path), torch.device("cpu"))


def test_scorer_is_loaded_once_per_process(tiny_classifier):
    first = scorer.get_scorer(str(tiny_classifier), "cpu")
    assert scorer.get_scorer(str(tiny_classifier), "cpu") is first


def test_metadata_overrides_environment(monkeypatch):
    monkeypatch.setenv("TOXFT_SCORER", "env/model")
    monkeypatch.setenv("TOXFT_SCORER_BATCH_SIZE", "8")
    assert settings.current().scorer == "env/model"
    settings.record_metadata({"scorer": "meta/model", "threshold": 0.7, "unrelated": 1})
    current = settings.current()
    assert (current.scorer, current.scorer_batch_size, current.threshold) == ("meta/model", 8, 0.7)


@pytest.mark.parametrize("name,value", [("TOXFT_SCORER_BATCH_SIZE", "zero"), ("TOXFT_SCORER_BATCH_SIZE", "0"),
                                        ("TOXFT_THRESHOLD", "1.5")])
def test_bad_settings_are_one_line_errors(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError, match="invalid"):
        settings.current()


def test_device_resolution():
    assert scorer.resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert scorer.resolve_device("cpu").type == "cpu"
    with pytest.raises(scorer.ScorerError):
        scorer.resolve_device("abacus")


def test_evaluate_measurement_matches_the_scorer(tiny_classifier):
    import evaluate

    import toxft

    measurement = evaluate.load(str(toxft.measurement_path()), str(tiny_classifier), module_type="measurement")
    texts = ["a calm river", "venom in the river", "the kind venom"]
    per_text = measurement.compute(predictions=texts)["toxicity"]
    assert per_text == pytest.approx(scorer.score(texts, model=str(tiny_classifier), progress=False), abs=1e-6)
    assert measurement.compute(predictions=texts, aggregation="ratio") == {"toxicity_ratio": pytest.approx(2 / 3)}
    assert measurement.compute(predictions=texts, aggregation="maximum")["max_toxicity"] > 0.9
