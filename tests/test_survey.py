"""`toxft survey`: the model tree's candidates, every keep/skip decision, the study file, the ranking.

One table of repositories, in the Hub's listing shape, drives both halves: the rules alone
(fast, on huggingface_hub's own ModelInfo objects) and the whole command over HTTP against the
Hub-protocol server (tests/hub_server.py), where the kept fine-tunes are tiny models that the
study really evaluates.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from toxft.survey.candidates import merge_listings, select

REFERENCE = "org/tiny-instruct"
TOP, MIN_DOWNLOADS = 3, 10
FAST = ["--metadata", json.dumps({"n_random": 10, "n_severe": 10}), "--batch-size", "16"]

# (repo id, model-tree relation, monthly downloads, what it holds, extra listing fields) and the
# decision the rules must reach: "kept" or the rule that skips it. "weights" names whose weight
# files a repository carries: the same name, the same bytes.
WORLD = [
    ("quant/tiny-instruct-q", "quantized", 5000, "weights:reference-quantized", {}, "quantized"),
    ("fan/tiny-gguf", "quantized", 4000, "gguf", {"tags": ["gguf"], "library_name": "gguf"}, "quantized"),
    ("fan/toxic-adapter", "adapter", 900, "adapter:toxic", {"library_name": "peft"}, "kept"),
    ("fan/merged-toxic", "finetune", 800, "weights:merged", {}, "kept"),
    ("merge/frankentiny", "merge", 700, "weights:frankentiny", {"tags": ["mergekit", "merge"]}, "merge"),
    ("gate/secret-tune", "finetune", 650, "weights:secret", {"gated": "manual"}, "gated"),
    ("empty/no-weights", "finetune", 600, "config-only", {}, "not loadable"),
    ("mlx/tiny-mlx", "finetune", 550, "weights:mlx", {"library_name": "mlx", "tags": ["mlx"]}, "not loadable"),
    ("fan/mirror-of-merged", "finetune", 500, "weights:merged", {}, "duplicate"),
    ("fan/reupload", "finetune", 450, "weights:reference", {}, "duplicate"),
    ("fan/tiny-instruct-AWQ", "finetune", 420, "weights:awq", {}, "quantized"),
    ("fan/noisy-tune", "finetune", 300, "weights:noisy", {}, "kept"),
    ("fan/late-tune", "finetune", 200, "weights:late", {}, "beyond top"),
    ("small/long-tail", "finetune", 3, "weights:tail", {}, "few downloads"),
]
EXPECTED = {repo: decision for repo, *_, decision in WORLD}
KEPT_IN_ORDER = ["fan/toxic-adapter", "fan/merged-toxic", "fan/noisy-tune"]


def _file_names(holds: str) -> list[str]:
    if holds == "gguf":
        return ["README.md", "tiny.Q4_K_M.gguf"]
    if holds == "config-only":
        return ["README.md", "config.json"]
    if holds.startswith("adapter:"):
        return ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    return ["README.md", "config.json", "model.safetensors", "tokenizer.json"]


def _tags(relation: str, extra: dict) -> list[str]:
    """The tags the Hub gives a repository whose card declares REFERENCE as base_model with ``relation``."""
    return ["safetensors", f"base_model:{REFERENCE}", f"base_model:{relation}:{REFERENCE}", *extra.get("tags", [])]


def _listing_entry(repo_id: str, relation: str, downloads: int, holds: str, extra: dict) -> dict:
    """One item of GET /api/models?filter=base_model:...&full=True, as the Hub sends it."""
    tags = _tags(relation, extra)
    return {"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": f"{abs(hash(repo_id)):040x}"[:40],
            "downloads": downloads, "likes": 1, "tags": tags, "gated": extra.get("gated", False), "private": False,
            "library_name": extra.get("library_name", "transformers"), "pipeline_tag": "text-generation",
            "createdAt": "2026-10-01T00:00:00.000Z", "siblings": [{"rfilename": n} for n in _file_names(holds)]}


def test_every_rule_decides_the_listing_fixtures():
    """The rules alone, on huggingface_hub's ModelInfo built from Hub-shaped listing JSON."""
    from huggingface_hub.hf_api import ModelInfo

    listings = {relation: [] for relation in ("finetune", "adapter", "merge", "quantized")}
    for repo_id, relation, downloads, holds, extra, _ in WORLD:
        listings[relation].append(ModelInfo(**_listing_entry(repo_id, relation, downloads, holds, extra)))
    # The same adapter can sit in two listings: one candidate, both relations.
    listings["finetune"].append(ModelInfo(**_listing_entry("fan/toxic-adapter", "finetune", 900, "adapter:toxic", {})))
    candidates = merge_listings(listings)
    assert [c.downloads for c in candidates] == sorted((c.downloads for c in candidates), reverse=True)
    assert len(candidates) == len(WORLD)
    asked = []

    def weight_files(repo_id: str, sha: str):
        asked.append(repo_id)
        holds, extra = next((h, e) for r, _, _, h, e, _ in WORLD if r == repo_id)
        return sha, bool(extra.get("gated")), {"model.safetensors": holds}

    for candidate in candidates:  # the listing may not say which repos are gated; their own pages do
        candidate.gated = False

    kept = select(candidates, REFERENCE, {"model.safetensors": "weights:reference"}, top=TOP,
                  min_downloads=MIN_DOWNLOADS, can_read=lambda repo_id: not repo_id.startswith("gate/"),
                  weight_files=weight_files)
    decisions = {c.repo_id: "kept" if c.kept else c.rule for c in candidates}
    assert decisions == EXPECTED
    assert [c.repo_id for c in kept] == KEPT_IN_ORDER
    adapter = next(c for c in candidates if c.repo_id == "fan/toxic-adapter")
    assert adapter.kind == "adapter" and sorted(adapter.relations) == ["adapter", "finetune"]
    reasons = {c.repo_id: c.reason for c in candidates}
    assert reasons["fan/mirror-of-merged"] == "the same weights as fan/merged-toxic, kept above"
    assert reasons["fan/reupload"] == f"the same weights as {REFERENCE} (the reference)"
    assert reasons["fan/tiny-gguf"] == "a quantized copy (the model tree's quantized relation)"
    assert reasons["fan/tiny-instruct-AWQ"] == "quantized, by its name (AWQ)"
    assert reasons["mlx/tiny-mlx"].startswith("library_name mlx")
    assert reasons["empty/no-weights"].startswith("no PyTorch weights")
    assert reasons["fan/noisy-tune"].startswith("#3 by monthly downloads")
    # Only what passed the listing's rules was asked about, and nothing after the top was full.
    assert set(asked) == {"fan/toxic-adapter", "fan/merged-toxic", "gate/secret-tune", "fan/mirror-of-merged",
                          "fan/reupload", "fan/noisy-tune"}
    with_merges = merge_listings(listings)
    select(with_merges, REFERENCE, {}, top=10, include_merges=True, can_read=lambda r: True,
           weight_files=weight_files)
    assert next(c for c in with_merges if c.repo_id == "merge/frankentiny").kept


