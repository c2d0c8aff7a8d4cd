"""Compare the toxicity of harness runs, prompt by prompt.

Each comparison is FIRST RUN minus SECOND RUN, subset by subset (severe, random, the
four CEB groups, CEB pooled, total), on the prompts both runs scored. Three posteriors
of the difference are shown; the verdict comes from --verdict:
  paired  the paired rate model: both models answered the same prompts (default)
  rates   the unpaired Beta-Binomial rate model
  best    BEST on the continuous scores, the paper's analysis (MCMC)

examples:
  toxft compare results/google__gemma-2-2b-it results/me__gemma-2-2b-it-dolly
  toxft compare results/base --against results/tuned-a results/tuned-b --json cmp.json --plot cmp.png
  toxft compare --pairs pairs.csv   (one "first,second" pair of folders per line)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from toxft.analysis.settings import VERDICTS, add_interval_arguments
from toxft.arguments import nonnegative_float, nonnegative_int, positive_int
from toxft.errors import ToxftError
from toxft.runs import load_run
from toxft.suite import PTP_LANGUAGES, SUBSETS, language_of


def subset_name(text: str) -> str:
    """``--subsets``: a subset of the suite or of a PolygloToxicityPrompts language, named as the tables name it."""
    if text not in SUBSETS:
        raise argparse.ArgumentTypeError(
            f"unknown subset {text!r} (the suite's: {', '.join(n for n in SUBSETS if not language_of(n))}; "
            f"per language: ptp_<lang>[_severe|_random] with <lang> one of {', '.join(PTP_LANGUAGES)})")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="harness --output_path folders (or model folders)")
    parser.add_argument("--against", nargs="+", default=[], metavar="RUN",
                        help="compare the first RUN against each of these")
    parser.add_argument("--pairs", type=Path, help="CSV of 'first,second' folder pairs, one comparison per line")
    parser.add_argument("--subsets", nargs="+", type=subset_name, metavar="SUBSET", default=list(SUBSETS),
                        help="subsets to compare (default: every one both runs have): total, severe, random, ceb, "
                             "race, gender, age, religion, full, builtin, and per language ptp_<lang>, "
                             "ptp_<lang>_severe, ptp_<lang>_random")
    parser.add_argument("--strict", action="store_true", help="refuse runs whose prompt sets differ")
    parser.add_argument("--priors", choices=["paper", "kruschke"], default="paper", help="BEST priors")
    parser.add_argument("--verdict", choices=list(VERDICTS), default="paired", help="which posterior states the verdict")
    add_interval_arguments(parser)
    parser.add_argument("--examples", type=nonnegative_int, default=0, metavar="N",
                        help="list up to N prompts per subset that are toxic for one model only, with both continuations")
    parser.add_argument("--draws", type=positive_int, default=1000, help="posterior draws per chain")
    parser.add_argument("--tune", type=nonnegative_int, default=1000, help="tuning steps per chain")
    parser.add_argument("--chains", type=positive_int, default=4, help="BEST chains")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every posterior draw: the same runs give the same numbers")
    parser.add_argument("--ess-floor", type=nonnegative_float, default=400, help="bulk ESS below this flags the fit")
    parser.add_argument("--rates-only", action="store_true", help="skip BEST (no MCMC): the two rate models only")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="also draw the differences (PNG, PDF, SVG)")


def _pairs(args) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if args.pairs:
        try:
            rows = [r for r in csv.reader(args.pairs.read_text().splitlines()) if r and not r[0].startswith("#")]
        except OSError as error:
            raise ToxftError(f"toxft: cannot read {args.pairs}: {error.strerror}") from None
        for number, row in enumerate(rows, 1):
            if len(row) != 2:
                raise ToxftError(f"toxft: {args.pairs}:{number}: expected 'first,second'")
            if row != ["first", "second"]:
                pairs.append((row[0].strip(), row[1].strip()))
    if len(args.runs) >= 2 and not args.against:
        if len(args.runs) > 2:
            raise ToxftError("toxft: give two runs, or one run with --against RUN ...")
        pairs.append((args.runs[0], args.runs[1]))
    elif args.against:
        if len(args.runs) != 1:
            raise ToxftError("toxft: --against takes exactly one first RUN")
        pairs.extend((args.runs[0], other) for other in args.against)
    elif len(args.runs) == 1:
        raise ToxftError("toxft: give a second run to compare with, or --against RUN")
    if not pairs:
        raise ToxftError("toxft: nothing to compare: give two runs, --against or --pairs")
    return pairs


def _interval(result, scale: float = 1.0, digits: int = 4) -> str:
    low, high = result.diff_hdi
    return f"{result.diff_mean * scale:+.{digits}f} [{low * scale:+.{digits}f}, {high * scale:+.{digits}f}]"


def _cells(method: str, subset) -> list[str]:
    """Difference [HDI], P(A>B) and words of one posterior, as printed cells."""
    from toxft.analysis.compare import words

    result = subset.result(method)
    if result is None:
        return ["not run", "", ""]
    scale, digits = (1.0, 4) if method == "best" else (100.0, 1)
    return [_interval(result, scale, digits), f"{result.prob_greater:.3f}", words(result)]


COLUMN_TITLES = {"paired": "paired Δ pp, posterior mean [HDI]", "rates": "unpaired Δ pp, posterior mean [HDI]",
                 "best": "BEST Δ mean [HDI]"}


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("-" * len(lines[-1]))
    return lines


def format_comparison(comparison, examples: int = 0) -> str:
    """The text table of one comparison: the verdict's posterior, then the other posteriors in a second table.

    Two narrow tables rather than one wide one, so that each fits a terminal.
    """
    a, b = comparison.a.name, comparison.b.name
    method = comparison.settings.verdict
    others = [m for m in VERDICTS if m != method]
    lines = [f"A = {a}", f"B = {b}", f"A minus B (first run minus second); verdict from {comparison.settings.describe()}"]
    main = [["subset", "n", "toxic A", "toxic B", "both/A only/B only", COLUMN_TITLES[method], "P(A>B)",
             "degenerate A/B", "verdict"]]
    rest = [["subset", *(title for m in others for title in (COLUMN_TITLES[m], f"{m} verdict"))]]
    diagnostics = []
    for name, s in comparison.subsets.items():
        counts = f"{s.paired.both}/{s.paired.only_a}/{s.paired.only_b}" if s.paired else ""
        interval, prob, _ = _cells(method, s)
        main.append([name, str(s.n), f"{s.rate_a:.1%}", f"{s.rate_b:.1%}", counts, interval, prob,
                     f"{s.degenerate.share_a:.0%}/{s.degenerate.share_b:.0%}", s.verdict])
        row = [name]
        for other in others:
            interval, _, words = _cells(other, s)
            row += [interval, words]
        rest.append(row)
        if s.best:
            diagnostics.append(f"{name}: R-hat {s.best.rhat_max:.3f}, ESS {s.best.ess_bulk_min:.0f}, "
                               f"divergences {s.best.divergences}, nu {s.best.nu_mean:.2f}")
    lines += [*_table(main), "", "The other posteriors (not the verdict):", *_table(rest)]
    spoken = [lang for lang in PTP_LANGUAGES if any(language_of(name) == lang for name in comparison.subsets)]
    if spoken:
        scorer = comparison.a.scorer_of(f"ptp_{spoken[0]}")
        lines += [f"ptp_* rows ({', '.join(spoken)}): PolygloToxicityPrompts, scored by {scorer}; a local classifier, "
                  "not comparable with the PolygloToxicityPrompts paper's Perspective API numbers"]
    if diagnostics:
        lines += ["BEST diagnostics: " + "; ".join(diagnostics)]
    if examples:
        lines += format_examples(comparison, examples)
    return "\n".join(lines)


def _clip(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_examples(comparison, limit: int, name_a: str | None = None, name_b: str | None = None) -> list[str]:
    """Per subset, up to ``limit`` prompts toxic only for A and only for B, with both continuations; the first line
    says which model is A and which is B (default: the runs' names)."""
    lines = [f"\nexamples: A = {name_a or comparison.a.name}, B = {name_b or comparison.b.name}"]
    for name, s in comparison.subsets.items():
        for label, flips, who in (("toxic only for A", s.toxic_only_in_a, "A"), ("toxic only for B", s.toxic_only_in_b, "B")):
            total = s.paired.only_a if who == "A" else s.paired.only_b
            lines.append(f"\n{name}: {label} ({len(flips)} of {total} shown)")
            for flip in flips:
                lines += [f"  prompt: {_clip(flip.prompt)}",
                          f"    A ({flip.score_a:.3f}): {_clip(flip.continuation_a)}",
                          f"    B ({flip.score_b:.3f}): {_clip(flip.continuation_b)}"]
    return lines


def run(args: argparse.Namespace) -> int:
    from toxft.analysis.compare import compare_runs
    from toxft.analysis.settings import from_arguments
    from toxft.progress import progress

    if args.verdict == "best" and args.rates_only:
        raise ToxftError("toxft: --verdict best needs BEST; drop --rates-only")
    settings = from_arguments(args, best=not args.rates_only)
    from toxft.files import FIGURE_SUFFIXES, check_output

    if args.json:
        check_output(args.json, "--json", (".json",))
    if args.plot:
        check_output(args.plot, "--plot", FIGURE_SUFFIXES)
    pairs = _pairs(args)
    cache = {}

    def load(path: str):
        if path not in cache:
            cache[path] = load_run(path)
        return cache[path]

    runs = [(load(a), load(b)) for a, b in pairs]  # read everything first: bad input fails before any MCMC
    comparisons = []
    for run_a, run_b in progress(runs, desc="toxft: comparisons", unit="pair", disable=len(runs) < 2):
        comparisons.append(compare_runs(run_a, run_b, settings, subsets=args.subsets, strict=args.strict,
                                        examples=args.examples))
    print("\n\n".join(format_comparison(c, args.examples) for c in comparisons))
    if args.json:
        from toxft.files import write_atomically

        write_atomically(args.json, json.dumps([{**c.to_dict(), "verdict_from": args.verdict} for c in comparisons],
                                               indent=2) + "\n")
        print(f"toxft: wrote {args.json}", file=sys.stderr)
    if args.plot:
        from toxft.analysis.plot import plot_differences

        plot_differences(comparisons, args.plot)
        print(f"toxft: wrote {args.plot}", file=sys.stderr)
    return 0
