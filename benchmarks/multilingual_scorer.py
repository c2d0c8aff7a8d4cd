"""Multilingual scorer speed: toxft's batched scorer vs an `evaluate`-style pipeline, XLM-R-large-shaped, on CPU.

Both score the same N continuation-like texts in seven scripts (Latin, Han, Kana, Hangul, Arabic,
Devanagari, Cyrillic) with one randomly initialised classifier of the `multilingual` preset's shape
(XLM-RoBERTa large: 24 layers, hidden 1024, 250,002-token vocabulary, labels neutral/toxic; 560M
parameters) and a tokenizer trained in memory on the texts. Prints both times, texts per second, the
ratio and the largest score difference.

    python benchmarks/multilingual_scorer.py [--n 240] [--device cpu|cuda] [--repeats 1]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import torch
from scorer_speed import best_of, pipeline_scores  # this folder's: the same timing and pipeline for both

from toxft.demo.tiny import PTP_WORDS


def make_texts(n: int, seed: int = 0) -> list[str]:
    """Greedy-continuation-like texts: a few empty, most near 50 tokens, each in one language's words."""
    rng = random.Random(seed)
    texts = []
    languages = sorted(PTP_WORDS)
    for index in range(n):
        lang = languages[index % len(languages)]
        length = 0 if rng.random() < 0.03 else rng.choice([rng.randint(1, 30), rng.randint(20, 30)])
        joiner = "" if lang in ("zh", "ja") else " "
        texts.append(joiner.join(rng.choice(PTP_WORDS[lang]) for _ in range(length)))
    return texts


def build_classifier(folder: Path, texts: list[str]) -> Path:
    """A random XLM-R-large-shaped classifier with a SentencePiece-style (Unigram) tokenizer trained in memory."""
    from tokenizers import SentencePieceUnigramTokenizer, processors
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForSequenceClassification

    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator([t for t in texts if t] * 3, vocab_size=2000, show_progress=False,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>")
    unigram.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=unigram._tokenizer, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>", model_max_length=512)
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                              intermediate_size=4096, max_position_embeddings=514, pad_token_id=1, bos_token_id=0,
                              eos_token_id=2, type_vocab_size=1, id2label={0: "neutral", 1: "toxic"},
                              label2id={"neutral": 0, "toxic": 1}, problem_type="single_label_classification")
    XLMRobertaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=240)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each after a warm-up; the best counts")
    args = parser.parse_args()

    from transformers import pipeline

    from toxft.scorer import ToxicityScorer

    texts = make_texts(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_classifier(Path(tmp), texts)
        scorer = ToxicityScorer(str(path), torch.device(args.device), label="toxic")
        lengths = [len(ids) for ids in scorer.tokenizer(texts)["input_ids"]]
        classify = pipeline("text-classification", model=str(path), top_k=None, truncation=True, device=args.device)
        # Warm up on a few texts: a whole pass of this model costs minutes on a CPU.
        t_pipe, reference = best_of(lambda: pipeline_scores(classify, texts, "toxic"), args.repeats, args.device,
                                    warm_up=lambda: pipeline_scores(classify, texts[:8], "toxic"))
        t_ours, ours = best_of(lambda: scorer(texts, progress=False), args.repeats, args.device,
                               warm_up=lambda: scorer(texts[:8], progress=False))
    gap = max(abs(a - b) for a, b in zip(reference, ours))
    print(f"device: {args.device} ({torch.get_num_threads()} threads)   texts: {len(texts)} in {len(PTP_WORDS)} "
          f"languages   tokens/text: mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)}")
    print(f"pipeline (evaluate-style): {t_pipe:8.2f} s  {len(texts) / t_pipe:6.1f} texts/s")
    print(f"toxft scorer:              {t_ours:8.2f} s  {len(texts) / t_ours:6.1f} texts/s")
    print(f"speed-up:                  {t_pipe / t_ours:8.2f}x")
    print(f"largest score difference:  {gap:.2e}")


if __name__ == "__main__":
    main()
