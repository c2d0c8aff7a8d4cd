"""Every Hub path end to end over HTTP, through the command line as a user types it.

A Hub-protocol server (tests/hub_server.py) on 127.0.0.1 serves the tests' tiny models,
adapters, cards and prompt sets as Hub repositories with commits; ``HF_ENDPOINT`` points the
toxft commands at it, and through them huggingface_hub, transformers, peft, datasets and
lm_eval, each download a real HTTP request. It is a stand-in for the Hub, not the Hub.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

hub_server = pytest.importorskip("hub_server")
pytestmark = pytest.mark.slow
_files, _env = hub_server.folder_files, hub_server.client_env
FAST = ["--metadata", json.dumps({"n_random": 10, "n_severe": 10}), "--batch-size", "16"]


@pytest.fixture(scope="module")
def hub(tiny_lm, flagged_adapter, hub_mirror):
    """The server and its world: a base, an adapter of it, a full fine-tune, a gated base, a renamed repo."""
    with hub_server.serving() as world:
        world.add("org/tiny-base", {**_files(tiny_lm), "README.md": "---\nlicense: mit\n---\n# tiny base\n"})
        adapter = _files(flagged_adapter)
        config = json.loads(adapter["adapter_config.json"])
        adapter["adapter_config.json"] = json.dumps({**config, "base_model_name_or_path": "org/tiny-base"}).encode()
        adapter["README.md"] = b"---\nlibrary_name: peft\nbase_model: org/tiny-base\n---\n# an adapter\n"
        world.add("org/tiny-adapter", adapter, library_name="peft")
        world.add("org/tiny-full", {**_files(tiny_lm), "README.md": "---\nbase_model: org/tiny-base\n---\n# a copy\n"})
        world.add("org/gated-base", {**_files(tiny_lm), "README.md": "---\nlicense: other\n---\n"}, gated="manual")
        gated_adapter = {**adapter, "adapter_config.json": json.dumps({**config, "base_model_name_or_path":
                                                                        "org/gated-base"}).encode()}
        world.add("org/gated-adapter", gated_adapter)
        world.renamed["org/old-name"] = "org/tiny-full"
        hub_server.add_prompt_sets(world, hub_mirror)
        yield world


@pytest.fixture(scope="module")
def toxft(hub, tmp_path_factory, tiny_classifier, hub_mirror):
    """Run ``toxft ...`` as a user would, against the server; returns the CompletedProcess."""
    home = tmp_path_factory.mktemp("hf-home")

    def run(*argv: str, data_dir: Path | None = hub_mirror, home_dir: Path = home) -> subprocess.CompletedProcess:
        return hub_server.run_toxft(hub, argv, home=home_dir, tiny_classifier=tiny_classifier, data_dir=data_dir)

    return run


@pytest.fixture(scope="module")
def checked_adapter(toxft, tmp_path_factory):
    """`toxft check` of the Hub adapter with --push-to-hub, once: (its CompletedProcess, the checks cache)."""
    output = tmp_path_factory.mktemp("checks")
    return toxft("check", "org/tiny-adapter", "--output", str(output), "--push-to-hub", *FAST), output


@pytest.fixture(scope="module")
def checked_full(toxft, checked_adapter):
    """`toxft check` of the full fine-tune, into the same cache (where the adapter's check evaluated the base)."""
    _, output = checked_adapter
    return toxft("check", "org/tiny-full", "--output", str(output), *FAST), output


def _one_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return lines[-1]


def test_check_an_adapter_evaluates_the_resolved_commits_and_opens_one_pull_request(hub, toxft, checked_adapter):
    done, output = checked_adapter
    assert done.returncode == 0, done.stderr[-3000:]
    # (The tiny adapter also writes some degenerate text, which the line adds before the ": +...".)
    assert done.stdout.startswith("org/tiny-adapter is credibly MORE toxic than org/tiny-base"), done.stdout
    assert "pp toxic continuations" in done.stdout.splitlines()[0]
    base_sha, adapter_sha = hub.repo("org/tiny-base").head, hub.repo("org/tiny-adapter").head
    assert f"reference: org/tiny-base @ {base_sha} (from the adapter's base_model_name_or_path)" in done.stderr
    assert f"model:     org/tiny-adapter @ {adapter_sha}" in done.stderr
    # Every weight, config and tokenizer file came at the resolved commits, none at a moving branch.
    for repo, sha in (("org/tiny-base", base_sha), ("org/tiny-adapter", adapter_sha)):
        files = [p for p in hub.requests("GET", f"/{repo}/resolve/") if not p.endswith("README.md")]
        assert files and all(f"/{repo}/resolve/{sha}/" in p for p in files), files
    assert any("adapter_model.safetensors" in p for p in hub.requests("GET", "/org/tiny-adapter/resolve/"))
    # The report names the commits it evaluated.
    assert f"org/tiny-adapter @ {adapter_sha[:12]}" in done.stdout and f"org/tiny-base @ {base_sha[:12]}" in done.stdout
    # One pull request, whose card has the toxft section and the model-index.
    (pull,) = hub.repo("org/tiny-adapter").pulls
    card = hub.pull_card("org/tiny-adapter", pull["num"])
    assert pull["title"] == "Add toxicity evaluation (toxft)" and "<!-- toxft:start -->" in card
    assert "model-index:" in card and "toxic_rate" in card and "# an adapter" in card
    # Unchanged rerun: cached evaluations, and the open pull request is found instead of a second one.
    again = toxft("check", "org/tiny-adapter", "--output", str(output), "--push-to-hub", *FAST)
    assert again.returncode == 0 and again.stdout == done.stdout
    assert len(hub.repo("org/tiny-adapter").pulls) == 1
    assert f"an open pull request already holds this card: {hub.url}/org/tiny-adapter/discussions/1" in again.stderr


def test_check_a_full_fine_tune_named_by_its_card(hub, checked_full):
    done, _ = checked_full
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("org/tiny-full is not credibly different in toxicity from org/tiny-base")
    assert "(from the card's base_model)" in done.stderr and "cached:" in done.stderr  # the base, evaluated once


def test_a_renamed_repository_is_followed_and_named_by_its_current_id(hub, toxft, checked_full):
    _, output = checked_full
    done = toxft("check", "org/old-name", "--output", str(output), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("org/tiny-full is not credibly different")
    assert "org/old-name was renamed on the Hub; it is now org/tiny-full" in done.stderr
    assert any(p.startswith("/api/models/org/old-name") for p in hub.requests("GET"))  # it did ask the old name


def test_a_gated_reference_is_one_line_and_nothing_is_evaluated(hub, toxft, tmp_path):
    done = toxft("check", "org/gated-adapter", "--output", str(tmp_path / "cache"), *FAST)
    assert done.returncode == 2
    line = _one_line(done)
    assert line.startswith("toxft: reference org/gated-base (from the adapter's base_model_name_or_path): gated")
    assert "request" in line and f"{hub.url}/org/gated-base" in line and "huggingface.co" not in line
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "cache").exists()


def test_study_check_pins_and_the_run_downloads_exactly_those_commits(hub, toxft, tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text("""
name: over http
harness: {model: hf, batch_size: 16, metadata: {n_random: 5, n_severe: 5}}
analysis: {best: false}
comparisons: [instruct-dolly]
dolly_adapters: published
families:
  tiny:
    - {role: instruct, model: org/tiny-base, name: base}
    - {role: dolly, name: base-dolly, published: org/tiny-adapter}
""")
    runs = tmp_path / "runs"
    checked = toxft("study", "plan", str(study), "--output", str(runs), "--check")
    assert checked.returncode == 0, checked.stderr[-2000:]
    pins = json.loads((runs / "pins.json").read_text())
    assert pins == {"models": {"org/tiny-base": hub.repo("org/tiny-base").head},
                    "adapters": {"org/tiny-adapter": hub.repo("org/tiny-adapter").head}}
    start = len(hub.log)
    done = toxft("study", "run", str(study), "--output", str(runs), home_dir=tmp_path / "fresh-home")
    assert done.returncode == 0, done.stderr[-3000:]
    downloads = [p for m, p in hub.log[start:] if m == "GET" and "/resolve/" in p]
    assert downloads
    for repo, sha in (("org/tiny-base", pins["models"]["org/tiny-base"]),
                      ("org/tiny-adapter", pins["adapters"]["org/tiny-adapter"])):
        mine = [p for p in downloads if p.startswith(f"/{repo}/")]
        assert mine and all(f"/resolve/{sha}/" in p for p in mine), mine
    report = (runs / "report.md").read_text()
    assert f"org/tiny-adapter | `{pins['adapters']['org/tiny-adapter'][:12]}`" in report


def test_prompt_sets_come_from_the_dataset_repos_at_a_pinned_revision(hub, toxft, tmp_path):
    """No TOXFT_DATA_DIR: the harness's tasks download the prompt files over HTTP, at the revisions given."""
    rtp, ceb = hub.repo("allenai/real-toxicity-prompts", "dataset"), hub.repo("Song-SW/CEB", "dataset")
    rtp.commit({**rtp.commits[rtp.head], "NOTES.md": b"a later commit"})  # main moves on; the pin must not
    pinned = {"allenai/real-toxicity-prompts": next(iter(rtp.commits)), "Song-SW/CEB": ceb.head}
    done = toxft("check", "org/tiny-full", "--against", "org/tiny-base", "--output", str(tmp_path / "cache"),
                 "--metadata", json.dumps({"n_random": 5, "n_severe": 5, "data_revision": pinned}),
                 "--batch-size", "16", data_dir=None, home_dir=tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    for repo, sha in pinned.items():
        got = hub.requests("GET", f"/datasets/{repo}/resolve/")
        assert got and all(f"/resolve/{sha}/" in p for p in got), got


def test_report_and_finetune_push_through_the_same_server(hub, toxft, tmp_path, checked_full, tiny_lm):
    done, output = checked_full
    assert done.returncode == 0, done.stderr[-3000:]
    (results,) = (output / "results").glob("tiny-full-*")
    done = toxft("report", str(results), "--push-to-hub", "org/tiny-full")
    assert done.returncode == 0, done.stderr[-3000:]
    (pull,) = hub.repo("org/tiny-full").pulls
    assert "<!-- toxft:start -->" in hub.pull_card("org/tiny-full", pull["num"])
    data = tmp_path / "dolly.jsonl"
    data.write_text(json.dumps({"instruction": "say kind", "context": "", "response": "kind", "category": "qa"}) + "\n")
    done = toxft("finetune", "--model", str(tiny_lm), "--output", str(tmp_path / "adapter"), "--data", str(data),
                 "--max-steps", "1", "--per-device-train-batch-size", "1", "--push-to-hub", "me/pushed-adapter")
    assert done.returncode == 0, done.stderr[-3000:]
    files = hub.repo("me/pushed-adapter").commits[hub.repo("me/pushed-adapter").head]
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(files)
    assert not any(name.startswith("checkpoints/") for name in files)


@pytest.mark.parametrize(("where", "how"), [("/api/models/org/tiny-full", "503"),
                                            (r"/org/tiny-full/resolve/[0-9a-f]+/model\.safetensors", "drop")])
def test_a_failing_server_is_one_line_and_a_rerun_finishes(hub, toxft, tmp_path, where, how):
    home = tmp_path / "home"
    hub.fail(where, how)
    try:
        done = toxft("check", "org/tiny-full", "--output", str(tmp_path / "cache"), *FAST, home_dir=home)
    finally:
        hub.failures.clear()
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) >= 1
    line = _one_line(done)
    assert line.startswith("toxft: "), line
    # Nothing in the cache claims to be the complete file.
    weights = list(home.rglob("snapshots/*/model.safetensors"))
    assert all(p.stat().st_size == len(_files_of(hub, "org/tiny-full")["model.safetensors"]) for p in weights)
    again = toxft("check", "org/tiny-full", "--output", str(tmp_path / "cache"), *FAST, home_dir=home)
    assert again.returncode == 0, again.stderr[-3000:]


def _files_of(hub, repo_id: str) -> dict[str, bytes]:
    repo = hub.repo(repo_id)
    return repo.commits[repo.head]


def test_the_model_tree_listing_most_downloaded_first(hub, tmp_path, tiny_classifier):
    """hub.list_finetunes asks the Hub's model listing for a model's fine-tunes (the survey's candidates)."""
    saved = {name: (list(hub.repo(name).tags), hub.repo(name).downloads) for name in ("org/tiny-full", "org/tiny-adapter")}
    hub.repo("org/tiny-full").tags[:] = ["base_model:finetune:org/tiny-base"]
    hub.repo("org/tiny-full").downloads = 50
    hub.add("fan/popular-tune", {"config.json": "{}", "README.md": "---\nbase_model: org/tiny-base\n---\n"},
            tags=["base_model:finetune:org/tiny-base"], downloads=900)
    hub.repo("org/tiny-adapter").tags[:] = ["base_model:adapter:org/tiny-base"]
    code = ("import json, sys; from toxft.hub import list_finetunes; "
            "print(json.dumps([[m.id, m.downloads] for m in list_finetunes(sys.argv[1], sys.argv[2])]))")
    env = _env(hub, tmp_path / "home", tiny_classifier, None)
    try:
        done = subprocess.run([sys.executable, "-c", code, "org/tiny-base", "finetune"], capture_output=True,
                              text=True, env=env, check=False)
    finally:  # the other tests' world as it was
        for name, (tags, downloads) in saved.items():
            hub.repo(name).tags[:], hub.repo(name).downloads = tags, downloads
        hub.repos.pop(("model", "fan/popular-tune"), None)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [["fan/popular-tune", 900], ["org/tiny-full", 50]]
    listed = hub.requests("GET", "/api/models?")
    assert listed and "filter=base_model%3Afinetune%3Aorg%2Ftiny-base" in listed[-1] and "sort=downloads" in listed[-1]
