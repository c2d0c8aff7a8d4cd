"""How much the classifier matters: the same continuations under two scorers, side by side.

Inputs: two harness runs that hold the same continuations (a run and its ``toxft rescore``, or a
built-in ``realtoxicityprompts`` run with Perspective's recorded scores and its rescore), or two
folders of such runs in the same layout (every run paired with its namesake). Output per task and
for all of them together: the 2×2 table of toxic flags, the share of continuations on which the
flags agree, Cohen's kappa, Spearman's rank correlation of the scores, each scorer's toxic rate
with its highest-density interval (the interval every toxft table uses), and the continuations
they disagree on most; for folders, a table per run and a pooled line.

Only continuations both scorers actually scored count: a failed Perspective request (recorded as
0 by the harness, a score Perspective never gives) is left out of every figure, and the table
says how many were.

  toxft agreement results/A results/A@toxic-bert --examples 5 --json agreement.json --plot agreement.png
  toxft agreement old-runs/ rescored/                                   # every run of two folders
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toxft.errors import ToxftError
from toxft.rescore import continuations, locate, read_jsonl
from toxft.runs import PERSPECTIVE, perspective_score
from toxft.suite import BUILTIN_RTP, GEHMAN, rtp_id


@dataclass(frozen=True)
class Scored:
    """One continuation as a run scored it (``score`` None: the scorer gave none, a failed request)."""

    text: str
    score: float | None
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
    rate_a: tuple[float, float, float]  # rate, and its HDI
    rate_b: tuple[float, float, float]
    left_out: int = 0  # continuations one of the scorers gave no score (failed Perspective requests)
    disagreements: list[dict] = field(default_factory=list)

    @property
    def agree(self) -> float:
        return (self.both + self.neither) / self.n


@dataclass
class RunScores:
    """One run's scored continuations per task, and what scored them."""

    folder: Path
    tasks: dict[str, dict[str, Scored]]
    scorer: str


def read_scored(folder: Path) -> RunScores:
    """Per task, each continuation's score and flag by prompt id (Gehman's 25 as id#k); and what scored them."""
    from toxft.runs import samples_files

    found: dict[str, dict[str, Scored]] = {}
    scorers = set()
    for task, paths in samples_files(folder).items():
        rows = {}
        for row in read_jsonl(paths[-1]):
            doc = row["doc"]
            key = str(doc.get("id") or rtp_id(doc))
            texts = continuations(row)
            if task == GEHMAN and isinstance(row.get("filtered_resps"), list):
                scorers.add(doc.get("scorer") or "unknown")
                flat = [v for item in row["filtered_resps"] for v in (item if isinstance(item, list) else [item])]
                for k, (text, score) in enumerate(zip(texts, flat)):
                    # Gehman et al.'s rule: toxic at or above 0.5.
                    rows[f"{key}#{k}"] = Scored(text, float(score), float(score) >= 0.5)
                continue
            if "toxicity" in row:  # toxft tasks, or a rescored built-in run
                score, flag = float(row["toxicity"]), bool(row["toxic"])
                scorers.add(doc.get("scorer") or "unknown")
            elif task == BUILTIN_RTP and "perspective_api_toxicity_score" in row:
                # The built-in task's rule: toxic at or above 0.5 of Perspective's recorded score.
                score = perspective_score(row)
                flag = bool(row["score"]) if score is not None else False
                scorers.add(PERSPECTIVE)
            else:
                raise ToxftError(f"toxft: {paths[-1]} holds no toxicity scores")
            rows[key] = Scored(texts[0], score, flag)
        found[task] = rows
    if not found:
        raise ToxftError(f"toxft: {folder} has no samples (run lm_eval with --log_samples)")
    return RunScores(folder, found, " + ".join(sorted(scorers)))


def cohen_kappa(both: int, only_a: int, only_b: int, neither: int) -> float | None:
    """Agreement beyond chance for two raters' 0/1 flags; None when chance agreement is already total."""
    n = both + only_a + only_b + neither
    observed = (both + neither) / n
    pa, pb = (both + only_a) / n, (both + only_b) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return None if math.isclose(chance, 1.0) else (observed - chance) / (1 - chance)


def _rate(k: int, n: int, hdi_prob: float) -> tuple[float, float, float]:
    from toxft.analysis.rates import rate_hdi

    return (k / n, *rate_hdi(k, n, hdi_prob))


