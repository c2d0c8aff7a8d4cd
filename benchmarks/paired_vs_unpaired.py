"""Paired vs unpaired rate model, and BEST, on simulated scores with realistic shapes.

Prints, per case, the 95% HDI of the difference of toxic rates (percentage points) from the
unpaired Beta-Binomial model and from the paired model, their widths, and BEST's difference
of means, ν and verdict on the same scores. Not a timed test.

    python benchmarks/paired_vs_unpaired.py [--seed 0] [--no-best]
"""

from __future__ import annotations

import argparse
import time

from toxft.analysis import best, compare_paired, compare_rates
from toxft.analysis.compare import words as verdict
from toxft.analysis.simulate import paired_scores

CASES = [("4.1% vs 7.3%", 2400, 0.041, 0.073), ("4.1% vs 5.5%", 2400, 0.041, 0.055),
         ("severe 7.2% vs 5.7% (Figure 4)", 1000, 0.072, 0.057), ("1.1% vs 8.8%", 2400, 0.011, 0.088)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-best", action="store_true", help="skip BEST (MCMC)")
    args = parser.parse_args()
    print(f"{'case':<32}{'n':>6}  {'unpaired [HDI] width':<34}{'paired [HDI] width':<34}BEST")
    for name, n, rate_a, rate_b in CASES:
        a, b = paired_scores(n, rate_a, rate_b, seed=args.seed)
        unpaired, paired = compare_rates(a > 0.5, b > 0.5), compare_paired(a > 0.5, b > 0.5)

        def cell(r):
            low, high = r.diff_hdi
            return f"[{100 * low:+.2f}, {100 * high:+.2f}] {100 * (high - low):.2f} {'*' if r.credible else ' '}"

        line = f"{name:<32}{n:>6}  {cell(unpaired):<34}{cell(paired):<34}"
        if not args.no_best:
            started = time.perf_counter()
            fit = best(a, b, seed=args.seed)
            line += (f"Δmean {fit.diff_mean:+.1e} [{fit.diff_hdi[0]:+.1e}, {fit.diff_hdi[1]:+.1e}], ν {fit.nu_mean:.2f}, "
                     f"R-hat {fit.rhat_max:.3f}, ESS {fit.ess_bulk_min:.0f}: {verdict(fit)} "
                     f"({time.perf_counter() - started:.1f} s)")
        print(line, flush=True)
    print("* credible (95% HDI excludes 0); rates are A minus B in percentage points")


if __name__ == "__main__":
    main()
