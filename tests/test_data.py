"""Prompt selection: deterministic, order-independent, schema-robust, offline."""

from __future__ import annotations

import json
import random

import pytest

from toxft import data

from toxft.demo.tiny import write_hub_mirror


def test_sampling_ignores_row_order(hub_mirror, tmp_path):
    first = data.rtp_docs("random", 15, seed=7, data_dir=str(hub_mirror))
    lines = (hub_mirror / data.RTP_REPO / data.RTP_FILE).read_text().splitlines()
    random.Random(1).shuffle(lines)
    shuffled = tmp_path / data.RTP_REPO / data.RTP_FILE
    shuffled.parent.mkdir(parents=True)
    shuffled.write_text("\n".join(lines) + "\n")
    second = data.rtp_docs("random", 15, seed=7, data_dir=str(tmp_path))
    assert [d["id"] for d in first] == [d["id"] for d in second]
    assert len({d["id"] for d in first}) == 15


def test_seed_changes_the_sample(hub_mirror):
    a = {d["id"] for d in data.rtp_docs("random", 15, seed=1, data_dir=str(hub_mirror))}
    b = {d["id"] for d in data.rtp_docs("random", 15, seed=2, data_dir=str(hub_mirror))}
    assert a != b


def test_severe_subset_skips_null_scores_and_takes_all_when_few(hub_mirror):
    rows = [json.loads(line) for line in (hub_mirror / data.RTP_REPO / data.RTP_FILE).read_text().splitlines()]
    eligible = {f"rtp:{data.rtp_identity(r)}" for r in rows
                if r["prompt"]["severe_toxicity"] is not None and r["prompt"]["severe_toxicity"] > 0.75}
    assert any(r["prompt"]["severe_toxicity"] is None for r in rows)
    docs = data.rtp_docs("severe", 1000, data_dir=str(hub_mirror))
    assert {d["id"] for d in docs} == eligible
    assert all(d["prompt_severe_toxicity"] > 0.75 for d in docs)


def test_duplicate_rows_are_sampled_once(tmp_path):
    root = write_hub_mirror(tmp_path, n_rtp=10)
    path = root / data.RTP_REPO / data.RTP_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + lines[:3]) + "\n")
    docs = data.rtp_docs("random", 1000, data_dir=str(root))
    assert len(docs) == 10 == len({d["id"] for d in docs})


def test_ceb_prompts_verbatim(hub_mirror):
    docs = data.ceb_docs("age", data_dir=str(hub_mirror))
    source = json.loads((hub_mirror / data.CEB_REPO / "CEB-Continuation-T" / "age.json").read_text())
    assert sorted(d["prompt"] for d in docs) == sorted(r["prompt"] for r in source)
    assert {d["subset"] for d in docs} == {"ceb_age"}


def test_missing_file_names_the_expected_path(tmp_path):
    with pytest.raises(data.DataError, match=str(tmp_path / "allenai" / "real-toxicity-prompts" / "prompts.jsonl")):
        data.rtp_docs("random", 10, data_dir=str(tmp_path))


def test_wrong_schema_is_reported(tmp_path):
    path = tmp_path / data.RTP_REPO / data.RTP_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"text": "no nesting"}) + "\n")
    with pytest.raises(data.DataError, match="schema"):
        data.rtp_docs("random", 10, data_dir=str(tmp_path))


def test_hub_path_fails_cleanly_offline(monkeypatch):
    monkeypatch.delenv("TOXFT_DATA_DIR", raising=False)
    with pytest.raises(data.DataError, match="TOXFT_DATA_DIR"):
        data.ceb_docs("race")


def test_real_mirror_sizes(shared_hub):
    random_docs = data.rtp_docs("random", 1000, data_dir=str(shared_hub))
    severe_docs = data.rtp_docs("severe", 1000, data_dir=str(shared_hub))
    assert len(random_docs) == 1000 == len({d["id"] for d in random_docs})
    rows = [json.loads(line) for line in (shared_hub / data.RTP_REPO / data.RTP_FILE).read_text().splitlines()]
    severe_rows = [r for r in rows if (r["prompt"]["severe_toxicity"] or 0) > 0.75]
    assert len(severe_rows) == 302
    # The file repeats a few rows verbatim: each distinct row is one prompt.
    assert len(severe_docs) == len({data.rtp_identity(r) for r in severe_rows})
    assert all(d["prompt_severe_toxicity"] > 0.75 for d in severe_docs)
    for group in data.CEB_GROUPS:
        docs = data.ceb_docs(group, data_dir=str(shared_hub))
        assert len(docs) == 100 == len({d["id"] for d in docs})


def test_a_prompt_in_both_rtp_subsets_counts_once_in_their_pool(shared_hub):
    """The paper draws random and severe independently, so they share prompts (on the mirror, 4 of the first 20
    random ones); the pooled total and the callback's prompt set count such a prompt once."""
    from pathlib import Path

    from toxft.callbacks import ToxicityCallback
    from toxft.runs import Run, Sample
    from toxft.suite import TASK_OF

    severe = data.rtp_docs("severe", 20, data_dir=str(shared_hub))
    random_docs = data.rtp_docs("random", 20, data_dir=str(shared_hub))
    shared = {d["id"] for d in severe} & {d["id"] for d in random_docs}
    assert shared, "the mirror's first prompts no longer overlap: pick sizes that do"
    docs = {"severe": severe, "random": random_docs,
            **{group: data.ceb_docs(group, data_dir=str(shared_hub))[:2] for group in data.CEB_GROUPS}}
    run = Run(Path("run"), {}, {TASK_OF[name]: {d["id"]: Sample(d["id"], " text", 0.1, 0.0) for d in rows}
                                for name, rows in docs.items()})
    assert len(run.subset("severe")) == len(run.subset("random")) == 20
    assert len(run.subset("total")) == 40 - len(shared) + 8
    prompts, subsets = ToxicityCallback(n_severe=20, n_random=20, data_dir=str(shared_hub)).prompts()
    assert len(prompts) == 40 - len(shared) and subsets.count("severe") == 20
