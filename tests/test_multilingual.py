"""Toxicity in the language a fine-tune was made for: PolygloToxicityPrompts tasks, the multilingual scorer,
degenerate rules for every script, check/study/survey languages, and the Hub path end to end."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toxft import data, degenerate, languages, settings
from toxft.demo import tiny
from toxft.suite import PTP_LANGUAGES, PTP_REPO

from conftest import REPO, run_lm_eval

CPYTHON_CJK = Path(json.__file__).resolve().parents[1] / "test" / "cjkencodings"

# Real sentences, written for these tests, none of them degenerate: what a model continuing a prompt in each
# language writes.
SENTENCES = {
    "zh": ["我们明天早上一起去公园散步吧。", "这家餐厅的菜很好吃，价格也不贵。", "他昨天晚上看了一部很有意思的电影。"],
    "ja": ["昨日は友達と一緒に映画を見に行きました。", "この町の図書館はとても静かで便利です。", "明日の朝は早く起きなければなりません。"],
    "ko": ["오늘은 날씨가 좋아서 공원에 산책하러 갔어요.", "이 책은 정말 재미있어서 하루 만에 다 읽었다."],
    "ar": ["ذهبت إلى السوق لشراء بعض الخضروات الطازجة", "يحب أخي قراءة الكتب في المساء بعد العمل"],
    "hi": ["मैं कल अपने दोस्तों के साथ बाज़ार गया था।", "आज मौसम बहुत अच्छा है इसलिए हम पार्क जाएंगे।"],
    "ru": ["Вчера мы долго гуляли по парку и разговаривали.", "Эта книга оказалась гораздо интереснее, чем я думал."],
    "th": ["วันนี้อากาศดีมากเราจึงไปเดินเล่นที่สวนสาธารณะ", "ฉันชอบอ่านหนังสือก่อนนอนทุกคืน"],
}
LOOPS = ["哈哈哈哈哈哈哈哈哈哈哈哈", "我爱你我爱你我爱你我爱你我爱你", "ありがとうありがとうありがとうありがとう",
         "لا لا لا لا لا لا لا لا", "नहीं नहीं नहीं नहीं नहीं नहीं", "ฮ่าฮ่าฮ่าฮ่าฮ่าฮ่าฮ่าฮ่า"]


# --- degenerate rules in every script ---------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_real_sentences_in_every_script_are_not_degenerate(lang):
    for sentence in SENTENCES[lang]:
        assert degenerate.kind(sentence, "Hallo") is None, (lang, sentence)
        assert degenerate.length(sentence) >= degenerate.SHORT_WORDS


@pytest.mark.parametrize("text", LOOPS)
def test_loops_in_every_script_are_loops(text):
    assert degenerate.kind(text, "prompt") == "loop"


def test_short_echo_and_empty_hold_without_spaces():
    assert degenerate.kind("好的。", "你好") == "short"  # "OK.": 1 word of Chinese
    assert degenerate.kind("はい", "本当?") == "short"
    assert degenerate.kind("　\u3000 ", "x") == "empty"  # ideographic spaces only
    prompt = "我们明天早上一起去公园散步吧，然后去吃午饭。"
    assert degenerate.kind("我们明天早上一起去公园散步吧，", prompt) == "echo"
    # Latin words and digits between characters are words; punctuation is not.
    assert degenerate.tokens("在2024年用Python。") == ["在", "2024", "年", "用", "python"]


def test_the_rule_for_english_is_unchanged():
    assert degenerate.kind(" the the the the the the", "He said") == "loop"
    assert degenerate.kind(" yes no", "") == "short"
    assert degenerate.length("one two three") == 3


def test_real_chinese_and_japanese_text_of_cpython_is_not_short():
    """Text nobody wrote for toxft: CPython's own CJK encoding test files (skipped where the test package is absent)."""
    if not CPYTHON_CJK.is_dir():
        pytest.skip("CPython's test/cjkencodings is not installed")
    lines = [line.strip() for name in ("gb2312-utf8.txt", "big5-utf8.txt", "shift_jis-utf8.txt", "euc_jp-utf8.txt")
             for line in (CPYTHON_CJK / name).read_text("utf-8").splitlines()
             if sum(degenerate._script(c) is not None for c in line) >= 10]
    assert len(lines) >= 10
    assert [line for line in lines if degenerate.kind(line) is not None] == []
    # Under the old rule (whitespace words) most of them were "short".
    assert sum(len(line.split()) < degenerate.SHORT_WORDS for line in lines) >= len(lines) // 3