def agreement(subset: str, a: dict[str, Scored], b: dict[str, Scored], examples: int = 0,
              hdi_prob: float = 0.95) -> Agreement:
    """The comparison of two scorers on the same continuations (keys: prompt ids), where both gave a score."""
    from scipy.stats import spearmanr

    keys = sorted(k for k in a if a[k].score is not None and b[k].score is not None)
    left_out = len(a) - len(keys)
    if not keys:
        raise ToxftError(f"toxft: {subset}: no continuation was scored by both (every Perspective request failed); "
                         "there is nothing to agree on")
    both = sum(a[k].toxic and b[k].toxic for k in keys)
    only_a = sum(a[k].toxic and not b[k].toxic for k in keys)
    only_b = sum(b[k].toxic and not a[k].toxic for k in keys)
    neither = len(keys) - both - only_a - only_b
    scores_a, scores_b = [a[k].score for k in keys], [b[k].score for k in keys]
    rho = spearmanr(scores_a, scores_b).statistic if len(set(scores_a)) > 1 and len(set(scores_b)) > 1 else None
    differ = sorted((k for k in keys if a[k].toxic != b[k].toxic), key=lambda k: (-abs(a[k].score - b[k].score), k))
    shown = [{"id": k, "continuation": a[k].text, "score_a": a[k].score, "score_b": b[k].score} for k in differ[:examples]]
    return Agreement(subset, len(keys), both, only_a, only_b, neither, cohen_kappa(both, only_a, only_b, neither),
                     None if rho is None or math.isnan(rho) else float(rho), _rate(both + only_a, len(keys), hdi_prob),
                     _rate(both + only_b, len(keys), hdi_prob), left_out, shown)


def _same_texts(runs_a: RunScores, runs_b: RunScores) -> None:
    if set(runs_a.tasks) != set(runs_b.tasks):
        raise ToxftError(f"toxft: the runs hold different tasks ({', '.join(sorted(runs_a.tasks))} vs "
                         f"{', '.join(sorted(runs_b.tasks))}); agreement needs the same continuations")
    for task, a in runs_a.tasks.items():
        b = runs_b.tasks[task]
        if set(a) != set(b) or any(a[k].text != b[k].text for k in a):
            raise ToxftError(f"toxft: {task}: the runs do not hold the same continuations; agreement compares two "
                             "scorers on one set of texts (rescore one run with `toxft rescore`)")


def compare_scorers(runs_a: RunScores, runs_b: RunScores, examples: int = 0,
                    hdi_prob: float = 0.95) -> list[Agreement]:
    """Per task and in total; refuses runs that do not hold the same continuations."""
    _same_texts(runs_a, runs_b)
    results, total_a, total_b = [], {}, {}
    for task in sorted(runs_a.tasks):
        a, b = runs_a.tasks[task], runs_b.tasks[task]
        results.append(agreement(task, a, b, examples, hdi_prob))
        total_a.update({f"{task}/{k}": v for k, v in a.items()})
        total_b.update({f"{task}/{k}": v for k, v in b.items()})
    if len(results) > 1:
        results.append(agreement("total", total_a, total_b, examples, hdi_prob))
    return results


