"""Progress that reads well where it lands: a tqdm bar on a terminal, plain lines in a log.

Carriage-return bars turn a CI log, a ``> log 2>&1`` file or a SLURM output into one
unreadable line. When standard error is not a terminal, :func:`progress` prints one
line per step when there are few steps, else about one line per tenth of the work.
"""

from __future__ import annotations

import sys
import time


def interactive() -> bool:
    """Whether standard error is a terminal (a person watching) rather than a log."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


_AT_LEAST_EVERY_S = 60.0


class LineProgress:
    """The subset of tqdm's interface toxft uses, printing whole lines to standard error."""

    def __init__(self, iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it",
                 initial: int = 0, disable: bool = False, every: int = 10, estimate: bool = True, **_ignored):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc, self.unit, self.n, self.disable, self.estimate = desc, unit, initial, disable, estimate
        self.postfix = ""
        self.started = time.perf_counter()
        # Few steps: a line each. Many: a line per tenth, so a log stays short, and at least one a
        # minute, so that a log of an hours-long fine-tune shows it is alive.
        self.stride = 1 if not self.total or self.total <= every else max(1, self.total // every)
        self._last_printed = initial
        self._printed_at = self.started

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, count: int = 1) -> None:
        self.n += count
        if (self.n - self._last_printed >= self.stride or (self.total and self.n >= self.total)
                or time.perf_counter() - self._printed_at >= _AT_LEAST_EVERY_S):
            self._print()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def write(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.n != self._last_printed:
            self._print()

    def _print(self) -> None:
        if self.disable or self.n == self._last_printed:
            return
        self._last_printed, self._printed_at = self.n, time.perf_counter()
        of = f"/{self.total}" if self.total else ""
        extra = f" ({self.postfix})" if self.postfix else ""
        seconds = time.perf_counter() - self.started
        left = ""
        if self.estimate and self.total and 0 < self.n < self.total:
            left = f", about {_duration(seconds * (self.total - self.n) / self.n)} left"
        print(f"{self.desc}: {self.n}{of} {self.unit}{extra} [{_duration(seconds)}{left}]", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def progress(iterable=None, *, estimate: bool = True, **options):
    """A tqdm bar on a terminal, else a :class:`LineProgress` with the same options.

    ``estimate=False`` leaves out the time left, for units of very different lengths (a
    study's steps: a fine-tune and an evaluation), where the average would mislead.
    """
    if interactive():
        from tqdm.auto import tqdm

        if not estimate:
            options.setdefault("bar_format", "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}{postfix}]")
        return tqdm(iterable, **options)
    return LineProgress(iterable, estimate=estimate, **options)


# The environment that switches off the bars of tqdm-based libraries (harness, transformers, Hub, datasets).
LIBRARY_BARS_OFF = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def quiet_library_bars() -> None:
    """In a log, switch off the carriage-return bars of tqdm-based libraries (harness, transformers, datasets).

    toxft's own :class:`LineProgress` lines still show every stage. A user's own TQDM_DISABLE is kept.
    """
    import os

    if not interactive():
        for name, value in LIBRARY_BARS_OFF.items():
            os.environ.setdefault(name, value)