# --- languages ---------------------------------------------------------------------------------


def test_language_codes_parse_once_and_unknown_ones_list_the_17():
    assert languages.parse("de, zh,DE,deu") == ["de", "zh"]
    assert languages.from_card(["German", "zh-CN", "en", "tlh", "jpn"]) == ["de", "zh", "en", "ja"]
    assert len(PTP_LANGUAGES) == 17
    with pytest.raises(languages.LanguageError) as error:
        languages.parse("de,xx")
    assert all(code in str(error.value) for code in PTP_LANGUAGES)


def test_a_language_the_classifier_was_not_trained_on_is_named():
    multilingual = settings.PRESETS["multilingual"][0]
    assert languages.untrained(multilingual, ["de", "zh", "ko", "sv"]) == ["ko", "sv"]
    assert "Korean (ko)" in languages.warning(multilingual, ["de", "ko"])
    assert languages.warning(multilingual, ["de", "zh"]) is None
    assert languages.untrained(settings.DEFAULT_SCORER, ["de"]) == ["de"]
    assert "unknown" in languages.warning("/no/such/classifier", ["de"])


def test_the_card_languages_check_names_only_those_without_prompts():
    from argparse import Namespace

    from toxft.check import languages_to_evaluate

    said = []
    args = Namespace(languages=None, model="me/tune", card_languages=["German", "English", "zh-CN", "tlh", "eng"])
    assert languages_to_evaluate(args, said.append) == ["de", "zh"]
    assert said == ["languages: de, zh beside English (from me/tune's card; --languages chooses others)",
                    "note: the card also names tlh: no PolygloToxicityPrompts prompts in it"]


def test_a_local_classifier_card_declares_its_languages(tmp_path):
    (tmp_path / "README.md").write_text("---\nlanguage: [de, fr]\n---\n# a classifier\n")
    assert languages.untrained(str(tmp_path), ["de", "zh"]) == ["zh"]


# --- the prompt sets -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ptp_mirror(tmp_path_factory) -> Path:
    return tiny.write_ptp_mirror(tmp_path_factory.mktemp("ptp"), languages=("de", "zh"), n=30)


def test_ptp_severe_and_random_follow_the_toxicity_field(ptp_mirror):
    severe = data.ptp_docs("zh", "severe", 1000, data_dir=str(ptp_mirror))
    random_docs = data.ptp_docs("zh", "random", 12, data_dir=str(ptp_mirror))
    assert len(severe) == 10 and all(d["prompt_toxicity"] > 0.75 for d in severe)
    assert len(random_docs) == 12 and len({d["id"] for d in random_docs}) == 12
    assert all(d["id"].startswith("ptp:zh:") and d["language"] == "zh" for d in severe + random_docs)
    assert data.ptp_docs("zh", "random", 0, data_dir=str(ptp_mirror)).__len__() == 30


def test_ptp_sampling_does_not_depend_on_row_order_and_reads_perspective_when_toxicity_is_absent(tmp_path, ptp_mirror):
    import datasets

    source = ptp_mirror / PTP_REPO / data.PTP_FILE.format(lang="de", split="small")
    rows = datasets.Dataset.from_parquet(str(source)).to_list()
    random.Random(5).shuffle(rows)
    for row in rows:
        row.pop("toxicity")  # the summary score it came from is still there
    target = tmp_path / PTP_REPO / data.PTP_FILE.format(lang="de", split="small")
    target.parent.mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(target))
    for subset in ("random", "severe"):
        assert ([d["id"] for d in data.ptp_docs("de", subset, 7, data_dir=str(tmp_path))] ==
                [d["id"] for d in data.ptp_docs("de", subset, 7, data_dir=str(ptp_mirror))])


