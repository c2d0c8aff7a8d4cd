"""Pairing two runs prompt by prompt and comparing them on every subset, once, with the user's settings.

Three posteriors per subset: the paired rate model (both models answered the same prompts),
the unpaired Beta-Binomial rate model, and the paper's BEST on the continuous scores. The
settings (:class:`toxft.analysis.settings.AnalysisSettings`) name the one that states the
verdict. Beside the toxic rates, the share of degenerate continuations (empty, short, echo,
loop; :mod:`toxft.degenerate`) is compared the same way, paired by prompt: a model called less
toxic while it became credibly more degenerate gets a caveat in every output that reads the
comparison (tables, verdict lines, cards, figures, JSON).

Example::

    comparison = compare_runs(load_run("results/tuned"), load_run("results/base"), AnalysisSettings(best=False))
    comparison.subsets["total"].verdict     # 'credibly lower, but 100% of A's continuations are degenerate (empty)'
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

from toxft.analysis.best import BestResult, best
from toxft.analysis.paired import PairedRateResult, compare_paired
from toxft.analysis.rates import RateResult, compare_rates
from toxft.analysis.settings import METHOD_DETAILS, METHOD_NAMES, VERDICTS, AnalysisSettings
from toxft.degenerate import length
from toxft.errors import ToxftError
from toxft.runs import Run, Sample
from toxft.suite import SUBSETS

__all__ = ["VERDICTS", "METHOD_NAMES", "METHOD_DETAILS", "Flip", "Degenerate", "SubsetComparison", "PairComparison",
           "words", "compare_runs", "check_same_scorer", "flips"]


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


@dataclass(frozen=True)
class Degenerate:
    """Both models' degenerate continuations on the shared prompts, and their paired comparison."""

    share_a: float
    share_b: float
    kinds_a: dict[str, int]
    kinds_b: dict[str, int]
    mean_words_a: float
    mean_words_b: float
    paired: PairedRateResult  # of the degenerate flags, A minus B

    def rose(self, side: str) -> bool:
        """Whether that side's (``a`` or ``b``) degenerate share is credibly higher than the other's."""
        if not self.paired.credible:
            return False
        return self.paired.diff_mean > 0 if side == "a" else self.paired.diff_mean < 0

    def kinds(self, side: str) -> str:
        """"empty" or "empty 80%, loop 20%": the kinds of one side's degenerate continuations."""
        counts = self.kinds_a if side == "a" else self.kinds_b
        total = sum(counts.values())
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{kind} {count / total:.0%}" for kind, count in sorted(counts.items(), key=lambda kv: -kv[1]))

    def to_dict(self) -> dict:
        return {"share_a": self.share_a, "share_b": self.share_b, "kinds_a": self.kinds_a, "kinds_b": self.kinds_b,
                "mean_words_a": self.mean_words_a, "mean_words_b": self.mean_words_b,
                "rose_in_a": self.rose("a"), "rose_in_b": self.rose("b"), "paired": self.paired.to_dict()}


def words(result: BestResult | RateResult | PairedRateResult | None) -> str:
    """Words for one posterior: credibly higher / lower, practically equivalent, no credible difference, not converged."""
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


@dataclass
class SubsetComparison:
    """Both models on one subset's shared prompts: A minus B."""

    subset: str
    n: int
    rate_a: float
    rate_b: float
    rates: RateResult
    best: BestResult | None
    settings: AnalysisSettings
    degenerate: Degenerate
    only_a: int = 0
    only_b: int = 0
    paired: PairedRateResult | None = None
    toxic_only_in_a: list[Flip] = field(default_factory=list)
    toxic_only_in_b: list[Flip] = field(default_factory=list)

    def result(self, method: str | None = None) -> PairedRateResult | RateResult | BestResult | None:
        """The posterior ``method`` names (paired, rates or best); by default the one that states the verdict."""
        method = method or self.settings.verdict
        if method not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {method!r}")
        return getattr(self, method)

    @property
    def headline(self) -> PairedRateResult | RateResult:
        """The posterior whose mean is this subset's change in the toxic rate wherever one number is printed (with its
        HDI beside it): the verdict's rate model, or the paired one when the verdict is BEST on the scores."""
        result = self.result()
        if isinstance(result, (PairedRateResult, RateResult)):
            return result
        return self.paired or self.rates

    @property
    def observed(self) -> float:
        """The observed change in the toxic rate, A minus B (a labelled column beside the headline)."""
        return self.rate_a - self.rate_b

    @property
    def credible(self) -> bool:
        result = self.result()
        return bool(result is not None and result.credible and words(result).startswith("credibly"))

    @property
    def direction(self) -> str:
        """The verdict's words alone (credibly higher, ...), without a caveat."""
        return words(self.result())

    def broken_side(self) -> str | None:
        """``a`` or ``b`` when the side the verdict calls less toxic became credibly more degenerate."""
        direction = self.direction
        if direction == "credibly lower" and self.degenerate.rose("a"):
            return "a"
        if direction == "credibly higher" and self.degenerate.rose("b"):
            return "b"
        return None

    def caveat(self, whose_a: str = "A's", whose_b: str = "B's") -> str:
        """", but 100% of A's continuations are degenerate (empty)" when the side called less toxic became credibly
        more degenerate; ", and A's continuations are credibly more often degenerate (71% vs 48%; loop)" for any other
        credible rise; nothing when neither side's degenerate share rose credibly."""
        degenerate = self.degenerate
        side = self.broken_side()
        if side is not None:
            share = degenerate.share_a if side == "a" else degenerate.share_b
            whose = whose_a if side == "a" else whose_b
            return f", but {share:.0%} of {whose} continuations are degenerate ({degenerate.kinds(side)})"
        for side, whose, share, other in (("a", whose_a, degenerate.share_a, degenerate.share_b),
                                          ("b", whose_b, degenerate.share_b, degenerate.share_a)):
            if degenerate.rose(side):
                return (f", and {whose} continuations are credibly more often degenerate ({share:.0%} vs {other:.0%}; "
                        f"{degenerate.kinds(side)})")
        return ""

    def verdict_text(self, whose_a: str = "A's", whose_b: str = "B's") -> str:
        """The verdict as every output shows it: its words, then the degenerate caveat if any."""
        return self.direction + self.caveat(whose_a, whose_b)

    @property
    def verdict(self) -> str:
        return self.verdict_text()

    def to_dict(self) -> dict:
        return {
            "subset": self.subset, "n": self.n, "rate_a": self.rate_a, "rate_b": self.rate_b,
            "verdict": self.verdict, "verdict_from": self.settings.verdict, "credible": self.credible,
            "degenerate_caveat": self.broken_side() is not None,
            "prompts_only_in_a": self.only_a, "prompts_only_in_b": self.only_b,
            "paired": self.paired.to_dict() if self.paired else None,
            "rates": self.rates.to_dict(), "best": self.best.to_dict() if self.best else None,
            "degenerate": self.degenerate.to_dict(),
            "toxic_only_in_a": [f.to_dict() for f in self.toxic_only_in_a],
            "toxic_only_in_b": [f.to_dict() for f in self.toxic_only_in_b],
        }


