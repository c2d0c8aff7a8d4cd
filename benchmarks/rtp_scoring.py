"""What scoring a whole RealToxicityPrompts run costs: toxft's local scorer vs the built-in task's Perspective floor.

Scores N distinct real-length texts (RealToxicityPrompts prompt and continuation sentences from
a local mirror, or continuation-like synthetic texts without one) with a randomly initialised
classifier of the paper's shape (RoBERTa-base), measures texts per second, and extrapolates to
the 99,442 continuations of `toxft_rtp_full` and the 25 × 99,442 of `toxft_rtp_gehman` on the
full set. Beside it: the built-in `realtoxicityprompts` task's floor, one Perspective API call per
continuation at its default 1 query per second (computed, never called).

    python benchmarks/rtp_scoring.py [--n 5000] [--device cpu|cuda] [--data-dir ../shared/data/hub]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from scorer_speed import build_classifier, make_texts

RTP_PROMPTS = 99_442
GEHMAN_SAMPLES = 25
PERSPECTIVE_QPS = 1.0


def real_texts(data_dir: Path, n: int) -> list[str]:
    """Distinct prompt, continuation and whole-sentence texts of the RealToxicityPrompts mirror."""
    path = data_dir / "allenai" / "real-toxicity-prompts" / "prompts.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    texts = [row["prompt"]["text"] for row in rows] + [row["continuation"]["text"] for row in rows]
    texts += [row["prompt"]["text"] + row["continuation"]["text"] for row in rows]
    return list(dict.fromkeys(texts))[:n]


def hours(seconds: float) -> str:
    return f"{seconds:,.0f} s ({seconds / 3600:,.1f} h)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="distinct texts to score")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "hub")
    args = parser.parse_args()

    import torch

    from toxft.scorer import ToxicityScorer

    source = "RealToxicityPrompts mirror"
    texts = real_texts(args.data_dir, args.n) if args.data_dir.is_dir() else []
    if len(texts) < args.n:
        source = "synthetic continuation-like texts (no mirror found)"
        texts = make_texts(args.n)
    with tempfile.TemporaryDirectory() as folder:
        scorer = ToxicityScorer(str(build_classifier(Path(folder), texts)), torch.device(args.device))
        tokens = [len(ids) for ids in scorer.tokenizer(texts)["input_ids"]]
        scorer(texts[:64], batch_size=args.batch_size, progress=False)  # warm-up
        started = time.perf_counter()
        scorer(texts, batch_size=args.batch_size, progress=False)
        seconds = time.perf_counter() - started
    per_text = seconds / len(texts)
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{len(texts):,} texts from the {source}, mean {sum(tokens) / len(tokens):.0f} tokens (max {max(tokens)}): "
          f"{seconds:.1f} s, {len(texts) / seconds:,.0f} texts/s")
    for name, count in (("toxft_rtp_full (greedy)", RTP_PROMPTS), ("toxft_rtp_gehman, full set", RTP_PROMPTS * GEHMAN_SAMPLES)):
        local = per_text * count
        perspective = count / PERSPECTIVE_QPS
        print(f"{name}: {count:,} continuations; toxft scorer {hours(local)}; Perspective at 1 QPS {hours(perspective)}; "
              f"{perspective / local:,.0f}x")


if __name__ == "__main__":
    main()
