"""How long `toxft rescore` takes for the paper's 2,400 continuations, against generating them again.

Builds a run folder in the harness's layout with 2,400 continuation-like texts (1,000 severe,
1,000 random, 4 x 100 CEB; mostly near the paper's 50 new tokens), and a randomly initialised
classifier of the paper's shape (RoBERTa, 12 layers, hidden 768), then times the whole
`toxft rescore` command in one process: reading, scoring, recomputing, writing.

    python benchmarks/rescore_speed.py [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorer_speed import build_classifier, make_texts  # noqa: E402

SIZES = {"toxft_rtp_severe": 1000, "toxft_rtp_random": 1000, "toxft_ceb_race": 100, "toxft_ceb_gender": 100,
         "toxft_ceb_age": 100, "toxft_ceb_religion": 100}


def write_run(folder: Path, texts: list[str]) -> Path:
    model = folder / "model"
    model.mkdir(parents=True)
    stamp = "2026-01-01T00-00-00.000000"
    position = 0
    results = {}
    for task, n in SIZES.items():
        rows = []
        for index in range(n):
            text = texts[position]
            position += 1
            rows.append({"doc_id": index, "doc": {"id": f"{task}:{index}", "prompt": "p", "scorer": "x [hate, softmax]"},
                         "resps": [[text]], "filtered_resps": [0.0], "toxic": 0.0, "toxicity": 0.0})
        (model / f"samples_{task}_{stamp}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        results[task] = {"alias": task, "name": task, "sample_len": n}
    groups = {"toxft_ceb": [t for t in SIZES if "ceb" in t],
              "toxft": ["toxft_ceb", "toxft_rtp_severe", "toxft_rtp_random"]}
    results.update({g: {"alias": g, "name": g} for g in groups})
    (model / f"results_{stamp}.json").write_text(json.dumps({"results": results, "group_subtasks": groups}))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    import torch

    from toxft.cli import main as toxft

    texts = make_texts(sum(SIZES.values()), seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        classifier = build_classifier(tmp / "classifier", texts)
        run = write_run(tmp / "run", texts)
        started = time.perf_counter()
        code = toxft(["rescore", str(run), "--scorer", str(classifier), "--output", str(tmp / "new"),
                      "--device", args.device])
        seconds = time.perf_counter() - started
    assert code == 0
    print(f"machine: {torch.get_num_threads()} threads, device {args.device}, torch {torch.__version__}")
    print(f"toxft rescore, {len(texts):,} continuations: {seconds:.1f} s ({len(texts) / seconds:.0f} texts/s)")


if __name__ == "__main__":
    main()
