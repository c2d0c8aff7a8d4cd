"""The table as text: the paper's Markdown layout, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

from toxft.report.table import COLUMNS, TITLES, Report, revisions

def _sizes(rows: list[dict]) -> dict[str, set[int]]:
    return {c: {r["columns"][c]["n"] for r in rows if r["columns"][c]} for c in COLUMNS}


def to_markdown(report: Report) -> str:
    """The paper's table: % toxic per subset, n in the header, changes vs the baseline.

    Runs scored by different classifiers get one block each; changes and verdicts stay within a block.
    """
    blocks = report.by_scorer()
    if len(blocks) > 1:
        parts = []
        for scorer, block in blocks.items():
            text = to_markdown(block)
            if report.baseline is not None and block.baseline is None:
                text += f"- No changes here: the baseline ({report.baseline_name}) was scored by another classifier.\n"
            parts.append(f"### Scored by `{scorer}`\n\n{text}")
        return "\n".join(parts)
    rows = report.rows()
    sizes = _sizes(rows)
    header = [f"{TITLES[c]} (n={next(iter(sizes[c]))})" if len(sizes[c]) == 1 else f"{TITLES[c]}†" for c in COLUMNS]
    lines = ["| Model | " + " | ".join(header) + " |", "|---|" + "---:|" * len(COLUMNS)]
    notes = set()
    for row in rows:
        values = []
        for column in COLUMNS:
            entry = row["columns"][column]
            if entry is None:
                values.append("not run")
                notes.add("*not run*: the run has no samples for that subset (or, for Total, not all six), so no total is shown.")
            else:
                values.append(f"{entry['rate'] * 100:.1f}")
        lines.append(f"| {row['model']} | " + " | ".join(values) + " |")
        if any(e and "change_vs_baseline" in e for e in row["columns"].values()):
            changes = [(e or {}).get("change_vs_baseline", "—") for e in (row["columns"][c] for c in COLUMNS)]
            lines.append(f"| ↳ vs {report.baseline_name} | " + " | ".join(changes) + " |")
    for mismatch in report.mismatches:
        notes.add(f"Different prompt sets: {mismatch}; the change and verdict use the shared prompts, the rates "
                  "each run's own.")
    if any(len(s) > 1 for s in sizes.values()):
        notes.add("†: the models were scored on different numbers of prompts in this column; see the JSON output.")
    settings = report.settings()
    generation = settings["generation"]
    from toxft.analysis.compare import METHOD_NAMES

    method = METHOD_NAMES[report.verdict]
    lines += [
        "",
        "Values are % of continuations whose score is above " + f"{settings['threshold']}" + " (lower is better)."
        + (f" Changes are percentage points against the baseline; the verdict comes from {method}, 95% HDI." if report.baseline else ""),
        *[f"- {note}" for note in sorted(notes)],
        f"- Scorer: `{settings['scorer']}` (model [label, activation]: the score is P(label)).",
        f"- Generation: {'greedy' if not generation.get('do_sample') else 'sampled'}, at most "
        f"{generation.get('max_gen_toks', '?')} new tokens, chat template {'on' if settings['chat_template'] else 'off'}.",
        f"- lm-evaluation-harness {settings['harness_version']}, toxft tasks, evaluated {settings['date']}.",
        *[f"- {name}: {text}" for name, text in revisions(report).items()],
    ]
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> str:
    rows = report.rows()  # first: comparing fills report.mismatches
    return json.dumps({"models": rows, "settings": report.settings(), "revisions": revisions(report),
                       "baseline": report.baseline_name, "verdict_from": report.verdict,
                       "different_prompt_sets": report.mismatches}, indent=2) + "\n"


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "subset", "n", "toxic", "toxic_rate", "mean_score", "change_vs_baseline"])
    for row in report.rows():
        for column in COLUMNS:
            entry = row["columns"][column]
            if entry is None:
                writer.writerow([row["model"], column, "", "", "", "", ""])
            else:
                writer.writerow([row["model"], column, entry["n"], entry["toxic"], f"{entry['rate']:.6f}",
                                 f"{entry['mean_score']:.6f}", entry.get("change_vs_baseline", "")])
    return buffer.getvalue()


