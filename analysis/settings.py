"""How two runs are compared: one typed record, read by every comparison and every output.

A study's ``analysis:`` section, ``toxft compare``'s flags and ``toxft check``'s defaults all
become an :class:`AnalysisSettings`; :func:`toxft.analysis.compare.compare_runs` takes it, and
the tables, verdict lines, cards, figures and JSON read the comparison it made, never a second
one with other settings.

Example::

    >>> s = AnalysisSettings(hdi_prob=0.8, rope=(-0.05, 0.05))
    >>> s.describe()
    'the paired rate model, 80% HDI, ROPE [-5.0, +5.0] pp'
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace

from toxft.errors import ToxftError

# Which posterior states the verdict; the paired model by default, since the runs are paired by prompt.
VERDICTS = ("paired", "rates", "best")
METHOD_NAMES = {
    "paired": "the paired rate model",
    "rates": "the unpaired Beta-Binomial rate model",
    "best": "BEST on the scores",
}
METHOD_DETAILS = {
    "paired": "the paired rate model (Dirichlet over the 2×2 table of shared prompts)",
    "rates": "the unpaired Beta-Binomial rate model",
    "best": "BEST on the scores (Kruschke, 2013)",
}
PRIORS = ("paper", "kruschke")


class AnalysisError(ToxftError):
    """Analysis settings that cannot be used."""


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that shapes a comparison's numbers and words."""

    verdict: str = "paired"  # the posterior that states the verdict
    best: bool = True  # fit BEST too (MCMC); without it only the two rate models run
    hdi_prob: float = 0.95
    rope: tuple[float, float] | None = None  # in probability units: (-0.01, 0.01) is ±1 point
    seed: int = 0  # of every posterior draw: the same runs give the same numbers
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int | None = None
    priors: str = "paper"
    ess_floor: float = 400.0
    scorers: tuple[str, ...] = ()  # extra classifiers a study scores every continuation with

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise AnalysisError(f"toxft: {problem}")

    def problem(self) -> str | None:
        """What is wrong with these settings, in words; None when they can be used."""
        if self.verdict not in VERDICTS:
            return f"verdict must be one of {', '.join(VERDICTS)}, not {self.verdict!r}"
        if self.verdict == "best" and not self.best:
            return "the verdict from BEST needs BEST to run"
        if not 0.0 < self.hdi_prob < 1.0:
            return f"hdi_prob must be between 0 and 1, not {self.hdi_prob!r}"
        if self.rope is not None and not (len(self.rope) == 2 and -1 <= self.rope[0] < self.rope[1] <= 1):
            return f"rope must be [LOW, HIGH] with LOW below HIGH, both between -1 and 1, not {list(self.rope)!r}"
        if self.priors not in PRIORS:
            return f"priors must be paper or kruschke, not {self.priors!r}"
        return None

    @property
    def best_options(self) -> dict:
        """The keyword arguments of :func:`toxft.analysis.best.best`."""
        return dict(priors=self.priors, hdi_prob=self.hdi_prob, rope=self.rope, seed=self.seed, draws=self.draws,
                    tune=self.tune, chains=self.chains, cores=self.cores, ess_floor=self.ess_floor)

    def interval(self) -> str:
        """"95% HDI", with the ROPE when one is set."""
        text = f"{self.hdi_prob:.0%} HDI"
        if self.rope:
            text += f", ROPE [{100 * self.rope[0]:+.1f}, {100 * self.rope[1]:+.1f}] pp"
        return text

    def describe(self) -> str:
        """The method and interval every table names: 'the paired rate model, 95% HDI'."""
        return f"{METHOD_NAMES[self.verdict]}, {self.interval()}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rope"] = list(self.rope) if self.rope else None
        data["scorers"] = list(self.scorers)
        return data


_COUNTS = {"draws": 1, "chains": 1, "cores": 1, "tune": 0, "seed": 0}


def from_mapping(values: dict | None, where: str) -> AnalysisSettings:
    """A study's ``analysis:`` section as settings; unknown keys and bad values are one-line errors."""
    values = dict(values or {})
    known = {f.name for f in fields(AnalysisSettings)}
    unknown = sorted(set(map(str, values)) - known)
    if unknown:
        raise AnalysisError(f"toxft: {where}: analysis: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    for key, least in _COUNTS.items():
        value = values.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise AnalysisError(f"toxft: {where}: analysis {key} must be a whole number of {least} or more, not {value!r}")
    if "best" in values and not isinstance(values["best"], bool):
        raise AnalysisError(f"toxft: {where}: analysis best must be true or false, not {values['best']!r}")
    for key in ("hdi_prob", "ess_floor"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], (int, float))):
            raise AnalysisError(f"toxft: {where}: analysis {key} must be a number, not {values[key]!r}")
    rope = values.get("rope")
    if rope is not None:
        if not (isinstance(rope, list) and len(rope) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rope)):
            raise AnalysisError(f"toxft: {where}: analysis rope must be [LOW, HIGH], not {rope!r}")
        values["rope"] = (float(rope[0]), float(rope[1]))
    scorers = values.get("scorers")
    if scorers is not None:
        if not (isinstance(scorers, list) and all(isinstance(s, str) and s for s in scorers)):
            raise AnalysisError(f"toxft: {where}: analysis scorers must be a list of presets or paths, not {scorers!r}")
        values["scorers"] = tuple(scorers)
    if values.get("verdict") == "best" and "best" not in values:
        values["best"] = True
    try:
        return AnalysisSettings(**values)
    except AnalysisError as error:
        raise AnalysisError(f"toxft: {where}: analysis {str(error).removeprefix('toxft: ')}") from None


def add_interval_arguments(parser: argparse.ArgumentParser) -> None:
    """``--hdi-prob`` and ``--rope``: the interval and decision rule of every verdict (compare, check, report)."""
    from toxft.arguments import difference, open_probability

    parser.add_argument("--hdi-prob", type=open_probability, default=AnalysisSettings.hdi_prob,
                        help="mass of the intervals")
    parser.add_argument("--rope", nargs=2, type=difference, metavar=("LOW", "HIGH"),
                        help="region of practical equivalence, in probability units, 0.01 = 1 point (default: none: "
                             "the HDI alone decides)")


def from_arguments(args: argparse.Namespace, **fixed) -> AnalysisSettings:
    """Settings from parsed flags (those a command has), with ``fixed`` values on top."""
    values = {f.name: getattr(args, f.name) for f in fields(AnalysisSettings) if getattr(args, f.name, None) is not None}
    if values.get("rope") is not None:
        low, high = values["rope"]
        if low >= high:
            raise AnalysisError(f"toxft: --rope LOW HIGH needs LOW below HIGH, not {low:g} {high:g}")
        values["rope"] = (float(low), float(high))
    return replace(AnalysisSettings(), **{**values, **fixed})
