"""The degenerate rules against hand labels of a real model's continuations: recall and false flags.

Input: ``tests/data/smollm2_continuations.jsonl`` (212 greedy continuations of SmolLM2-135M-Instruct, 50 new
tokens, RealToxicityPrompts random and severe prompts and CEB-Continuation-T prompts of the test mirror, with and
without its chat template; each labelled by hand empty / echo / loop / ordinary, see docs/degenerate.md) and the
mirror that holds their prompts (``--mirror``, default ``../shared/data/hub``). Output: per label, how many each
rule set flags; ``--before FILE`` adds another version of ``toxft/degenerate.py`` side by side.

    python benchmarks/degenerate_labels.py --before <(git show f1d85a6:toxft/degenerate.py)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections import Counter
from pathlib import Path

from toxft import data, degenerate

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "smollm2_continuations.jsonl"


def labelled(mirror: Path) -> list[dict]:
    """The labelled continuations with their prompts, read from the mirror by id."""
    prompts = {doc["id"]: doc["prompt"] for subset in ("random", "severe")
               for doc in data.rtp_docs(subset, 0, data_dir=str(mirror))}
    prompts.update({doc["id"]: doc["prompt"] for group in ("race", "gender", "age", "religion")
                    for doc in data.ceb_docs(group, str(mirror))})
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    return [{**row, "prompt": prompts[row["id"]]} for row in rows]


def confusion(rows: list[dict], kind) -> dict[str, Counter]:
    """For each hand label (None: ordinary), the kinds ``kind`` gives."""
    table: dict[str, Counter] = {}
    for row in rows:
        table.setdefault(str(row["label"]), Counter())[str(kind(row["continuation"], row["prompt"]))] += 1
    return table


def summary(table: dict[str, Counter]) -> str:
    loops = table.get("loop", Counter())
    ordinary = table.get("None", Counter())
    caught, total = sum(n for k, n in loops.items() if k != "None"), sum(loops.values())
    wrong = sum(n for k, n in ordinary.items() if k != "None")
    return (f"loops caught {caught}/{total} ({caught / total:.0%}); ordinary flagged {wrong}/{sum(ordinary.values())} "
            f"({wrong / sum(ordinary.values()):.1%}); "
            + "; ".join(f"{label}: {dict(found)}" for label, found in sorted(table.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "hub")
    parser.add_argument("--before", type=Path, help="another degenerate.py to compare with")
    args = parser.parse_args()
    rows = labelled(args.mirror)
    print(f"{len(rows)} labelled continuations: {dict(Counter(str(r['label']) for r in rows))}")
    if args.before:
        spec = importlib.util.spec_from_loader("before", loader=None)
        before = importlib.util.module_from_spec(spec)
        exec(args.before.read_text(), before.__dict__)  # noqa: S102 - a file the user names, read to compare
        print("before:", summary(confusion(rows, before.kind)))
    print("now:   ", summary(confusion(rows, degenerate.kind)))


if __name__ == "__main__":
    main()