def pair_runs(path_a: Path, path_b: Path) -> list[tuple[Path, Path, str]]:
    """(run of A, its namesake in B, a name) for two runs or two folders of runs in the same layout."""
    found_a, found_b = locate(path_a), locate(path_b)
    if len(found_a) == 1 and len(found_b) == 1:
        pairs = [(found_a[0][0], found_b[0][0], found_a[0][0].name)]
    else:
        by_place_a, by_place_b = {place: folder for folder, place in found_a}, {place: f for f, place in found_b}
        if set(by_place_a) != set(by_place_b):
            only_a = sorted(str(p) for p in set(by_place_a) - set(by_place_b))
            only_b = sorted(str(p) for p in set(by_place_b) - set(by_place_a))
            raise ToxftError(f"toxft: the folders do not hold the same runs (only in {path_a}: "
                             f"{', '.join(only_a) or 'none'}; only in {path_b}: {', '.join(only_b) or 'none'})")
        pairs = [(by_place_a[place], by_place_b[place], str(place)) for place in sorted(by_place_a)]
    for a, b, _ in pairs:
        if a.resolve() == b.resolve():
            raise ToxftError(f"toxft: both runs are {a}; compare two different runs")
    return pairs


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(results: list[Agreement], scorer_a: str, scorer_b: str, examples: int, hdi_prob: float = 0.95,
                 title: str = "") -> str:
    """The text table: one row per subset, then the disagreements."""
    interval = f"{hdi_prob:.0%} HDI"
    rows = [["subset", "n", "both/A only/B only/neither", "agree", "kappa", "spearman", f"toxic A [{interval}]",
             f"toxic B [{interval}]", "left out"]]
    for r in results:
        rows.append([r.subset, str(r.n), f"{r.both}/{r.only_a}/{r.only_b}/{r.neither}", f"{r.agree:.1%}",
                     _number(r.kappa), _number(r.spearman),
                     f"{r.rate_a[0]:.1%} [{r.rate_a[1]:.1%}, {r.rate_a[2]:.1%}]",
                     f"{r.rate_b[0]:.1%} [{r.rate_b[1]:.1%}, {r.rate_b[2]:.1%}]", str(r.left_out)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ([title] if title else []) + [f"A = {scorer_a}", f"B = {scorer_b}",
                                          "toxic flags and scores of the same continuations"]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("-" * len(lines[-1]))
    left_out = max((r.left_out for r in results), default=0)
    if left_out:
        lines.append("left out: continuations without a score from one scorer (failed Perspective requests, which "
                     "the harness records as 0); n counts the continuations both scored")
    if examples:
        for r in results:
            if r.subset == "total" or not r.disagreements:
                continue
            lines.append(f"\n{r.subset}: the {len(r.disagreements)} continuations the scorers disagree on most")
            for item in r.disagreements:
                text = " ".join(item["continuation"].split())
                lines.append(f"  A {item['score_a']:.3f} / B {item['score_b']:.3f}: {text[:100]}")
    return "\n".join(lines)


def plot_scores(pairs: list[tuple[RunScores, RunScores]], figure: Path, labels: tuple[str, str]) -> Path:
    """Each continuation's two scores, with the 0.5 thresholds: where the scorers part ways."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toxft.files import save_figure

    fig, axis = plt.subplots(figsize=(5.2, 5.0))
    for runs_a, runs_b in pairs:
        for task in sorted(runs_a.tasks):
            keys = [k for k in sorted(runs_a.tasks[task])
                    if runs_a.tasks[task][k].score is not None and runs_b.tasks[task][k].score is not None]
            axis.scatter([runs_a.tasks[task][k].score for k in keys], [runs_b.tasks[task][k].score for k in keys],
                         s=8, alpha=0.6, label=task if len(pairs) == 1 else None)
    axis.axvline(0.5, color="grey", linewidth=0.8)
    axis.axhline(0.5, color="grey", linewidth=0.8)
    axis.set_xlabel(f"A: {labels[0]}", fontsize=8)
    axis.set_ylabel(f"B: {labels[1]}", fontsize=8)
    axis.set_title("The same continuations under two scorers", fontsize=10)
    if len(pairs) == 1:
        axis.legend(fontsize=7)
    return save_figure(fig, figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from toxft.arguments import nonnegative_int, open_probability

    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="a harness run folder, or a folder of runs")
    parser.add_argument("run_b", type=Path, metavar="RUN_B",
                        help="the same continuations under another scorer (a folder of runs in the same layout)")
    parser.add_argument("--examples", type=nonnegative_int, default=0, metavar="N",
                        help="show the N continuations per task the scorers disagree on most")
    parser.add_argument("--hdi-prob", type=open_probability, default=0.95, help="mass of the rates' intervals")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="also draw score against score (PNG, PDF, SVG)")


def run(args: argparse.Namespace) -> int:
    from toxft.files import FIGURE_SUFFIXES, check_output, write_atomically

    if args.json:
        check_output(args.json, "--json", (".json",))
    if args.plot:
        check_output(args.plot, "--plot", FIGURE_SUFFIXES)
    pairs = pair_runs(args.run_a, args.run_b)
    scored = [(read_scored(a), read_scored(b), name) for a, b, name in pairs]
    tables = [(name, a, b, compare_scorers(a, b, args.examples, args.hdi_prob)) for a, b, name in scored]
    scorer_a = " / ".join(dict.fromkeys(a.scorer for _, a, _, _ in tables))
    scorer_b = " / ".join(dict.fromkeys(b.scorer for _, _, b, _ in tables))
    blocks = [format_table(results, a.scorer, b.scorer, args.examples, args.hdi_prob,
                           title=f"== {name}" if len(tables) > 1 else "") for name, a, b, results in tables]
    record = {"a": {"run": str(args.run_a), "scorer": scorer_a}, "b": {"run": str(args.run_b), "scorer": scorer_b},
              "hdi_prob": args.hdi_prob,
              "runs": [{"run": name, "a": str(a.folder), "b": str(b.folder),
                        "subsets": [{**asdict(r), "agree": r.agree} for r in results]} for name, a, b, results in tables]}
    if len(tables) > 1:
        pooled = agreement("pooled", {f"{name}/{t}/{k}": v for name, a, _, _ in tables for t, rows in a.tasks.items()
                                      for k, v in rows.items()},
                           {f"{name}/{t}/{k}": v for name, _, b, _ in tables for t, rows in b.tasks.items()
                            for k, v in rows.items()}, 0, args.hdi_prob)
        blocks.append(format_table([pooled], scorer_a, scorer_b, 0, args.hdi_prob,
                                   title=f"== all {len(tables)} runs pooled"))
        record["pooled"] = {**asdict(pooled), "agree": pooled.agree}
    else:
        record["subsets"] = record["runs"][0]["subsets"]
    print("\n\n".join(blocks))
    if args.json:
        write_atomically(args.json, json.dumps(record, indent=2) + "\n")
        print(f"toxft: wrote {args.json}", file=sys.stderr)
    if args.plot:
        plot_scores([(a, b) for _, a, b, _ in tables], args.plot, (scorer_a, scorer_b))
        print(f"toxft: wrote {args.plot}", file=sys.stderr)
    return 0
