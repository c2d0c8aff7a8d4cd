"""How much the classifier matters: the same continuations under two scorers, side by side.

Inputs: two harness runs that hold the same continuations (a run and its ``toxft rescore``,
or a built-in ``realtoxicityprompts`` run with Perspective's recorded scores and its rescore).
Output per task and for all of them together: the 2×2 table of toxic flags, the share of
continuations on which the flags agree, Cohen's kappa, Spearman's rank correlation of the
scores, each scorer's toxic rate with a 95% interval, and the continuations they disagree on
most.

  toxft agreement results/A results/A@toxic-bert --examples 5 --json agreement.json --plot agreement.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toxft.errors import ToxftError
from toxft.rescore import BUILTIN_RTP, read_jsonl, continuation, task_of
from toxft.runs import model_folder


@dataclass(frozen=True)
class Scored:
    """One continuation as a run scored it."""

    text: str
    score: float
    toxic: bool


@dataclass
class Agreement:
    """Two scorers on one set of continuations."""

    subset: str
    n: int
    both: int
    only_a: int
    only_b: int
    neither: int
    kappa: float | None
    spearman: float | None
    rate_a: tuple[float, float, float]  # rate, low, high
    rate_b: tuple[float, float, float]
    disagreements: list[dict] = field(default_factory=list)

    @property
    def agree(self) -> float:
        return (self.both + self.neither) / self.n


def read_scored(path: Path) -> tuple[dict[str, dict[str, Scored]], str]:
    """Per task, each continuation's score and flag by prompt id; and what scored them."""
    folder = model_folder(Path(path))
    found: dict[str, dict[str, Scored]] = {}
    scorers = set()
    for samples in sorted(folder.glob("samples_*.jsonl")):
        task = task_of(samples)
        rows = {}
        for row in read_jsonl(samples):
            doc = row.get("doc", {})
            if "toxicity" in row:  # toxft tasks, or a rescored built-in run
                score, flag = float(row["toxicity"]), bool(row["toxic"])
                scorers.add(doc.get("scorer") or "unknown")
            elif task == BUILTIN_RTP and "perspective_api_toxicity_score" in row:
                # The built-in task's rule: toxic at or above 0.5, as Perspective's score was recorded.
                score, flag = float(row["perspective_api_toxicity_score"]), bool(row["score"])
                scorers.add("Perspective API [TOXICITY]")
            else:
                raise ToxftError(f"toxft: {samples} holds no toxicity scores")
            key = str(doc.get("id") or f"rtp:{doc.get('filename')}:{doc.get('begin')}:{doc.get('end')}")
            rows[key] = Scored(continuation(row), score, flag)
        found[task] = rows
    if not found:
        raise ToxftError(f"toxft: {folder} has no samples (run lm_eval with --log_samples)")
    return found, " + ".join(sorted(scorers))


def _rate(k: int, n: int) -> tuple[float, float, float]:
    from scipy.stats import beta

    low, high = beta.ppf([0.025, 0.975], 1 + k, 1 + n - k)
    return k / n, float(low), float(high)


def cohen_kappa(both: int, only_a: int, only_b: int, neither: int) -> float | None:
    """Agreement beyond chance for two raters' 0/1 flags; None when chance agreement is already total."""
    n = both + only_a + only_b + neither
    observed = (both + neither) / n
    pa, pb = (both + only_a) / n, (both + only_b) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return None if math.isclose(chance, 1.0) else (observed - chance) / (1 - chance)


def agreement(subset: str, a: dict[str, Scored], b: dict[str, Scored], examples: int = 0) -> Agreement:
    """The comparison of two scorers on the same continuations (keys: prompt ids)."""
    from scipy.stats import spearmanr

    keys = sorted(a)
    both = sum(a[k].toxic and b[k].toxic for k in keys)
    only_a = sum(a[k].toxic and not b[k].toxic for k in keys)
    only_b = sum(b[k].toxic and not a[k].toxic for k in keys)
    neither = len(keys) - both - only_a - only_b
    scores_a, scores_b = [a[k].score for k in keys], [b[k].score for k in keys]
    rho = spearmanr(scores_a, scores_b).statistic if len(set(scores_a)) > 1 and len(set(scores_b)) > 1 else None
    differ = sorted((k for k in keys if a[k].toxic != b[k].toxic), key=lambda k: (-abs(a[k].score - b[k].score), k))
    shown = [{"id": k, "continuation": a[k].text, "score_a": a[k].score, "score_b": b[k].score} for k in differ[:examples]]
    return Agreement(subset, len(keys), both, only_a, only_b, neither, cohen_kappa(both, only_a, only_b, neither),
                     None if rho is None or math.isnan(rho) else float(rho), _rate(both + only_a, len(keys)),
                     _rate(both + only_b, len(keys)), shown)


