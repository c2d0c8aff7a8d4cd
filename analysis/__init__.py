"""BEST and rate comparisons of toxft runs (imported as ``toxft.analysis``)."""

from toxft.analysis.best import BestResult, best
from toxft.analysis.rates import RateResult, compare_rates

__all__ = ["best", "BestResult", "compare_rates", "RateResult"]
