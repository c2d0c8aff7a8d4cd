"""Argument types shared by the subcommands: a bad count or range is refused while parsing.

Each is an ``argparse`` ``type=`` callable, so the error names the flag, e.g.
``toxft: error: argument --limit: must be a whole number of 1 or more, not '-3'``.
"""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a {'whole ' if kind is int else ''}number, not {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count of at least 1 (prompts, draws, chains, steps)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """A count that may be 0 (examples, tuning steps, seeds)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of 0 or more, not {text!r}")
    return value


def open_probability(text: str) -> float:
    """A probability strictly between 0 and 1 (an HDI mass)."""
    value = _number(text, float)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text!r}")
    return value


def positive_float(text: str) -> float:
    """A number above 0 (minutes, learning rates)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text!r}")
    return value


def share(text: str) -> float:
    """A share at least 0 and below 1 (a dropout rate)."""
    value = _number(text, float)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A number of 0 or more (a weight decay)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of 0 or more, not {text!r}")
    return value


def difference(text: str) -> float:
    """A difference of probabilities, between -1 and 1 (a ROPE bound)."""
    value = _number(text, float)
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between -1 and 1 (probability units), not {text!r}")
    return value
