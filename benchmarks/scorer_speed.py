"""Scorer speed: toxft's batched scorer vs an `evaluate`-style transformers pipeline.

Both score the same N continuations with one randomly initialised classifier of the
real model's shape (RoBERTa, 12 layers, hidden 768, labels nothate/hate). Prints both
times, the ratio and the largest score difference.

    python benchmarks/scorer_speed.py [--n 480] [--device cpu|cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch


def make_texts(n: int, seed: int = 0) -> list[str]:
    """Continuation-like texts: 0 to 45 words of 1-3 syllables (about 1-60 tokens)."""
    rng = random.Random(seed)
    syllables = ["ta", "ko", "ri", "men", "sel", "pa", "dor", "li", "ven", "ca", "mi", "ster", "ough", "an", "the"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(3000)]
    texts = []
    for _ in range(n):
        # Greedy continuations: a few empty (EOS first), most of 50 tokens or near it.
        length = 0 if rng.random() < 0.03 else rng.choice([rng.randint(1, 45), rng.randint(30, 45)])
        sentence = " ".join(rng.choice(words) for _ in range(length))
        texts.append(sentence.capitalize() + ("." if length else ""))
    return texts


def build_classifier(folder: Path, texts: list[str]) -> Path:
    """A random RoBERTa-base-shaped classifier with a byte-level BPE tokenizer trained in memory."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts * 3, vocab_size=4000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    from tokenizers import processors

    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", mask_token="<mask>", model_max_length=512,
    )
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        max_position_embeddings=514, pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
        id2label={0: "nothate", 1: "hate"}, label2id={"nothate": 0, "hate": 1},
    )
    model = RobertaForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def pipeline_scores(classify, texts: list[str], label: str = "hate") -> list[float]:
    """What the Hub `toxicity` measurement does: the pipeline over the whole list, default batching."""
    return [next(s["score"] for s in result if s["label"] == label) for result in classify(texts)]


def best_of(run, repeats: int, device: str, warm_up=None):
    """(the shortest of ``repeats`` timed calls of ``run()``, its result), after one untimed warm-up call
    (``warm_up()``, else ``run()``) for the allocator, kernels and lazy imports."""
    (warm_up or run)()
    times, result = [], None
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = run()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=480)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the best is reported")
    args = parser.parse_args()

    from toxft.scorer import ToxicityScorer

    texts = make_texts(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_classifier(Path(tmp), texts)
        scorer = ToxicityScorer(str(path), torch.device(args.device))
        lengths = [len(ids) for ids in scorer.tokenizer(texts)["input_ids"]]
        from transformers import pipeline

        classify = pipeline("text-classification", model=str(path), top_k=None, truncation=True, device=args.device)
        t_pipe, reference = best_of(lambda: pipeline_scores(classify, texts), args.repeats, args.device)
        t_ours, ours = best_of(lambda: scorer(texts, progress=False), args.repeats, args.device)
    gap = max(abs(a - b) for a, b in zip(reference, ours))
    print(f"device: {args.device} ({torch.get_num_threads()} threads)   texts: {len(texts)}   "
          f"tokens/text: mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)}")
    print(f"pipeline (evaluate-style): {t_pipe:8.3f} s")
    print(f"toxft scorer:              {t_ours:8.3f} s")
    print(f"speed-up:                  {t_pipe / t_ours:8.2f}x")
    print(f"largest score difference:  {gap:.2e}")


if __name__ == "__main__":
    main()
