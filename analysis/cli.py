"""Compare the toxicity of harness runs: BEST on the scores and the exact rate model on the flags.

Each comparison is FIRST RUN minus SECOND RUN, subset by subset (severe, random, the
four CEB groups, CEB pooled, total), on the prompts both runs scored.

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

from toxft.errors import ToxftError
from toxft.runs import SUBSETS, load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="harness --output_path folders (or model folders)")
    parser.add_argument("--against", nargs="+", default=[], metavar="RUN",
                        help="compare the first RUN against each of these")
    parser.add_argument("--pairs", type=Path, help="CSV of 'first,second' folder pairs, one comparison per line")
    parser.add_argument("--subsets", nargs="+", choices=list(SUBSETS), default=list(SUBSETS))
    parser.add_argument("--strict", action="store_true", help="refuse runs whose prompt sets differ")
    parser.add_argument("--priors", choices=["paper", "kruschke"], default="paper", help="BEST priors")
    parser.add_argument("--hdi-prob", type=float, default=0.95)
    parser.add_argument("--rope", nargs=2, type=float, metavar=("LOW", "HIGH"), help="region of practical equivalence")
    parser.add_argument("--draws", type=int, default=1000, help="posterior draws per chain")
    parser.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ess-floor", type=float, default=400, help="bulk ESS below this flags the fit")
    parser.add_argument("--rates-only", action="store_true", help="skip BEST (no MCMC): the rate model only")
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


def format_comparison(comparison) -> str:
    """The text table of one comparison."""
    from toxft.analysis.compare import verdict

    lines = [f"{comparison.a.name}  minus  {comparison.b.name}   (first run minus second)"]
    header = (f"{'subset':<9}{'n':>6}{'toxic A':>9}{'toxic B':>9}  {'rate diff, pp [HDI]':<28}{'P(A>B)':>7}  "
              f"{'rate verdict':<23}{'BEST mean diff [HDI]':<31}{'P(A>B)':>7}  {'BEST verdict':<23}{'diagnostics'}")
    lines += [header, "-" * len(header)]
    for name, s in comparison.subsets.items():
        row = (f"{name:<9}{s.n:>6}{s.rate_a:>8.1%} {s.rate_b:>8.1%}  {_interval(s.rates, 100, 1):<28}"
               f"{s.rates.prob_greater:>7.3f}  {verdict(s.rates):<23}")
        if s.best:
            b = s.best
            diagnostics = f"R-hat {b.rhat_max:.3f}, ESS {b.ess_bulk_min:.0f}, divergences {b.divergences}"
            row += f"{_interval(b):<31}{b.prob_greater:>7.3f}  {verdict(b):<23}{diagnostics}"
        lines.append(row)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from toxft.analysis.compare import compare_runs

    if not 0 < args.hdi_prob < 1:
        raise ToxftError("toxft: --hdi-prob must be between 0 and 1")
    pairs = _pairs(args)
    cache = {}

    def load(path: str):
        if path not in cache:
            cache[path] = load_run(path)
        return cache[path]

    runs = [(load(a), load(b)) for a, b in pairs]  # read everything first: bad input fails before any MCMC
    options = dict(priors=args.priors, hdi_prob=args.hdi_prob, rope=tuple(args.rope) if args.rope else None,
                   seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains, ess_floor=args.ess_floor)
    comparisons = []
    for run_a, run_b in tqdm(runs, desc="toxft: comparisons", unit="pair", disable=len(runs) < 2):
        comparisons.append(compare_runs(run_a, run_b, subsets=args.subsets, strict=args.strict,
                                        run_best=not args.rates_only, **options))
    print("\n\n".join(format_comparison(c) for c in comparisons))
    if args.json:
        args.json.write_text(json.dumps([c.to_dict() for c in comparisons], indent=2) + "\n")
        print(f"toxft: wrote {args.json}", file=sys.stderr)
    if args.plot:
        from toxft.analysis.plot import plot_differences

        plot_differences(comparisons, args.plot)
        print(f"toxft: wrote {args.plot}", file=sys.stderr)
    return 0