def test_a_fine_tune_published_only_as_gguf_is_evaluated_from_its_most_precise_file():
    """Many community fine-tunes exist only as GGUF: kept (the harness loads one file), while a GGUF quantisation of
    the reference itself stays out."""
    from toxft.survey.candidates import Candidate, gguf_choice, listing_rule, why_kept
    from toxft.survey.study_file import study_text

    files = ["README.md", "tune.Q4_K_M.gguf", "tune.Q8_0.gguf", "tune.F16-00001-of-00002.gguf",
             "tune.F16-00002-of-00002.gguf", "tune-q2_k.gguf"]
    assert gguf_choice(files) == "tune.Q8_0.gguf"  # split files are not one file transformers can read
    tune = Candidate("fan/tune-GGUF", ["finetune"], 500, "abc", "gguf", ["gguf", f"base_model:finetune:{REFERENCE}"],
                     files, False)
    assert listing_rule(tune, REFERENCE, include_merges=False, min_downloads=0) is None
    assert tune.gguf_file == "tune.Q8_0.gguf" and tune.kind == "model"
    assert why_kept(tune, 1, REFERENCE).endswith("a fine-tune published only as GGUF, evaluated from tune.Q8_0.gguf")
    copy = Candidate("quant/ref-GGUF", ["quantized"], 900, "def", "gguf", ["gguf"], files, False)
    assert listing_rule(copy, REFERENCE, include_merges=False, min_downloads=0)[0] == "quantized"
    with_weights = Candidate("fan/tune", ["finetune"], 500, "abc", "transformers", [],
                             ["config.json", "model.safetensors", "tune.Q4_K_M.gguf"], False)
    assert listing_rule(with_weights, REFERENCE, include_merges=False, min_downloads=0)[0] == "quantized"
    text = study_text(REFERENCE, "123", [tune], 3, {}, Path("out"), None, "2026-12-06", "toxft survey")
    assert "      model: fan/tune-GGUF" in text and "      model_args: {gguf_file: tune.Q8_0.gguf}" in text