@dataclass
class PairComparison:
    """Run a minus run b on each subset both have, made once with ``settings``."""

    a: Run
    b: Run
    settings: AnalysisSettings
    subsets: dict[str, SubsetComparison] = field(default_factory=dict)

    @property
    def scorer(self) -> str | None:
        return self.a.scorer or self.b.scorer

    def to_dict(self) -> dict:
        return {
            "a": self.a.name, "b": self.b.name, "a_folder": str(self.a.folder), "b_folder": str(self.b.folder),
            "direction": "a - b (first run minus second)", "scorer": self.scorer,
            "settings": self.settings.to_dict(), "method": METHOD_DETAILS[self.settings.verdict],
            "subsets": {name: s.to_dict() for name, s in self.subsets.items()},
        }


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


def _degenerate(samples_a: dict[str, Sample], samples_b: dict[str, Sample], shared: list[str],
                settings: AnalysisSettings) -> Degenerate:
    kinds_a = [samples_a[i].degenerate for i in shared]
    kinds_b = [samples_b[i].degenerate for i in shared]
    paired = compare_paired([k is not None for k in kinds_a], [k is not None for k in kinds_b],
                            settings.hdi_prob, rope=settings.rope, seed=settings.seed)
    mean_words = lambda samples: sum(length(samples[i].continuation) for i in shared) / len(shared)  # noqa: E731
    return Degenerate(paired.rate_a, paired.rate_b, dict(Counter(k for k in kinds_a if k)),
                      dict(Counter(k for k in kinds_b if k)), mean_words(samples_a), mean_words(samples_b), paired)


def compare_runs(a: Run, b: Run, settings: AnalysisSettings | None = None, *, subsets=tuple(SUBSETS),
                 strict: bool = False, examples: int = 0,
                 warn=lambda message: print(message, file=sys.stderr)) -> PairComparison:
    """Compare two runs on the subsets both ran, pairing prompts by their id, with ``settings``."""
    settings = settings or AnalysisSettings()
    if a.folder.resolve() == b.folder.resolve():
        raise ToxftError(f"toxft: both runs are {a.folder}; compare two different runs")
    from toxft.progress import progress

    check_same_scorer(a, b)
    comparison = PairComparison(a, b, settings)
    names = [name for name in subsets if a.has(name) and b.has(name)]
    # BEST takes seconds to minutes per subset; the rate models take milliseconds.
    bar = progress(names, desc=f"toxft: BEST {a.name} vs {b.name}", unit="subset", disable=not settings.best,
                   leave=False)
    for name in bar:
        if settings.best:
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
        common = dict(hdi_prob=settings.hdi_prob, rope=settings.rope, seed=settings.seed)
        rates = compare_rates(flags_a, flags_b, **common)
        paired = compare_paired(flags_a, flags_b, **common)
        best_result = None
        if settings.best:
            best_result = best([samples_a[i].score for i in shared], [samples_b[i].score for i in shared],
                               **settings.best_options)
        toxic_a, toxic_b = flips(samples_a, samples_b, shared, examples)
        comparison.subsets[name] = SubsetComparison(
            name, len(shared), rates.rate_a, rates.rate_b, rates, best_result, settings,
            _degenerate(samples_a, samples_b, shared, settings), only_a, only_b, paired, toxic_a, toxic_b)
    if not comparison.subsets:
        raise ToxftError(f"toxft: {a.name} and {b.name} share no toxft subset")
    return comparison


def check_same_scorer(a: Run, b: Run) -> None:
    """Refuse runs scored by different classifiers or labels on a task both ran: their rates measure different
    things. (The English suite and the multilingual tasks of one run may use different classifiers.)"""
    pairs = [(f" on {task}", a.task_scorers.get(task, a.scorer), b.task_scorers.get(task, b.scorer))
             for task in a.samples if task in b.samples] or [("", a.scorer, b.scorer)]
    for where, scorer_a, scorer_b in pairs:
        if scorer_a and scorer_b and scorer_a != scorer_b:
            raise ToxftError(f"toxft: {a.name} was scored by {scorer_a} and {b.name} by {scorer_b}"
                             f"{where if a.task_scorers else ''}; rescore one of them with "
                             "`toxft rescore RUN --scorer ... --output NEW` so both use the same scorer")

