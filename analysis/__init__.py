"""Comparisons of toxft runs (imported as ``toxft.analysis``): the paired rate model (the default
verdict), the unpaired Beta-Binomial rate model and the paper's BEST, with the settings every output reads."""

from toxft.analysis.best import BestResult, best
from toxft.analysis.paired import PairedRateResult, compare_paired
from toxft.analysis.rates import RateResult, compare_rates
from toxft.analysis.settings import AnalysisSettings

__all__ = ["best", "BestResult", "compare_paired", "PairedRateResult", "compare_rates", "RateResult",
           "AnalysisSettings"]