def test_the_full_split_is_its_own_file(tmp_path):
    tiny.write_ptp_mirror(tmp_path, languages=("ja",), n=9, split="full", seed=3)
    docs = data.ptp_docs("ja", "random", 0, data_dir=str(tmp_path), split="full")
    assert len(docs) == 9
    with pytest.raises(data.DataError, match="expected .*ptp-ja/small-00000-of-00001.parquet"):
        data.ptp_docs("ja", "random", 0, data_dir=str(tmp_path))
    with pytest.raises(data.DataError, match="unknown PolygloToxicityPrompts split 'medium'"):
        data.ptp_docs("ja", "random", 0, data_dir=str(tmp_path), split="medium")


def test_ptp_bad_files_and_names_are_one_line(tmp_path, ptp_mirror):
    with pytest.raises(data.DataError, match="unknown PolygloToxicityPrompts language 'xx'"):
        data.ptp_docs("xx", "random", 5, data_dir=str(ptp_mirror))
    with pytest.raises(data.DataError, match="expected .*ptp-ko/small-00000-of-00001.parquet"):
        data.ptp_docs("ko", "random", 5, data_dir=str(ptp_mirror))
    import datasets

    wrong = tmp_path / PTP_REPO / data.PTP_FILE.format(lang="de", split="small")
    wrong.parent.mkdir(parents=True)
    datasets.Dataset.from_list([{"prompt": "x", "toxicity": 0.1}]).to_parquet(str(wrong))
    with pytest.raises(data.DataError, match="not in the PolygloToxicityPrompts schema"):
        data.ptp_docs("de", "random", 5, data_dir=str(tmp_path))


def test_task_files_are_the_generators_output():
    """The 17 languages' YAMLs are written by one script from toxft.suite: none is edited by hand or missing."""
    sys.path.insert(0, str(REPO / "tasks" / "toxft" / "multilingual"))
    try:
        import _generate_configs
    finally:
        sys.path.pop(0)
    folder = REPO / "tasks" / "toxft" / "multilingual"
    written = {p.name: p.read_text() for p in folder.glob("*.yaml")}
    assert written == _generate_configs.configs()
    assert len(written) == 17 * 3 + 1


# --- the scorer ----------------------------------------------------------------------------------


def test_model_colon_label_and_a_multi_label_config_get_what_the_pipeline_would(tmp_path, multilingual_classifier):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from toxft import scorer

    assert scorer.check_spec(f"{multilingual_classifier}:toxic") == f"{multilingual_classifier}:toxic"
    assert scorer.describe(f"{multilingual_classifier}:toxic") == f"{multilingual_classifier} [toxic, softmax]"
    multi = tmp_path / "multi-label"
    shutil.copytree(multilingual_classifier, multi)
    config = json.loads((multi / "config.json").read_text())
    (multi / "config.json").write_text(json.dumps({**config, "problem_type": "multi_label_classification"}))
    assert scorer.describe(f"{multi}:toxic") == f"{multi} [toxic, sigmoid]"
    texts = [f"so they are {tiny.FLAG_WORD} .", "so they are kind ."]
    got = scorer.score(texts, model=f"{multi}:toxic", progress=False)
    model = AutoModelForSequenceClassification.from_pretrained(multi).eval()
    tokens = AutoTokenizer.from_pretrained(multi)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**tokens).logits[:, 1].sigmoid().tolist()
    assert got == pytest.approx(expected, abs=1e-5)
    assert got[0] > 0.5 > got[1]
    with pytest.raises(scorer.ScorerError, match="has no label 'hate'"):
        scorer.check_classifier(str(multilingual_classifier))
    # --scorers mixes it with a classifier of another label, named with :label.
    from toxft.check import scorer_list

    mixed = scorer_list(f"paper,{multilingual_classifier}:toxic")
    assert mixed == ["paper", f"{multilingual_classifier}:toxic"]
    scorer.check_classifier(mixed[1])  # has the label: no error


# --- studies and surveys ---------------------------------------------------------------------------


def test_a_study_with_languages_evaluates_them_for_every_model(study_file, tmp_path):
    from toxft.study.config import load_study
    from toxft.study.plan import plan

    text = study_file.read_text().replace("name: tiny study", "name: tiny study\nlanguages: [zh, de, en]")
    path = study_file.parent / "with-languages.yaml"
    path.write_text(text)
    study = load_study(path)
    assert study.harness["languages"] == ["de", "zh"]  # English is the paper's suite; the suite's order
    evaluations = [s for s in plan(study, tmp_path) if s.kind == "evaluate"]
    assert evaluations and all(s.argv[s.argv.index("--tasks") + 1] == "toxft,toxft_ptp_de,toxft_ptp_zh"
                               for s in evaluations)


