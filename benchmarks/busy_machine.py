"""How toxft's CPU work holds up on a busy machine: one job alone, then two of the same at once.

Two cases, each measured side by side in this one run:

* ``demo``: ``toxft demo`` (tiny models, trained and evaluated single-threaded), once alone,
  then two demos started together in separate folders;
* ``scorer``: scoring 600 texts with a randomly initialised classifier of the paper's shape
  (RoBERTa-base), the real-size CPU work of an evaluation, with torch's default threads (one
  per core), once alone and then two at once; under OpenMP's spinning wait policy (libgomp's
  default) and under the passive one that toxft sets for its commands and jobs.

For the demo, a ratio near 1 means a second demo costs nothing: each runs single-threaded on
its own core. For the scorer, which uses every core, two jobs at once can at best take 2x as
long each (each gets half the machine); more than that is the oversubscription collapse.

  python benchmarks/busy_machine.py                 # every case
  python benchmarks/busy_machine.py --cases demo
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCORER_JOB = r"""
import sys, time, torch
from pathlib import Path
sys.path.insert(0, {benchmarks!r})
from scorer_speed import build_classifier, make_texts
from toxft.scorer import ToxicityScorer
texts = make_texts(600)
scorer = ToxicityScorer(str(build_classifier(Path({folder!r}), texts)), torch.device("cpu"))
scorer(texts[:8], progress=False)
started = time.perf_counter()
scorer(texts, progress=False)
print(time.perf_counter() - started)
"""


def _demo(folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "toxft.cli", "demo", "--output", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _scorer(policy: str):
    def start(folder: Path) -> subprocess.Popen:
        code = SCORER_JOB.format(benchmarks=str(Path(__file__).resolve().parent), folder=str(folder))
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env={**os.environ, "OMP_WAIT_POLICY": policy})
    return start


def _timed(starters) -> list[float]:
    """Start the jobs together; each one's wall time (the scorer job reports its own scoring time)."""
    started = time.perf_counter()
    processes = [start() for start in starters]
    times = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a job failed (exit {process.returncode})")
        times.append(float(out.strip().splitlines()[-1]) if out else time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = {"demo": _demo, "scorer-spinning": _scorer("ACTIVE"), "scorer-passive": _scorer("PASSIVE")}
    parser.add_argument("--cases", nargs="+", choices=list(jobs), default=list(jobs))
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          "each case: one job alone, then two started together")
    for case in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (alone,) = _timed([lambda: jobs[case](tmp / "alone")])
            together = _timed([lambda: jobs[case](tmp / "one"), lambda: jobs[case](tmp / "two")])
        print(f"{case}: alone {alone:.1f} s; two at once {together[0]:.1f} s and {together[1]:.1f} s; "
              f"slowest / alone = {max(together) / alone:.2f}x")


if __name__ == "__main__":
    main()
