"""``toxft demo``: build the tiny world's models, write its study, and run it with ``toxft study run``."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from toxft.arguments import nonnegative_int
from toxft.demo import world
from toxft.demo.world import DOLLY_FLAGGED_SHARE, _say, study_yaml
from toxft.errors import ToxftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("toxft-demo"), help="folder for everything the demo makes")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --output")
    parser.add_argument("--fast", action="store_true", help="fewer prompts (for CI)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the tiny models' training")
    parser.add_argument("--grid", action="store_true",
                        help="run studies/open-questions.yaml's design instead: a grid of fine-tunes (method, a "
                             "content-free control, two seeds) and the report's 'What changed the toxicity'")


def run(args: argparse.Namespace) -> int:
    from toxft.cli import main as toxft_main

    root = args.output.resolve()
    if root.exists() and any(root.iterdir()):
        if not args.overwrite:
            resume = (f"; an interrupted demo goes on with: toxft study run {root / 'study.yaml'} --output "
                      f"{root / 'runs'}" if (root / "study.yaml").is_file() else "")
            raise ToxftError(f"toxft: {root} is not empty (use --overwrite or another --output){resume}")
        if not (root / "study.yaml").is_file():
            raise ToxftError(f"toxft: {root} does not look like a demo folder; not deleting it")
        shutil.rmtree(root)
    started = time.perf_counter()
    from toxft.study import worker
    from toxft.study.executor import step_environment

    # The study's steps run in a worker that imports the harness once; start it now, so that its
    # imports overlap the training of the tiny models (one thread each, on a machine of two or more).
    worker.warm(step_environment(world.study_env(world.model_paths(root))), worker.preload_for(["finetune"]))
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is as fast, and two demos at once do not collide
    try:
        models = world.build_models(root, args.seed)
    finally:
        torch.set_num_threads(threads)
    (root / "study.yaml").write_text(study_yaml(models, args.fast, args.grid))
    _say(f"running the study in {root / 'study.yaml'}")
    status = toxft_main(["study", "run", str(root / "study.yaml"), "--output", str(root / "runs")])
    if status != 0:
        _say(f"failed after {time.perf_counter() - started:.0f} s (see the lines above); once the cause is fixed, "
             f"go on with: toxft study run {root / 'study.yaml'} --output {root / 'runs'}")
        return status
    _say(f"done in {time.perf_counter() - started:.0f} s; report: {root / 'runs' / 'report.md'}")
    _say(f"note: {DOLLY_FLAGGED_SHARE:.0%} of the demo's Dolly-schema rows are about the flagged word; the demo shows "
         "the machinery, not the paper's finding that a benign fine-tune undoes a mitigation")
    return status