@pytest.mark.parametrize(("name", "quantized"), [
    ("gemma-2-2b-it-GGUF", True), ("Llama-3-8B-Instruct-4bit", True), ("mistral-7b-exl2-4.0bpw", True),
    ("model-bnb-4bit", True), ("qwen2-7b-int4", True), ("gemma-2-2b-it", False), ("Llama-3-8B-Instruct", False),
    ("orbit-chat", False), ("gemma-2-2b-it-dolly", False)])
def test_quantized_names(name, quantized):
    from toxft.survey.candidates import Candidate
    from toxft.survey.candidates import quantized as is_quantized

    candidate = Candidate(f"someone/{name}", ["finetune"], 10, None, "transformers", [], ["config.json"], False)
    assert bool(is_quantized(candidate, REFERENCE)) == quantized


# --- the command, over HTTP ---------------------------------------------------------------------


def _model_files(tiny_lm: Path, folder: Path, change) -> dict[str, bytes]:
    """The tiny LM's files with its weights changed by ``change(model)``."""
    import shutil

    from transformers import AutoModelForCausalLM

    model = change(AutoModelForCausalLM.from_pretrained(tiny_lm))
    shutil.copytree(tiny_lm, folder)
    model.save_pretrained(folder)
    from hub_server import folder_files

    return folder_files(folder)


@pytest.fixture(scope="module")
def hub(tiny_lm, flagged_adapter, hub_mirror, tmp_path_factory):
    """The server, holding the reference, the WORLD's repositories and the prompt sets."""
    import torch
    from peft import PeftModel

    hub_server = pytest.importorskip("hub_server")
    with hub_server.serving() as world:
        files = tmp_path_factory.mktemp("survey-models")
        reference = hub_server.folder_files(tiny_lm)

        def noisy(seed: int):
            def change(model):
                generator = torch.Generator().manual_seed(seed)
                with torch.no_grad():
                    for parameter in model.parameters():
                        parameter.add_(1e-2 * torch.randn(parameter.shape, generator=generator))
                return model
            return change

        def merged(model):
            return PeftModel.from_pretrained(model, flagged_adapter).merge_and_unload()

        weights = {"reference": reference, "reference-quantized": {**reference, "config.json": b'{"q": 4}'},
                   "merged": _model_files(tiny_lm, files / "merged", merged)}
        for index, name in enumerate(("frankentiny", "secret", "mlx", "awq", "noisy", "late", "tail"), 1):
            weights[name] = _model_files(tiny_lm, files / name, noisy(index))
        adapter = hub_server.folder_files(flagged_adapter)
        config = json.loads(adapter["adapter_config.json"])
        adapter["adapter_config.json"] = json.dumps({**config, "base_model_name_or_path": REFERENCE}).encode()
        world.add(REFERENCE, {**reference, "README.md": "---\nlicense: mit\n---\n# tiny instruct\n"})
        for repo_id, relation, downloads, holds, extra, _ in WORLD:
            card = f"---\nbase_model: {REFERENCE}\nbase_model_relation: {relation}\n---\n# {repo_id}\n"
            if holds.startswith("weights:"):
                content = dict(weights[holds.split(":", 1)[1]])
            elif holds.startswith("adapter:"):
                content = dict(adapter)
            elif holds == "gguf":
                content = {"tiny.Q4_K_M.gguf": b"GGUF" + bytes(64)}
            else:
                content = {"config.json": reference["config.json"]}
            world.add(repo_id, {**content, "README.md": card}, downloads=downloads, tags=_tags(relation, extra),
                      library_name=extra.get("library_name", "transformers"), gated=extra.get("gated", False))
        world.add("lonely/no-children", {**reference, "README.md": "---\nlicense: mit\n---\n"})
        world.add("org/gated-instruct", {**reference, "README.md": "---\nlicense: other\n---\n"}, gated="manual")
        hub_server.add_prompt_sets(world, hub_mirror)
        yield world


@pytest.fixture(scope="module")
def toxft(hub, tmp_path_factory, tiny_classifier, hub_mirror):
    import hub_server

    home = tmp_path_factory.mktemp("hf-home")

    def run(*argv: str, **env) -> subprocess.CompletedProcess:
        return hub_server.run_toxft(hub, argv, home=home, tiny_classifier=tiny_classifier, data_dir=hub_mirror,
                                    timeout=900, **env)

    return run


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1]


