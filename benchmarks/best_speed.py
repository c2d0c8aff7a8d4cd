"""BEST speed for a study: toxft's compiled-once path vs one plain `pm.sample` per comparison.

K comparisons of 2,400 vs 2,400 skewed toxicity-like scores (most near 0, a few near 1),
same draws, tuning steps and chains on both paths. Prints both times, the ratio and the
largest gap between the posterior means of the difference, against its Monte Carlo error.

    python benchmarks/best_speed.py [--k 10] [--draws 1000] [--tune 1000] [--chains 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def skewed_scores(rng: np.random.Generator, n: int, toxic_share: float) -> np.ndarray:
    scores = rng.beta(0.4, 40.0, n)
    toxic = rng.random(n) < toxic_share
    scores[toxic] = rng.beta(12.0, 2.0, toxic.sum())
    return scores


def plain_pymc(a, b, draws, tune, chains, cores, seed):
    """The textbook path: build the model and call pm.sample (which compiles) for each comparison."""
    import pymc as pm

    with pm.Model():
        mu = pm.Normal("mu", 0.0, 1.0, shape=2)
        sigma = pm.HalfCauchy("sigma", 10.0, shape=2)
        nu = pm.Deterministic("nu", pm.Exponential("nu_minus_one", 1 / 29) + 1)
        pm.StudentT("obs_a", nu=nu, mu=mu[0], sigma=sigma[0], observed=a)
        pm.StudentT("obs_b", nu=nu, mu=mu[1], sigma=sigma[1], observed=b)
        trace = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
                          progressbar=False, compute_convergence_checks=False)
    diff = (trace.posterior["mu"][..., 0] - trace.posterior["mu"][..., 1]).values.ravel()
    return float(diff.mean()), float(diff.std())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--n", type=int, default=2400)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()

    from toxft.analysis import best

    rng = np.random.default_rng(0)
    pairs = [(skewed_scores(rng, args.n, 0.08), skewed_scores(rng, args.n, 0.08 + 0.01 * i)) for i in range(args.k)]

    start = time.perf_counter()
    ours = [best(a, b, seed=i, draws=args.draws, tune=args.tune, chains=args.chains, cores=args.cores)
            for i, (a, b) in enumerate(pairs)]
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    plain = [plain_pymc(a, b, args.draws, args.tune, args.chains, args.cores, i) for i, (a, b) in enumerate(pairs)]
    t_plain = time.perf_counter() - start

    # Monte Carlo standard error of a posterior mean ~ sd / sqrt(ESS); ESS >= 400 -> sd / 20.
    gaps = [abs(o.diff_mean - p[0]) / (p[1] / np.sqrt(min(o.ess_bulk_min, args.draws * args.chains)))
            for o, p in zip(ours, plain)]
    print(f"comparisons: {args.k} x ({args.n} vs {args.n}), draws {args.draws}, tune {args.tune}, "
          f"chains {args.chains}, cores {args.cores}")
    print(f"plain pm.sample per comparison: {t_plain:8.1f} s")
    print(f"toxft (compiled once, nutpie):  {t_ours:8.1f} s  (first fit includes compilation)")
    print(f"speed-up:                       {t_plain / t_ours:8.1f}x")
    print(f"largest |mean diff gap| in Monte Carlo standard errors: {max(gaps):.2f}")


if __name__ == "__main__":
    main()
