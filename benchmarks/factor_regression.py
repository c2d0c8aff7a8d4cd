"""The report's "What changed the toxicity" at the size of studies/open-questions.yaml: how long it takes and
whether the regression finds the effects that were put in.

A simulated grid (toxft.analysis.simulate.grid_flags) of 2,400 prompts, four methods x three controls x
two seeds = 24 fine-tunes plus the reference, with known effects on the log-odds. Prints the seconds the
level changes and the regression take (the regression's first fit includes compiling it with numba), the
diagnostics, and each effect beside its true value.

    python benchmarks/factor_regression.py
    python benchmarks/factor_regression.py --prompts 600 --draws 500   # quicker
"""

from __future__ import annotations

import argparse
import time

TRUTH = {"method = dora": 0.0, "method = qlora": 0.2, "method = full": 1.0, "control = shuffled": -0.5,
         "control = neutral": -1.2}
FINE_TUNED = 0.8
SETUP_SD = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=2400)
    parser.add_argument("--seeds", type=int, default=2, help="fine-tunes per cell")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from toxft.analysis.factors import fit_factor_model
    from toxft.analysis.grid import forgetting_or_learning
    from toxft.analysis.levels import level_changes
    from toxft.analysis.simulate import grid_flags
    from toxft.report.factors import forgetting_sentence

    factors = {"method": ["lora", "dora", "qlora", "full"], "control": ["none", "shuffled", "neutral"]}
    arms = grid_flags(args.prompts, factors, TRUTH, fine_tuned=FINE_TUNED, seeds=args.seeds, setup_sd=SETUP_SD,
                      seed=args.seed)
    started = time.perf_counter()
    rows = level_changes(arms, factors)
    changes_s = time.perf_counter() - started
    started = time.perf_counter()
    model = fit_factor_model(arms, factors, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
    fit_s = time.perf_counter() - started
    print(f"{len(arms)} fine-tunes x {args.prompts} prompts ({model.observations:,} flags, "
          f"{model.informative_prompts} prompts where some model differs)")
    print(f"  level changes: {changes_s:.1f} s; regression: {fit_s:.1f} s "
          f"({args.chains} chains x {args.draws} draws + {args.tune} tuning)")
    print(f"  converged {model.converged}: R-hat {model.rhat_max:.3f}, bulk ESS {model.ess_bulk_min:.0f}, "
          f"{model.divergences} divergences")
    for coefficient in model.coefficients:
        true = FINE_TUNED if coefficient.name.startswith("fine-tuned") else TRUTH[coefficient.name]
        pp = f"; {100 * coefficient.pp:+.1f} pp at the baseline" if coefficient.pp is not None else ""
        print(f"  {coefficient.name:26s} true {true:+.2f}  found {coefficient.mean:+.2f} "
              f"[{coefficient.hdi[0]:+.2f}, {coefficient.hdi[1]:+.2f}]{pp}")
    for row in rows:
        print(f"  {row.factor} = {row.level}: {100 * row.change:+.1f} pp [{100 * row.hdi[0]:+.1f}, "
              f"{100 * row.hdi[1]:+.1f}] over {row.cells} fine-tunes")
    print(f"  {forgetting_sentence(forgetting_or_learning(rows, model))}")


if __name__ == "__main__":
    main()
