"""How often the grid's intervals cover the truth, and how biased its estimates are, on simulated grids.

Each world is a 2 x 2 grid (method lora/full x control none/neutral) of 300 prompts with known effects on the
log-odds (full +1.0, neutral -0.8, and full x neutral -0.7), a fine-tuning effect of +0.6 and a set-up sd
between seeds; the truth is each level's change averaged over the population of prompts and of seeds
(toxft.analysis.simulate.true_change). For each number of seeds, set-up sd and design, many grids are
drawn and analysed as the report does; the table gives, side by side, the coverage of the 95% intervals with
the seed term and without it (prompts only), the mean bias and width of the estimates, and the same for the
factorial grids' interactions.

    python benchmarks/grid_coverage.py                  # 200 grids per row
    python benchmarks/grid_coverage.py --replicates 50  # quicker
    python benchmarks/grid_coverage.py --figure docs/factorial-factors.png --replicates 0   # docs/study.md's figure
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from toxft.analysis.simulate import grid_coverage

WORLD = dict(n_prompts=300, factors={"method": ["lora", "full"], "control": ["none", "neutral"]},
             effects={"method = full": 1.0, "control = neutral": -0.8}, fine_tuned=0.6,
             interactions={("method = full", "control = neutral"): -0.7})
ROWS = [(1, 0.3), (2, 0.0), (2, 0.5), (3, 0.3), (5, 0.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=200, help="grids per row (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="first grid's seed (default: 0)")
    parser.add_argument("--figure", type=Path, default=None,
                        help="also draw one simulated 2 x 2 x 2 factorial grid as the report does (default: none)")
    args = parser.parse_args()
    if args.figure:
        draw(args.figure)
    if not args.replicates:
        return
    print(f"{platform.processor() or platform.machine()}, numpy {np.__version__}; {args.replicates} grids per row, "
          "95% intervals")
    print(f"{'design':14s} {'seeds':>5s} {'set-up sd':>9s} | {'coverage':>8s} {'prompts only':>12s} {'bias pp':>7s} "
          f"{'width pp':>8s} | {'interaction':>11s} {'bias pp':>7s} {'width pp':>8s} | seconds")
    for design in ("one-at-a-time", "factorial"):
        for seeds, setup_sd in ROWS:
            started = time.perf_counter()
            found = grid_coverage({**WORLD, "seeds": seeds, "setup_sd": setup_sd}, design=design,
                                  replicates=args.replicates, seed=args.seed)
            levels, plain = found["levels"], found["levels, prompts only"]
            inter = found.get("interactions")
            inter_cells = (f"{inter['coverage']:11.1%} {inter['bias_pp']:+7.2f} {inter['width_pp']:8.1f}" if inter
                           else f"{'—':>11s} {'':7s} {'':8s}")
            print(f"{design:14s} {seeds:5d} {setup_sd:9.1f} | {levels['coverage']:8.1%} {plain['coverage']:12.1%} "
                  f"{levels['bias_pp']:+7.2f} {levels['width_pp']:8.1f} | {inter_cells} | "
                  f"{time.perf_counter() - started:.0f}")


def draw(path: Path) -> None:
    """One factorial grid (method x control x r, two seeds, the method x control interaction), analysed and drawn."""
    from toxft.analysis import AnalysisSettings
    from toxft.analysis.grid import analyse_grid
    from toxft.analysis.simulate import grid_flags
    from toxft.report.factors import plot_factors

    factors = {**WORLD["factors"], "r": ["16", "64"]}
    arms = grid_flags(600, factors, {**WORLD["effects"], "r = 64": 0.2}, fine_tuned=0.6, seeds=2, setup_sd=0.3,
                      interactions={("method = full", "control = neutral"): -0.9}, seed=1)
    found = analyse_grid(arms, factors, "factorial", AnalysisSettings(best=False, draws=300, tune=300, chains=2,
                                                                      ess_floor=100))
    print(f"figure: {plot_factors(found, path, '95% HDI')}")


if __name__ == "__main__":
    main()