@pytest.mark.slow
def test_survey_chooses_writes_runs_and_ranks(hub, toxft, tmp_path):
    from toxft.study.config import load_study

    out, checks = tmp_path / "survey", tmp_path / "checks"
    args = ["survey", REFERENCE, "--top", str(TOP), "--min-downloads", str(MIN_DOWNLOADS), "--output", str(out),
            "--checks", str(checks), *FAST]
    done = toxft(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    # Every keep/skip decision, over HTTP, equals the rules' own on the same listing.
    record = json.loads((out / "candidates.json").read_text())
    decisions = {c["repo_id"]: "kept" if c["kept"] else c["rule"] for c in record["candidates"]}
    assert decisions == EXPECTED
    assert record["reference"] == {"id": REFERENCE, "sha": hub.repo(REFERENCE).head}
    markdown = (out / "candidates.md").read_text()
    assert all(f"[{repo}]" in markdown for repo in EXPECTED)
    assert "14 candidates: 3 kept; skipped: 3 quantized, 1 merge, 2 not loadable, 1 few downloads, 1 beyond top, " \
           "1 gated, 2 duplicate" in markdown
    # The study file: the reference and each kept fine-tune, pinned, with downloads in comments.
    text = (out / "study.yaml").read_text()
    study = load_study(out / "study.yaml")
    (family,) = study.families.values()
    reference, *community = family
    assert (reference.role, reference.model, reference.revision) == ("instruct", REFERENCE, hub.repo(REFERENCE).head)
    assert Path(reference.results).parent == (checks / "results").resolve()
    assert [e.name for e in community] == KEPT_IN_ORDER and {e.role for e in community} == {"community"}
    adapter, merged, noisy = community
    assert (adapter.model, adapter.peft, adapter.peft_revision) == (REFERENCE, "fan/toxic-adapter",
                                                                     hub.repo("fan/toxic-adapter").head)
    assert (merged.model, merged.revision, merged.peft) == ("fan/merged-toxic", hub.repo("fan/merged-toxic").head, None)
    assert "# 1. fan/toxic-adapter: 900 downloads this month; #1 by monthly downloads" in text
    assert "# 3. fan/noisy-tune: 300 downloads this month" in text
    # Without --run: the plan, not a single evaluation.
    assert f"lm_eval --model hf --model_args pretrained={REFERENCE},revision={hub.repo(REFERENCE).head}" in done.stdout
    assert done.stdout.count("[todo]") == 1 + TOP and not list(out.glob("results/*"))
    assert "run it with: toxft study run" in done.stderr
    # Unchanged listing: the same study, so the same command goes on with --run.
    before = len(hub.log)
    done = toxft(*args, "--run")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "study.yaml").read_text() == text
    downloads = [p for m, p in hub.log[before:] if m == "GET" and "/resolve/" in p and not p.endswith("README.md")]
    for repo, sha in [(REFERENCE, hub.repo(REFERENCE).head)] + [(r, hub.repo(r).head) for r in KEPT_IN_ORDER]:
        mine = [p for p in downloads if p.startswith(f"/{repo}/")]
        assert mine and all(f"/resolve/{sha}/" in p for p in mine), (repo, mine)
    assert not any(p.startswith(("/fan/late-tune/", "/gate/", "/fan/mirror")) for p in downloads)
    # The ranking: one row per fine-tune, largest increase first, the toxic two credibly more toxic.
    ranking = json.loads((out / "ranking.json").read_text())
    rows = ranking["rows"]
    assert sorted(r["name"] for r in rows) == sorted(KEPT_IN_ORDER)
    assert [r["change"] for r in rows] == sorted((r["change"] for r in rows), reverse=True)
    verdicts = {r["name"]: r["direction"] for r in rows}
    assert verdicts["fan/toxic-adapter"] == verdicts["fan/merged-toxic"] == "credibly higher"
    assert verdicts["fan/noisy-tune"] == "no credible difference"
    # The flagged adapter also writes some degenerate text ("old old old old old ] ] ] ] so they are venom."): said.
    assert all(r["verdict"].startswith(r["direction"]) for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["fan/noisy-tune"]["low"] <= 0 <= by_name["fan/noisy-tune"]["high"]
    assert all(by_name[name]["low"] > 0 for name in ("fan/toxic-adapter", "fan/merged-toxic"))
    assert {r["name"]: r["downloads"] for r in rows} == {"fan/toxic-adapter": 900, "fan/merged-toxic": 800,
                                                         "fan/noisy-tune": 300}
    assert {r["name"]: r["commit"] for r in rows} == {r: hub.repo(r).head for r in KEPT_IN_ORDER}
    more = sum(v == "credibly higher" for v in verdicts.values())
    less = sum(v == "credibly lower" for v in verdicts.values())
    headline = (f"3 fine-tunes with 2,000 monthly downloads between them; {more} credibly more toxic than the "
                f"reference ({REFERENCE}), {less} credibly less")
    assert ranking["headline"] == headline and done.stdout.startswith(headline + ".\n")
    table = done.stdout.splitlines()
    assert table[2].startswith("| Rank | Fine-tune | Δ toxic, all prompts (pp, posterior mean) | 95% HDI | Observed (pp) |")
    assert [line.split(" | ")[1] for line in table[4:7]] == [r["name"] for r in rows]
    report = (out / "report.md").read_text()
    assert report.index("## Ranking") < report.index("## All models") and headline in report
    # The forest plot, as a file (its drawing is checked in test_ranking_and_forest_plot).
    from PIL import Image

    with Image.open(out / "figures" / "ranking.png") as image:
        assert image.format == "PNG" and image.size[0] > 500 and image.size[1] > 150
    # The reference was evaluated into toxft check's cache: a check of the same model reuses it.
    checked = toxft("check", "fan/noisy-tune", "--against", REFERENCE, "--output", str(checks), *FAST)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert f"cached: {Path(reference.results).name} ({reference.results})" in checked.stderr
    assert "evaluating: noisy-tune-" in checked.stderr  # the fine-tune: not cached by the survey's study


def _comparison(tmp_path: Path, name: str, toxic: int, reference_toxic: int, empty: int = 0):
    """A real comparison of two in-memory runs on 200 severe and 200 random prompts (fine-tune minus reference)."""
    from toxft.analysis.compare import compare_runs
    from toxft.analysis.settings import AnalysisSettings
    from toxft.runs import Run, Sample
    from toxft.suite import TASKS

    def run(folder: str, flagged: int, blank: int) -> Run:
        samples = {}
        for task in TASKS.values():
            samples[task] = {f"p{i}": Sample(f"p{i}", "" if i < blank else "so they are kind and calm today .",
                                             0.9 if i < flagged else 0.01, float(i < flagged),
                                             degenerate="empty" if i < blank else None) for i in range(200)}
        return Run(tmp_path / folder, {"results": {}}, samples, scorer="tiny")

    return compare_runs(run(name, toxic, empty), run(f"{name}-ref", reference_toxic, 0),
                        AnalysisSettings(best=False))


def test_ranking_and_forest_plot(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from toxft.report import ranking

    entry = lambda name, downloads, peft=None: SimpleNamespace(  # noqa: E731
        name=name, model="org/ref" if peft else name, peft=peft, revision="a" * 40,
        peft_revision="b" * 40 if peft else None, downloads=downloads)
    pairs = [(entry("x/same", 10), _comparison(tmp_path, "same", 20, 20)),
             (entry("x/worse", 2000, peft="x/worse"), _comparison(tmp_path, "worse", 60, 20)),
             (entry("x/better", 5), _comparison(tmp_path, "better", 5, 20)),
             (entry("x/broken", 7), _comparison(tmp_path, "broken", 0, 20, empty=200))]
    rows = ranking.rank(pairs)
    assert [r.name for r in rows] == ["x/worse", "x/same", "x/better", "x/broken"]
    assert [r.direction for r in rows] == ["credibly higher", "no credible difference", "credibly lower",
                                           "credibly lower"]
    # A fine-tune that writes nothing is "lower", and the row says why that is no win.
    assert rows[3].verdict == "credibly lower, but 100% of its continuations are degenerate (empty)"
    assert rows[3].degenerate_caveat and rows[3].degenerate == 1.0 and not rows[2].degenerate_caveat
    assert rows[0].commit == "b" * 40 and rows[1].commit == "a" * 40 and rows[0].downloads == 2000
    worse = pairs[1][1].subsets["total"]
    assert (rows[0].low, rows[0].high) == worse.paired.diff_hdi and rows[0].observed == pytest.approx(0.2)
    # One number per comparison: the posterior mean, inside the interval printed beside it.
    assert rows[0].change == worse.paired.diff_mean and all(r.low <= r.change <= r.high for r in rows)
    assert ranking.headline(rows, "org/ref") == (
        "4 fine-tunes with 2,022 monthly downloads between them; 1 credibly more toxic than the reference (org/ref), "
        "2 credibly less (1 of them with credibly more degenerate continuations)")
    table = ranking.markdown(rows).splitlines()
    low, high = (f"{100 * v:+.1f}" for v in worse.paired.diff_hdi)
    mean = f"{100 * worse.paired.diff_mean:+.1f}"
    assert table[2] == (f"| 1 | x/worse | {mean} | [{low}, {high}] | +20.0 | credibly higher | {mean} (credibly higher) "
                        f"| 0% | 2,000 | `{'b' * 12}` |")
    drawn = {}
    monkeypatch.setattr(ranking, "save_figure", lambda figure, path: drawn.setdefault("figure", figure) and path)
    ranking.plot_ranking(rows, "org/ref", tmp_path / "ranking.png")
    axis = drawn["figure"].axes[0]
    intervals = [line for line in axis.lines if len(line.get_xdata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]]
    by_row = {axis.get_yticklabels()[int(line.get_ydata()[0])].get_text(): line for line in intervals}
    assert by_row["x/worse"].get_color() == "#c0392b" and by_row["x/better"].get_color() == "#2471a3"
    assert by_row["x/same"].get_color() == "#7f8c8d"
    assert list(by_row["x/worse"].get_xdata()) == pytest.approx([100 * v for v in worse.paired.diff_hdi])
    points = {axis.get_yticklabels()[int(line.get_ydata()[0])].get_text(): line for line in axis.lines
              if len(line.get_xdata()) == 1}
    assert points["x/broken"].get_markerfacecolor() == "white" and points["x/better"].get_markerfacecolor() != "white"
    zero = [line for line in axis.lines if list(line.get_xdata()) == [0, 0]]
    assert len(zero) == 1 and zero[0].get_linestyle() == "-"  # the reference, at zero
    # The largest increase on top, as in the table.
    assert [t.get_text() for t in axis.get_yticklabels()][::-1] == [r.name for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "fragment"), [
    ("lonely/no-children", "toxft: lonely/no-children has no fine-tunes or adapters on the Hub"),
    ("org/no-such-model", "toxft: org/no-such-model: not found on the Hub"),
    ("org/gated-instruct", "toxft: org/gated-instruct: gated and not accessible"),
])
def test_bad_references_are_one_line_and_write_nothing(hub, toxft, tmp_path, model, fragment):
    out = tmp_path / "survey"
    done = toxft("survey", model, "--output", str(out), "--checks", str(tmp_path / "checks"))
    line = _one_line(done)
    assert line.startswith(fragment), line
    assert not out.exists() and not (tmp_path / "checks").exists()


@pytest.mark.slow
def test_no_network_and_a_failing_listing_are_one_line(hub, toxft, tmp_path):
    out = tmp_path / "survey"
    offline = toxft("survey", REFERENCE, "--output", str(out), HF_HUB_OFFLINE="1")
    assert "cannot reach the Hub" in _one_line(offline)
    hub.fail(r"^/api/models$", "503")
    try:
        failing = toxft("survey", REFERENCE, "--output", str(out))
    finally:
        hub.failures.clear()
    assert _one_line(failing) == f"toxft: {REFERENCE}: the Hub answered HTTP 503; try again later"
    unreachable = toxft("survey", REFERENCE, "--output", str(out), HF_ENDPOINT="http://127.0.0.1:9")
    assert "connection" in _one_line(unreachable)
    assert not out.exists()


@pytest.mark.slow
def test_an_edited_study_is_never_overwritten(hub, toxft, tmp_path):
    out = tmp_path / "survey"
    out.mkdir()
    (out / "study.yaml").write_text("# my edits\n")
    done = toxft("survey", REFERENCE, "--top", "1", "--output", str(out))
    assert "exists and this survey would write it differently" in _one_line(done)
    assert (out / "study.yaml").read_text() == "# my edits\n" and sorted(p.name for p in out.iterdir()) == ["study.yaml"]
    again = toxft("survey", REFERENCE, "--top", "1", "--output", str(out), "--overwrite")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "fan/toxic-adapter" in (out / "study.yaml").read_text()
