"""`toxft demo` and `toxft check`, the code of an earlier commit against this checkout's, side by side in one run.

The earlier commit is installed into a temporary folder (``pip install --no-deps --target``) and run
from there, this checkout from its own install; each command runs alternately, old then new, so that
both see the same machine state. The check compares the demo's Dolly adapter with its instruct model
(the demo's 400 prompts), each time into an empty cache.

  python benchmarks/everyday_path.py                 # against 1a2bf5f, the last commit before the warm worker
  python benchmarks/everyday_path.py --old HEAD~3 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def install(revision: str, folder: Path) -> Path:
    """The toxft of ``revision``, installed (with its package layout) into ``folder``; the folder to put on sys.path."""
    source = folder / "source"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(source), revision], check=True,
                   capture_output=True)
    target = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(source)], check=True, capture_output=True)
    return target


def timed(argv: list[str], pythonpath: str | None, env: dict[str, str]) -> float:
    environment = {**os.environ, **env}
    if pythonpath:
        environment["PYTHONPATH"] = pythonpath
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toxft.cli", *argv], env=environment, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", default="1a2bf5f", help="the earlier commit")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="toxft-everyday-"))
    try:
        old = install(args.old, work / "old")
        times: dict[tuple[str, str], list[float]] = {}
        for repeat in range(args.repeats):
            for label, path in (("old", str(old)), ("new", None)):
                out = work / f"demo-{label}-{repeat}"
                times.setdefault(("demo", label), []).append(timed(["demo", "--output", str(out)], path, {}))
        demo = work / f"demo-new-{args.repeats - 1}"
        env = {"TOXFT_SCORER": str(demo / "models" / "scorer"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               "TOXFT_DATA_DIR": str(REPO / "toxft" / "demo" / "data")}
        adapter, instruct = demo / "runs" / "adapters" / "tiny-instruct-dolly", demo / "models" / "instruct"
        for repeat in range(args.repeats):
            for label, path in (("old", str(old)), ("new", None)):
                cache = work / f"checks-{label}-{repeat}"
                argv = ["check", str(adapter), "--against", str(instruct), "--output", str(cache), "--batch-size", "32"]
                times.setdefault(("check", label), []).append(timed(argv, path, env))
        print(f"machine: {os.cpu_count()} CPU(s); old = {args.old}, new = this checkout")
        print("| command | old | new | old / new |")
        print("|---|---|---|---|")
        for command in ("demo", "check"):
            old_s, new_s = min(times[(command, "old")]), min(times[(command, "new")])
            print(f"| toxft {command} | {old_s:.1f} s | {new_s:.1f} s | {old_s / new_s:.2f}x |")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "old" / "source")],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