def test_a_survey_evaluates_the_languages_its_fine_tunes_declare():
    from toxft.survey.candidates import Candidate
    from toxft.survey.cli import survey_languages

    def candidate(name: str, spoken: list[str]) -> Candidate:
        return Candidate(name, ["finetune"], 10, "0" * 40, "transformers", [], [], False, languages=spoken)

    kept = [candidate("a/german", ["de", "en"]), candidate("b/chinese", ["zh", "Chinese"]), candidate("c/none", [])]
    assert survey_languages(kept) == ["de", "zh"]


# --- the harness and the Hub, end to end ----------------------------------------------------------


@pytest.mark.slow
def test_lm_eval_runs_a_language_like_toxft_rtp_random(tmp_path, tiny_lm, tiny_classifier, multilingual_classifier,
                                                       hub_mirror):
    output = tmp_path / "out"
    done = run_lm_eval(f"pretrained={tiny_lm}", output, tiny_classifier, hub_mirror, "--metadata",
                       json.dumps({"n_random": 8, "multilingual_scorer": f"{multilingual_classifier}:toxic"}),
                       tasks="toxft_ptp_zh,toxft_ptp_ar")
    assert done.returncode == 0, done.stderr[-3000:]
    from conftest import model_folder
    from toxft.runs import load_run

    run = load_run(model_folder(output))
    assert run.languages() == ["ar", "zh"] and "toxft_rtp_random" not in run.samples
    for lang in ("ar", "zh"):
        severe, sampled = run.subset(f"ptp_{lang}_severe"), run.subset(f"ptp_{lang}_random")
        assert len(severe) == 8 and len(sampled) == 8  # every third of 24 rows is severe; n_random 8
        assert run.scorer_of(f"ptp_{lang}") == f"{multilingual_classifier} [toxic, softmax]"
        rate = lambda samples: sum(s.toxic for s in samples.values()) / len(samples)  # noqa: E731
        assert rate(severe) > rate(sampled)  # the flagged prompts are the severe ones
    results = json.loads(next(model_folder(output).glob("results_*.json")).read_text())
    assert results["configs"]["toxft_ptp_zh_severe"]["generation_kwargs"]["max_gen_toks"] == 50
    # `toxft report` names the classifier of the language blocks and warns that its languages are unknown.
    from toxft.report.render import to_json, to_markdown
    from toxft.report.table import Report

    report = json.loads(to_json(Report([run], ["tiny"])))
    assert report["language_scorers"] == {f"{multilingual_classifier} [toxic, softmax]": ["ar", "zh"]}
    assert len(report["language_warnings"]) == 1 and "unknown to toxft" in report["language_warnings"][0]
    assert "not comparable with the PolygloToxicityPrompts paper's Perspective API numbers" in to_markdown(
        Report([run], ["tiny"]))
    # `toxft compare` gives each language's rows and says what scored them.
    from toxft.analysis.cli import format_comparison
    from toxft.analysis.compare import compare_runs
    from toxft.analysis.settings import AnalysisSettings

    again = load_run(shutil.copytree(model_folder(output), tmp_path / "again"))
    text = format_comparison(compare_runs(run, again, AnalysisSettings(best=False)))
    assert "ptp_zh_severe" in text and "ptp_ar " in text
    assert f"ptp_* rows (ar, zh): PolygloToxicityPrompts, scored by {multilingual_classifier} [toxic, softmax]" in text


@pytest.fixture(scope="module")
def hub_world(tiny_lm, flagged_adapter, hub_mirror):
    """A base and a fine-tune made for German and Chinese (its card says so), and the three prompt sets."""
    hub_server = pytest.importorskip("hub_server")
    with hub_server.serving() as world:
        world.add("org/tiny-base", {**hub_server.folder_files(tiny_lm), "README.md": "---\nlicense: mit\n---\n"})
        hub_server.add_adapter(world, "org/tiny-polyglot", flagged_adapter, "org/tiny-base",
                               "---\nlibrary_name: peft\nbase_model: org/tiny-base\nlanguage: [de, zh, en, tlh]\n---\n"
                               "# a German and Chinese tune\n", downloads=40,
                               tags=["base_model:adapter:org/tiny-base", "de", "zh", "en"])
        hub_server.add_prompt_sets(world, hub_mirror)
        yield world, hub_server


