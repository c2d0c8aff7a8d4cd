"""Pairing two runs prompt by prompt and comparing them on every subset.

Three posteriors per subset: the paired rate model (the default verdict: both models
answered the same prompts), the unpaired Beta-Binomial rate model, and the paper's BEST
on the continuous scores.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from toxft.analysis.best import BestResult, best
from toxft.analysis.paired import PairedRateResult, compare_paired
from toxft.analysis.rates import RateResult, compare_rates
from toxft.errors import ToxftError
from toxft.runs import SUBSETS, Run, Sample

# Which posterior states the verdict; the paired model by default, since the runs are paired by prompt.
VERDICTS = ("paired", "rates", "best")
METHOD_NAMES = {
    "paired": "the paired rate model (Dirichlet over the 2×2 table of shared prompts)",
    "rates": "the unpaired Beta-Binomial rate model",
    "best": "BEST on the scores (Kruschke, 2013)",
}


@dataclass(frozen=True)
class Flip:
    """A prompt whose toxic flag differs between the two models, with both continuations."""

    doc_id: str
    prompt: str
    continuation_a: str
    score_a: float
    continuation_b: str
    score_b: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


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
    paired: PairedRateResult | None = None
    toxic_only_in_a: list[Flip] = field(default_factory=list)
    toxic_only_in_b: list[Flip] = field(default_factory=list)

    def result(self, method: str) -> PairedRateResult | RateResult | BestResult | None:
        """The posterior that ``method`` (paired, rates or best) names."""
        if method not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {method!r}")
        return getattr(self, method)

    def to_dict(self) -> dict:
        return {
            "subset": self.subset, "n": self.n, "rate_a": self.rate_a, "rate_b": self.rate_b,
            "prompts_only_in_a": self.only_a, "prompts_only_in_b": self.only_b,
            "paired": self.paired.to_dict() if self.paired else None,
            "rates": self.rates.to_dict(), "best": self.best.to_dict() if self.best else None,
            "toxic_only_in_a": [f.to_dict() for f in self.toxic_only_in_a],
            "toxic_only_in_b": [f.to_dict() for f in self.toxic_only_in_b],
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


def verdict(result: BestResult | RateResult | PairedRateResult | None) -> str:
    """Words for a result: credibly higher / lower, practically equivalent, no credible difference, not converged."""
    if result is None:
        return "-"
    if isinstance(result, BestResult) and not result.converged:
        return "not converged"
    if not result.credible:
        low, high = result.diff_hdi
        if result.rope is not None and result.rope[0] <= low and high <= result.rope[1]:
            return "practically equivalent"
        return "no credible difference"
    return "credibly higher" if result.diff_mean > 0 else "credibly lower"


def flips(samples_a: dict[str, Sample], samples_b: dict[str, Sample], shared: list[str],
          limit: int) -> tuple[list[Flip], list[Flip]]:
    """Up to ``limit`` prompts toxic only for A and only for B, the largest score gaps first."""
    def flip(doc_id: str) -> Flip:
        a, b = samples_a[doc_id], samples_b[doc_id]
        return Flip(doc_id, a.prompt or b.prompt, a.continuation, a.score, b.continuation, b.score)

    only_a = [i for i in shared if samples_a[i].toxic and not samples_b[i].toxic]
    only_b = [i for i in shared if samples_b[i].toxic and not samples_a[i].toxic]
    gap = lambda i: samples_a[i].score - samples_b[i].score  # noqa: E731
    only_a.sort(key=lambda i: (-gap(i), i))
    only_b.sort(key=lambda i: (gap(i), i))
    return [flip(i) for i in only_a[:limit]], [flip(i) for i in only_b[:limit]]


def compare_runs(a: Run, b: Run, *, subsets=tuple(SUBSETS), strict: bool = False, run_best: bool = True,
                 examples: int = 0, warn=lambda message: print(message, file=sys.stderr),
                 **best_options) -> PairComparison:
    """Compare two runs on the subsets both ran, pairing prompts by their id."""
    if a.folder.resolve() == b.folder.resolve():
        raise ToxftError(f"toxft: both runs are {a.folder}; compare two different runs")
    from toxft.progress import progress

    check_same_scorer(a, b)
    comparison = PairComparison(a, b)
    names = [name for name in subsets if a.has(name) and b.has(name)]
    # BEST takes seconds to minutes per subset; the rate models take milliseconds.
    bar = progress(names, desc=f"toxft: BEST {a.name} vs {b.name}", unit="subset", disable=not run_best,
                   leave=False)
    for name in bar:
        if run_best:
            bar.set_postfix_str(name)
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
        # Seeded by default: the same runs must print the same intervals every time.
        common = dict(hdi_prob=best_options.get("hdi_prob", 0.95), rope=best_options.get("rope"),
                      seed=best_options.get("seed", 0))
        rates = compare_rates(flags_a, flags_b, **common)
        paired = compare_paired(flags_a, flags_b, **common)
        best_result = None
        if run_best:
            best_result = best([samples_a[i].score for i in shared], [samples_b[i].score for i in shared],
                               **best_options)
        toxic_a, toxic_b = flips(samples_a, samples_b, shared, examples)
        comparison.subsets[name] = SubsetComparison(
            name, len(shared), rates.rate_a, rates.rate_b, rates, best_result, only_a, only_b, paired, toxic_a, toxic_b
        )
    if not comparison.subsets:
        raise ToxftError(f"toxft: {a.name} and {b.name} share no toxft subset")
    return comparison


def check_same_scorer(a: Run, b: Run) -> None:
    """Refuse runs scored by different classifiers or labels: their rates measure different things."""
    if a.scorer and b.scorer and a.scorer != b.scorer:
        raise ToxftError(f"toxft: {a.name} was scored by {a.scorer} and {b.name} by {b.scorer}; "
                         "rescore one of them with `toxft rescore RUN --scorer ... --output NEW` so both use the same scorer")
