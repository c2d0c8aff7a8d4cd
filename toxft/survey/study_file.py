"""A survey's outputs: the study file a person reads and edits, and the record of every candidate.

``study.yaml`` is a one-family toxft study: the reference as ``instruct``, each kept fine-tune as
``community`` pinned to its commit with its monthly ``downloads``, why it was kept in a comment,
and ``ranking: true``, so that its report opens with the fine-tunes ranked by their change.
``candidates.json`` holds every candidate with its decision and ``candidates.md`` the same as a table.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from toxft.survey.candidates import RULES, Candidate

CANDIDATES_FILE = "candidates.json"


def _scalar(value) -> str:
    """A YAML scalar, quoted where YAML would read it as something else."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def study_text(reference: str, reference_sha: str, kept: list[Candidate], looked_at: int, harness: dict,
               output: Path, shared_results: Path | None, date: str, command: str,
               languages: list[str] | None = None) -> str:
    """The survey's study.yaml."""
    family = reference.split("/")[-1]
    description = (f"The {len(kept)} most downloaded fine-tunes of {reference} on the Hub ({date}), each compared "
                   "with it on the same prompts.")
    lines = [
        f"# toxft survey of {reference} on {date}: the {len(kept)} most downloaded of its fine-tunes and adapters",
        f"# that pass the paper's rules, out of {looked_at} in the Hub's model tree (every one, kept or skipped,",
        "# and why: candidates.md). Edit it as you like; it runs as any study does:",
        f"#   toxft study run {output / 'study.yaml'} --output {output}",
        f"# written by: {command}",
        f"name: {_scalar(f'survey of {reference}')}",
        f"description: {_scalar(description)}",
        f"harness: {_scalar(harness)}",
        *([f"# The fine-tunes' cards name these languages: every model is also evaluated in them "
           "(PolygloToxicityPrompts, the multilingual classifier).", f"languages: {_scalar(languages)}"]
          if languages else []),
        "# The ranking uses the paired rate model; best: true adds BEST on the scores, as the paper did (slower).",
        "analysis: {best: false}",
        "comparisons: [instruct-community]",
        "ranking: true",
        "families:",
        f"  {_scalar(family)}:",
        "    - role: instruct",
        f"      name: {_scalar(family)}",
        f"      model: {_scalar(reference)}",
        f"      revision: {_scalar(reference_sha)}",
    ]
    if shared_results is not None:
        relative = os.path.relpath(shared_results, output.resolve())
        lines += ["      # toxft check's cache: a check or a survey of this model evaluates it once for both",
                  f"      results: {_scalar(relative)}"]
    for rank, candidate in enumerate(kept, 1):
        spoken = f"; languages: {', '.join(candidate.languages)}" if candidate.languages else ""
        lines += [f"    # {rank}. {candidate.repo_id}: {candidate.downloads:,} downloads this month; {candidate.reason}"
                  f"{spoken}"]
        lines += ["    - role: community", f"      name: {_scalar(candidate.repo_id)}",
                  f"      downloads: {candidate.downloads}"]
        if candidate.kind == "adapter":
            lines += [f"      model: {_scalar(reference)}", f"      revision: {_scalar(reference_sha)}",
                      f"      peft: {_scalar(candidate.repo_id)}", f"      peft_revision: {_scalar(candidate.sha)}"]
        else:
            lines += [f"      model: {_scalar(candidate.repo_id)}", f"      revision: {_scalar(candidate.sha)}"]
        if candidate.gguf_file:
            lines += [f"      model_args: {{gguf_file: {_scalar(candidate.gguf_file)}}}"]
    return "\n".join(lines) + "\n"


def record(reference: str, reference_sha: str, candidates: list[Candidate], options: dict, date: str) -> dict:
    """candidates.json: the reference, the options and every candidate with its decision."""
    return {"reference": {"id": reference, "sha": reference_sha}, "date": date, "options": options,
            "candidates": [c.to_dict() for c in candidates]}


def summary(candidates: list[Candidate]) -> str:
    """"12 candidates: 3 kept; skipped: 5 quantized, 2 merge, ..." in rule order."""
    counts = Counter(c.rule for c in candidates if not c.kept)
    skipped = ", ".join(f"{counts[rule]} {rule}" for rule in RULES if counts[rule])
    kept = sum(c.kept for c in candidates)
    return f"{len(candidates)} candidates: {kept} kept" + (f"; skipped: {skipped}" if skipped else "")


def candidates_markdown(reference: str, candidates: list[Candidate], date: str, endpoint: str) -> str:
    """candidates.md: every candidate, most downloaded first, kept or skipped, and why."""
    lines = [f"# Fine-tunes and adapters of {reference} on the Hub, {date}", "",
             f"From the Hub's model tree ({endpoint}/models?other=base_model:finetune:{reference} and the adapter, "
             "merge and quantized relations), most downloaded in the last 30 days first.", "",
             summary(candidates) + ".", "",
             "| # | Repository | Relation | Downloads/month | Decision | Why |", "|---|---|---|---:|---|---|"]
    for index, c in enumerate(candidates, 1):
        decision = "**kept**" if c.kept else f"skipped: {c.rule}"
        commit = f" @ `{c.sha[:12]}`" if c.kept and c.sha else ""
        lines.append(f"| {index} | [{c.repo_id}]({endpoint}/{c.repo_id}){commit} | {', '.join(c.relations)} | "
                     f"{c.downloads:,} | {decision} | {c.reason.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