@pytest.mark.slow
def test_check_reads_the_cards_languages_and_gives_a_verdict_in_each(hub_world, tmp_path, tiny_classifier,
                                                                    multilingual_classifier, hub_mirror):
    from toxft.data import ptp_docs

    world, hub_server = hub_world
    # The German prompts of both subsets, each once (a prompt drawn into both is one prompt).
    german = len({d["id"] for subset, n in (("random", 16), ("severe", 8))
                  for d in ptp_docs("de", subset, n, data_dir=str(hub_mirror))})
    card = tmp_path / "README.md"
    done = hub_server.run_toxft(world, ("check", "org/tiny-polyglot", "--output", str(tmp_path / "checks"),
                                        "--metadata", json.dumps({"n_random": 16, "n_severe": 8}),
                                        "--batch-size", "16", "--card", str(card)),
                                home=tmp_path / "home", tiny_classifier=tiny_classifier, data_dir=None,
                                TOXFT_MULTILINGUAL_SCORER=f"{multilingual_classifier}:toxic")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "languages: de, zh beside English (from org/tiny-polyglot's card" in done.stderr
    assert "the card also names tlh: no PolygloToxicityPrompts prompts in it" in done.stderr
    assert "warning: the languages" in done.stderr  # the tiny classifier declares no languages
    lines = done.stdout.splitlines()
    assert lines[0].startswith("org/tiny-polyglot is credibly MORE toxic than org/tiny-base")
    # One line per language, each its own paired comparison on that language's prompts.
    assert lines[1].startswith("in German (de): org/tiny-polyglot is credibly MORE toxic") and f"on {german} prompts" in lines[1]
    assert lines[2].startswith("in Chinese (zh): org/tiny-polyglot is credibly MORE toxic")
    assert "not comparable with that paper's Perspective API numbers" in lines[3]
    text = card.read_text()
    assert f"German (de) (n={german})" in text and "zh severe (n=8)" in text and "**Warning:**" in text
    assert f"scored by `{multilingual_classifier} [toxic, softmax]`" in text
    # Data came from the server, at a commit: the PolygloToxicityPrompts repository was asked for files.
    assert world.requests(contains="ToxicityPrompts/PolygloToxicityPrompts")
    # The card's model-index names the data set and its config.
    assert "dataset_config: ptp-de" in text or "config: ptp-de" in text


@pytest.mark.slow
def test_an_unusable_multilingual_scorer_stops_before_any_generation(hub_world, tmp_path, tiny_classifier):
    world, hub_server = hub_world
    done = hub_server.run_toxft(world, ("check", "org/tiny-polyglot", "--output", str(tmp_path / "checks"),
                                        "--languages", "de"),
                                home=tmp_path / "home", tiny_classifier=tiny_classifier, data_dir=None,
                                TOXFT_MULTILINGUAL_SCORER=f"{tiny_classifier}:toxic")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("toxft: classifier")
    assert "has no label 'toxic'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "checks" / "results").exists()


@pytest.mark.slow
def test_a_survey_evaluates_each_fine_tune_in_the_languages_its_card_names(hub_world, tmp_path, tiny_classifier):
    world, hub_server = hub_world
    output = tmp_path / "survey"
    done = hub_server.run_toxft(world, ("survey", "org/tiny-base", "--output", str(output), "--top", "1",
                                        "--min-downloads", "1", "--checks", str(tmp_path / "checks")),
                                home=tmp_path / "home", tiny_classifier=tiny_classifier, data_dir=None)
    assert done.returncode == 0, done.stderr[-3000:]
    study = (output / "study.yaml").read_text()
    assert "languages: [de, zh]" in study and "languages: de, zh, en, tlh" in study  # the study's, the card's
    # The plan evaluates both models in German and Chinese beside the English suite.
    assert done.stdout.count("--tasks toxft,toxft_ptp_de,toxft_ptp_zh") == 2, done.stdout
