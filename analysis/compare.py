"""Pairing two runs prompt by prompt and comparing them on every subset."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from toxft.analysis.best import BestResult, best
from toxft.analysis.rates import RateResult, compare_rates
from toxft.errors import ToxftError
from toxft.runs import SUBSETS, Run


@dataclass
class SubsetComparison:
    """Both models on one subset's shared prompts."""

    subset: str
    n: int
    rate_a: float
    rate_b: float
    rates: RateResult
    best: BestResult | None
    only_a: int = 0
    only_b: int = 0

    def to_dict(self) -> dict:
        return {
            "subset": self.subset, "n": self.n, "rate_a": self.rate_a, "rate_b": self.rate_b,
            "only_in_a": self.only_a, "only_in_b": self.only_b,
            "rates": self.rates.to_dict(), "best": self.best.to_dict() if self.best else None,
        }


@dataclass
class PairComparison:
    """Run a minus run b on each subset both have."""

    a: Run
    b: Run
    subsets: dict[str, SubsetComparison] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "a": self.a.name, "b": self.b.name, "a_folder": str(self.a.folder), "b_folder": str(self.b.folder),
            "direction": "a - b (first run minus second)",
            "subsets": {name: s.to_dict() for name, s in self.subsets.items()},
        }


def verdict(result: BestResult | RateResult | None) -> str:
    """Words for a result: credibly higher / lower, no credible difference, or not converged."""
    if result is None:
        return "-"
    if isinstance(result, BestResult) and not result.converged:
        return "not converged"
    if not result.credible:
        return "no credible difference"
    return "credibly higher" if result.diff_mean > 0 else "credibly lower"


def compare_runs(a: Run, b: Run, *, subsets=tuple(SUBSETS), strict: bool = False, run_best: bool = True,
                 warn=lambda message: print(message, file=sys.stderr), **best_options) -> PairComparison:
    """Compare two runs on the subsets both ran, pairing prompts by their id."""
    if a.folder.resolve() == b.folder.resolve():
        raise ToxftError(f"toxft: both runs are {a.folder}; compare two different runs")
    comparison = PairComparison(a, b)
    for name in subsets:
        if not (a.has(name) and b.has(name)):
            continue
        samples_a, samples_b = a.subset(name), b.subset(name)
        shared = sorted(samples_a.keys() & samples_b.keys())
        only_a, only_b = len(samples_a) - len(shared), len(samples_b) - len(shared)
        if only_a or only_b:
            message = (f"toxft: {name}: the runs scored different prompts ({only_a} only in {a.name}, "
                       f"{only_b} only in {b.name}); comparing the {len(shared)} shared")
            if strict:
                raise ToxftError(message.replace("; comparing", "; --strict refuses to compare"))
            warn(message)
        if len(shared) < 2:
            warn(f"toxft: {name}: fewer than two shared prompts, skipped")
            continue
        flags_a = [samples_a[i].toxic for i in shared]
        flags_b = [samples_b[i].toxic for i in shared]
        rates = compare_rates(flags_a, flags_b, hdi_prob=best_options.get("hdi_prob", 0.95),
                              seed=best_options.get("seed"))
        best_result = None
        if run_best:
            best_result = best([samples_a[i].score for i in shared], [samples_b[i].score for i in shared],
                               **best_options)
        comparison.subsets[name] = SubsetComparison(
            name, len(shared), rates.rate_a, rates.rate_b, rates, best_result, only_a, only_b
        )
    if not comparison.subsets:
        raise ToxftError(f"toxft: {a.name} and {b.name} share no toxft subset")
    return comparison