def compare_scorers(path_a: Path, path_b: Path, examples: int = 0) -> tuple[list[Agreement], str, str]:
    """Per task and in total; refuses runs that do not hold the same continuations."""
    runs_a, scorer_a = read_scored(path_a)
    runs_b, scorer_b = read_scored(path_b)
    if set(runs_a) != set(runs_b):
        raise ToxftError(f"toxft: the runs hold different tasks ({', '.join(sorted(runs_a))} vs "
                         f"{', '.join(sorted(runs_b))}); agreement needs the same continuations")
    results, total_a, total_b = [], {}, {}
    for task in sorted(runs_a):
        a, b = runs_a[task], runs_b[task]
        if set(a) != set(b) or any(a[k].text != b[k].text for k in a):
            raise ToxftError(f"toxft: {task}: the runs do not hold the same continuations; agreement compares two "
                             "scorers on one set of texts (rescore one run with `toxft rescore`)")
        results.append(agreement(task, a, b, examples))
        total_a.update({f"{task}/{k}": v for k, v in a.items()})
        total_b.update({f"{task}/{k}": v for k, v in b.items()})
    if len(results) > 1:
        results.append(agreement("total", total_a, total_b, examples))
    return results, scorer_a, scorer_b


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(results: list[Agreement], scorer_a: str, scorer_b: str, examples: int) -> str:
    """The text table: one row per subset, then the disagreements."""
    rows = [["subset", "n", "both/A only/B only/neither", "agree", "kappa", "spearman", "toxic A [95%]",
             "toxic B [95%]"]]
    for r in results:
        rows.append([r.subset, str(r.n), f"{r.both}/{r.only_a}/{r.only_b}/{r.neither}", f"{r.agree:.1%}",
                     _number(r.kappa), _number(r.spearman),
                     f"{r.rate_a[0]:.1%} [{r.rate_a[1]:.1%}, {r.rate_a[2]:.1%}]",
                     f"{r.rate_b[0]:.1%} [{r.rate_b[1]:.1%}, {r.rate_b[2]:.1%}]"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"A = {scorer_a}", f"B = {scorer_b}", "toxic flags and scores of the same continuations"]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("-" * len(lines[-1]))
    if examples:
        for r in results:
            if r.subset == "total" or not r.disagreements:
                continue
            lines.append(f"\n{r.subset}: the {len(r.disagreements)} continuations the scorers disagree on most")
            for item in r.disagreements:
                text = " ".join(item["continuation"].split())
                lines.append(f"  A {item['score_a']:.3f} / B {item['score_b']:.3f}: {text[:100]}")
    return "\n".join(lines)


def plot_scores(path_a: Path, path_b: Path, figure: Path, labels: tuple[str, str]) -> Path:
    """Each continuation's two scores, with the 0.5 thresholds: where the scorers part ways."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toxft.files import save_figure

    runs_a, _ = read_scored(path_a)
    runs_b, _ = read_scored(path_b)
    fig, axis = plt.subplots(figsize=(5.2, 5.0))
    for task in sorted(runs_a):
        keys = sorted(runs_a[task])
        axis.scatter([runs_a[task][k].score for k in keys], [runs_b[task][k].score for k in keys], s=8, alpha=0.6,
                     label=task)
    axis.axvline(0.5, color="grey", linewidth=0.8)
    axis.axhline(0.5, color="grey", linewidth=0.8)
    axis.set_xlabel(f"A: {labels[0]}", fontsize=8)
    axis.set_ylabel(f"B: {labels[1]}", fontsize=8)
    axis.set_title("The same continuations under two scorers", fontsize=10)
    axis.legend(fontsize=7)
    return save_figure(fig, figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from toxft.arguments import nonnegative_int

    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="a harness run folder")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="the same continuations under another scorer")
    parser.add_argument("--examples", type=nonnegative_int, default=0, metavar="N",
                        help="show the N continuations per task the scorers disagree on most")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="also draw score against score (PNG, PDF, SVG)")


def run(args: argparse.Namespace) -> int:
    from toxft.files import FIGURE_SUFFIXES, check_output, write_atomically

    if args.json:
        check_output(args.json, "--json", (".json",))
    if args.plot:
        check_output(args.plot, "--plot", FIGURE_SUFFIXES)
    results, scorer_a, scorer_b = compare_scorers(args.run_a, args.run_b, args.examples)
    print(format_table(results, scorer_a, scorer_b, args.examples))
    if args.json:
        record = {"a": {"run": str(args.run_a), "scorer": scorer_a}, "b": {"run": str(args.run_b), "scorer": scorer_b},
                  "subsets": [{**asdict(r), "agree": r.agree} for r in results]}
        write_atomically(args.json, json.dumps(record, indent=2) + "\n")
        print(f"toxft: wrote {args.json}", file=sys.stderr)
    if args.plot:
        plot_scores(args.run_a, args.run_b, args.plot, (scorer_a, scorer_b))
        print(f"toxft: wrote {args.plot}", file=sys.stderr)
    return 0
