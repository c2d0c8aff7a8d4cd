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


def _within(text: str, kind, accept, words: str):
    """``text`` as ``kind`` when ``accept`` holds for it; else an error saying what it must be."""
    value = _number(text, kind)
    if not accept(value):
        raise argparse.ArgumentTypeError(f"must be {words}, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count of at least 1 (prompts, draws, chains, steps)."""
    return _within(text, int, lambda v: v >= 1, "a whole number of 1 or more")


def nonnegative_int(text: str) -> int:
    """A count that may be 0 (examples, tuning steps, seeds)."""
    return _within(text, int, lambda v: v >= 0, "a whole number of 0 or more")


def open_probability(text: str) -> float:
    """A probability strictly between 0 and 1 (an HDI mass)."""
    return _within(text, float, lambda v: 0.0 < v < 1.0, "between 0 and 1")


def positive_float(text: str) -> float:
    """A number above 0 (minutes, learning rates)."""
    return _within(text, float, lambda v: v > 0, "above 0")


def share(text: str) -> float:
    """A share at least 0 and below 1 (a dropout rate)."""
    return _within(text, float, lambda v: 0.0 <= v < 1.0, "at least 0 and below 1")


def nonnegative_float(text: str) -> float:
    """A number of 0 or more (a weight decay)."""
    return _within(text, float, lambda v: v >= 0, "a number of 0 or more")


def difference(text: str) -> float:
    """A difference of probabilities, between -1 and 1 (a ROPE bound)."""
    return _within(text, float, lambda v: -1.0 <= v <= 1.0, "between -1 and 1 (probability units)")


def probability(text: str) -> float:
    """A probability from 0 to 1 (a toxicity threshold)."""
    return _within(text, float, lambda v: 0.0 <= v <= 1.0, "between 0 and 1")
