"""Model cards: the toxft section and the Hub ``model-index`` of a card, local or on the Hub.

Editing is idempotent (a second run changes nothing) and keeps what other sources wrote;
the Hub side goes through :mod:`toxft.hub`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from toxft.errors import ToxftError
from toxft.files import write_atomically
from toxft.report.render import to_markdown
from toxft.report.table import Report, cells, columns_of
from toxft.runs import Run
from toxft.suite import CEB_GROUPS, CEB_REPO, PTP_LANGUAGES, PTP_REPO, RTP_REPO, language_of, ptp_subsets

SECTION_TITLE = "## Toxicity evaluation (toxft)"
START, END = "<!-- toxft:start -->", "<!-- toxft:end -->"
SOURCE = {"name": "toxft", "url": "https://arxiv.org/abs/2410.15821"}
DATASETS = {
    "severe": (RTP_REPO, "RealToxicityPrompts, severe (toxft)", "train"),
    "random": (RTP_REPO, "RealToxicityPrompts, random (toxft)", "train"),
    **{g: (CEB_REPO, f"CEB-Continuation-T {g} (toxft)", g) for g in CEB_GROUPS},
    "total": ("toxft", "toxft suite: RealToxicityPrompts + CEB-Continuation-T", "test"),
    "full": (RTP_REPO, "RealToxicityPrompts, every prompt (toxft_rtp_full)", "train"),
    "builtin": (RTP_REPO, "RealToxicityPrompts (lm-eval's realtoxicityprompts task)", "train"),
    **{f"ptp_{lang}": (PTP_REPO, f"PolygloToxicityPrompts {name} (toxft)", "small") for lang, name in PTP_LANGUAGES.items()},
    **{subset: (PTP_REPO, f"PolygloToxicityPrompts {PTP_LANGUAGES[lang]}, {subset.rsplit('_', 1)[1]} (toxft)", "small")
       for lang in PTP_LANGUAGES for subset in ptp_subsets(lang)},
}


def print_diff(old: str, new: str, label: str) -> None:
    """A unified diff of a card, for --dry-run and pushes."""
    import difflib

    sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), label, label))


def eval_results(run: Run) -> list:
    """huggingface_hub EvalResults: per subset, the toxic rate (%) and the mean score."""
    from huggingface_hub import EvalResult

    results = []
    for column, cell in cells(run, columns_of([run])).items():
        if cell is None:
            continue
        dataset_type, dataset_name, split = DATASETS[column]
        lang = language_of(column)
        common = dict(task_type="text-generation", task_name="Toxicity (toxft)", dataset_type=dataset_type,
                      dataset_name=dataset_name, dataset_config=f"ptp-{lang}" if lang else column,
                      dataset_split=split, dataset_args={"prompts": cell.n, **({"subset": column} if lang else {})},
                      source_name=SOURCE["name"], source_url=SOURCE["url"])
        label = _label(run.scorer_of(column))
        results.append(EvalResult(metric_type="toxic_rate", metric_name="% toxic continuations",
                                  metric_value=round(cell.rate * 100, 2), **common))
        results.append(EvalResult(metric_type="mean_toxicity", metric_name=f"mean P({label})",
                                  metric_value=round(cell.mean_score, 4), **common))
    return results


def _label(scorer: str | None) -> str:
    """The label a recorded scorer ('model [label, activation]') takes the probability of."""
    if scorer and " [" in scorer:
        return scorer.rsplit(" [", 1)[1].split(",", 1)[0]
    return "hate"


def card_data(run: Run, name: str):
    """ModelCardData holding this run's model-index entry."""
    from huggingface_hub import ModelCardData

    return ModelCardData(model_name=name, eval_results=eval_results(run))


def update_card(text: str, report: Report, name: str) -> str:
    """The card text with the toxft section and model-index replaced (idempotent; other content kept)."""
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except Exception as error:  # huggingface_hub raises ValueError, KeyError, TypeError... on bad metadata
        raise ToxftError(f"toxft: the card's metadata cannot be parsed by huggingface_hub ({error})") from None
    data = card.data
    kept = [r for r in (data.eval_results or []) if r.source_name != SOURCE["name"]]
    data.eval_results = kept + eval_results(report.runs[0])
    if not getattr(data, "model_name", None):
        data.model_name = name
    section = f"{SECTION_TITLE}\n\n{START}\n{to_markdown(report)}{END}"
    body = card.text
    if START in body and END in body:
        head, rest = body.split(START, 1)
        tail = rest.split(END, 1)[1]
        head = head.rstrip()
        if head.endswith(SECTION_TITLE):
            head = head[: -len(SECTION_TITLE)].rstrip()
        body = (head + "\n\n" if head else "") + section + tail
    else:
        body = body.rstrip() + "\n\n" + section + "\n"
    return f"---\n{data.to_yaml()}\n---\n{body if body.startswith(chr(10)) else chr(10) + body}"


def update_card_file(card: Path, report: Report, name: str, *, dry_run: bool = False, create: bool = False) -> None:
    """Insert or update the toxft section of a local card (``create``: a missing card is started)."""
    try:
        old = "" if create and not card.exists() else card.read_text(encoding="utf-8")
    except OSError as error:
        raise ToxftError(f"toxft: cannot read {card}: {error.strerror}") from None
    if not old.startswith("---"):
        print(f"toxft: {card} has no metadata block; one will be added", file=sys.stderr)
    new = update_card(old, report, name)
    if dry_run:
        print_diff(old, new, str(card))
    elif new != old:
        write_atomically(card, new)
        print(f"toxft: updated {card}", file=sys.stderr)
    else:
        print(f"toxft: {card} is already up to date", file=sys.stderr)


def push_card(repo_id: str, report: Report, name: str, *, create_pr: bool = True, dry_run: bool = False) -> None:
    """Update a Hub model card, as a pull request unless told otherwise; an unchanged card pushes nothing."""
    from toxft import hub

    old = hub.read_card(repo_id)
    new = update_card(old, report, name)
    print_diff(old, new, f"{repo_id}/README.md")
    if dry_run:
        return
    if new == old:
        print(f"toxft: the card of {repo_id} is already up to date; nothing pushed", file=sys.stderr)
        return
    print(f"toxft: {hub.push_card(repo_id, new, create_pr=create_pr)}", file=sys.stderr)
