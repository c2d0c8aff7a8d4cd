"""The table as text: the paper's Markdown layout, JSON and CSV. Renderers only: every number and verdict
comes from the :class:`~toxft.report.table.Report` and the comparisons it holds."""

from __future__ import annotations

import csv
import io
import json

from toxft.report.table import TITLES, Report, cells, revisions


def _sizes(rows: list[dict], columns: list[str]) -> dict[str, set[int]]:
    return {c: {r["columns"][c]["n"] for r in rows if r["columns"][c]} for c in columns}


def _degenerate_notes(report: Report, columns: list[str]) -> list[str]:
    """Each model's share of degenerate continuations and mean length, on its widest column."""
    parts = []
    for run, name in zip(report.runs, report.names):
        table = cells(run, columns)
        cell = next((table[c] for c in columns if table.get(c)), None)
        if cell is None:
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(cell.kinds.items(), key=lambda kv: -kv[1]))
        parts.append(f"{name} {cell.degenerate_share:.0%}" + (f" ({kinds})" if kinds else "")
                     + f", mean {cell.mean_words:.1f} words")
    return [f"Degenerate continuations (empty, short, echo, loop; see toxft.degenerate): {'; '.join(parts)}."]


def _hollow_rates(report: Report) -> list[str]:
    """A plain sentence per model whose continuations are mostly degenerate in some subsets."""
    notes = []
    for name, hollow in report.mostly_degenerate():
        where = ", ".join(f"{TITLES[column]} {cell.degenerate_share:.0%} ({_kinds(cell.kinds)})" for column, cell in hollow)
        notes.append(f"**{name}: most continuations are degenerate** in {where}: its toxic rate there is mostly text "
                     "that says nothing, not evidence of safety.")
    return notes


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(k for k, _ in sorted(kinds.items(), key=lambda kv: -kv[1]))


def _failed_requests(report: Report) -> list[str]:
    notes = []
    for run, name in zip(report.runs, report.names):
        missing = run.unscored()
        if missing:
            total = sum(len(t) for t in run.samples.values())
            notes.append(f"{name}: {missing} of {total} continuations have no score (failed Perspective requests, "
                         "recorded as 0 by the harness); they are left out of every rate and comparison.")
    return notes


def _language_notes(report: Report) -> list[str]:
    """Which classifier scored the language blocks, and where it was not trained; none without a language block."""
    scorers = report.language_scorers()
    if not scorers:
        return []
    notes = [f"- Languages {', '.join(langs)} (PolygloToxicityPrompts, ptp-<lang>, its own prompts; some are machine "
             f"translations): scored by `{scorer}`." for scorer, langs in scorers.items()]
    notes += [f"- **Warning:** {text}." for text in report.language_warnings()]
    notes.append("- These language rates come from a local classifier and are not comparable with the "
                 "PolygloToxicityPrompts paper's Perspective API numbers.")
    return notes


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
    columns = report.columns
    sizes = _sizes(rows, columns)
    header = [f"{TITLES[c]} (n={next(iter(sizes[c]))})" if len(sizes[c]) == 1 else f"{TITLES[c]}†" for c in columns]
    lines = ["| Model | " + " | ".join(header) + " |", "|---|" + "---:|" * len(columns)]
    notes = set()
    for row in rows:
        values = []
        for column in columns:
            entry = row["columns"][column]
            if entry is None:
                values.append("not run")
                notes.add("*not run*: the run has no scored samples for that subset (or, for Total, not all six), "
                          "so no total is shown.")
            else:
                values.append(f"{entry['rate'] * 100:.1f}")
        lines.append(f"| {row['model']} | " + " | ".join(values) + " |")
        if any(e and "change_vs_baseline" in e for e in row["columns"].values()):
            changes = [(e or {}).get("change_vs_baseline", "—") for e in (row["columns"][c] for c in columns)]
            lines.append(f"| ↳ vs {report.baseline_name} | " + " | ".join(changes) + " |")
    for mismatch in report.mismatches:
        notes.add(f"Different prompt sets: {mismatch}; the change and verdict use the shared prompts, the rates "
                  "each run's own.")
    if any(len(s) > 1 for s in sizes.values()):
        notes.add("†: the models were scored on different numbers of prompts in this column; see the JSON output.")
    recorded = report.settings_recorded()
    generation = recorded["generation"]
    verdicts = (f" Changes are percentage points against the baseline, the posterior mean of the verdict's rate model "
                f"(the rates above are observed); the verdict comes from "
                f"{report.settings.describe()}." if report.baseline is not None else "")
    lines += [
        "",
        f"Values are % of continuations whose score is above {recorded['threshold']} (lower is better).{verdicts}",
        *[f"- {note}" for note in sorted(notes)],
        *[f"- {note}" for note in _failed_requests(report)],
        *[f"- {note}" for note in _degenerate_notes(report, columns)],
        *[f"- {note}" for note in _hollow_rates(report)],
        f"- Scorer: `{recorded['scorer']}` (model [label, activation]: the score is P(label)).",
        *_language_notes(report),
        f"- Generation: {'greedy' if not generation.get('do_sample') else 'sampled'}, at most "
        f"{generation.get('max_gen_toks', '?')} new tokens, chat template {'on' if recorded['chat_template'] else 'off'}.",
        f"- lm-evaluation-harness {recorded['harness_version']}, toxft tasks, evaluated {recorded['date']}.",
        *[f"- {name}: {text}" for name, text in revisions(report).items()],
    ]
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> str:
    """The table as JSON: every model's cells, the comparisons' settings and the recorded run settings."""
    return json.dumps({"models": report.rows(), "settings": report.settings_recorded(),
                       "language_scorers": report.language_scorers(), "language_warnings": report.language_warnings(),
                       "analysis": report.settings.to_dict(), "revisions": revisions(report),
                       "baseline": report.baseline_name, "verdict_from": report.settings.verdict,
                       "interval": report.settings.interval(), "different_prompt_sets": report.mismatches},
                      indent=2) + "\n"


def to_csv(report: Report) -> str:
    """One row per model and subset."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "subset", "n", "toxic", "toxic_rate", "mean_score", "degenerate_share", "mean_words",
                     "change_vs_baseline"])
    for row in report.rows():
        for column, entry in row["columns"].items():
            if entry is None:
                writer.writerow([row["model"], column, "", "", "", "", "", "", ""])
            else:
                writer.writerow([row["model"], column, entry["n"], entry["toxic"], f"{entry['rate']:.6f}",
                                 f"{entry['mean_score']:.6f}", f"{entry['degenerate']:.6f}",
                                 f"{entry['mean_words']:.2f}", entry.get("change_vs_baseline", "")])
    return buffer.getvalue()
