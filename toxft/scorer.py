"""The toxicity scorer: P(label) from a local sequence classifier, batched.

By default the paper's classifier with the Hugging Face ``evaluate`` *toxicity*
semantics (softmax over all labels, score of the label ``hate``, inputs truncated to the
model's limit), so numbers are comparable with the paper. Any classifier with a named
label works, with a softmax over labels or a per-label sigmoid (multi-label models such
as the Jigsaw-trained ones). What differs from ``evaluate`` is speed: the classifier is
loaded once per process and shared, texts are tokenised once, de-duplicated and scored
in length-sorted batches under ``torch.inference_mode``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from toxft import settings
from toxft.errors import ToxftError

TOXIC_LABEL = settings.DEFAULT_LABEL
_CPU_BATCH = 32
_GPU_BATCH = 256


class ScorerError(ToxftError):
    """The classifier cannot be used as a toxicity scorer."""


def check_spec(spec: str) -> str:
    """A scorer as the user named it: a preset, a local classifier folder or a Hub id (owner/name), each
    optionally ``:label`` (the label whose probability is the score); else one line."""
    from pathlib import Path

    name, _ = settings.split_label(spec)
    if Path(spec).expanduser().is_dir():  # a folder whose name holds a colon is a folder
        return spec
    if name in settings.PRESETS or Path(name).expanduser().is_dir():
        return spec
    if name.startswith((".", "/", "~")):
        raise ScorerError(f"toxft: scorer {spec!r}: no such folder")
    if name.count("/") != 1 or not all(name.split("/")):
        raise ScorerError(f"toxft: unknown scorer {spec!r} (presets: {', '.join(settings.PRESETS)}; or a classifier's "
                          "folder or Hub id owner/name, optionally :label)")
    return spec


def describe(spec: str) -> str:
    """What runs scored by ``spec`` record as their scorer: model[@revision] [label, activation]."""
    return replace(settings.current(), scorer=spec, scorer_label=None, scorer_activation=None).scorer_description()


def check_classifier(spec: str) -> None:
    """Refuse, before any generation, a classifier that cannot be loaded or has no such label (reads its config only)."""
    from transformers import AutoConfig

    model, label, activation = replace(settings.current(), scorer=check_spec(spec), scorer_label=None,
                                       scorer_activation=None).scorer_spec()
    try:
        config = AutoConfig.from_pretrained(model, revision=settings.current().scorer_revision)
    except (OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ScorerError(f"toxft: cannot load the classifier {spec!r}: {first[:200]}") from None
    labels = {str(v) for v in (getattr(config, "id2label", None) or {}).values()}
    if label not in labels:
        raise ScorerError(f"toxft: classifier {spec!r} has no label {label!r} (its labels: {', '.join(sorted(labels))})")


def resolve_device(device: str | None) -> torch.device:
    """``None``/"auto" picks the GPU when there is one, else the CPU."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ScorerError(f"toxft: unknown scorer device {device!r}") from None


@dataclass
class ToxicityScorer:
    """A loaded classifier that turns texts into P(label)."""

    model_id: str
    device: torch.device
    revision: str | None = None
    label: str = TOXIC_LABEL
    activation: str = "softmax"

    def __post_init__(self) -> None:
        # Imported here so that `toxft --help` does not pay for transformers.
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_id, revision=self.revision)
        model = AutoModelForSequenceClassification.from_pretrained(
            self.model_id, revision=self.revision, dtype=torch.float32
        )
        labels = {str(v): int(k) for k, v in model.config.id2label.items()}
        if self.label not in labels:
            raise ScorerError(
                f"toxft: classifier {self.model_id!r} has no label {self.label!r} "
                f"(its labels: {', '.join(sorted(labels))}; choose one with TOXFT_SCORER_LABEL)"
            )
        if self.activation not in settings.ACTIVATIONS:
            raise ScorerError(f"toxft: unknown scorer activation {self.activation!r} (softmax or sigmoid)")
        self.toxic_index = labels[self.label]
        self.model = model.to(self.device).eval()
        self.max_length = _input_limit(self.tokenizer, model.config)

    def __call__(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = True) -> list[float]:
        """Score every text; the order of the result is the order of ``texts``."""
        from toxft.progress import progress as bar

        texts = [str(t) for t in texts]
        if not texts:
            return []
        batch_size = batch_size or (_GPU_BATCH if self.device.type == "cuda" else _CPU_BATCH)
        # Identical continuations (empty ones, EOS-only, repeated refusals) are common
        # in greedy decoding: score each distinct text once.
        unique = list(dict.fromkeys(texts))
        encoded = self.tokenizer(unique, truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(unique)), key=lambda i: len(encoded[i]))
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        scores = [0.0] * len(unique)
        batches = range(0, len(order), batch_size)
        with torch.inference_mode():
            for start in bar(batches, desc="toxft: scoring", unit="batch", disable=not progress or len(batches) < 2):
                members = order[start : start + batch_size]
                probs = self._forward([encoded[i] for i in members], pad_id)
                for i, p in zip(members, probs):
                    scores[i] = p
        by_text = dict(zip(unique, scores))
        return [by_text[t] for t in texts]

    def _forward(self, sequences: list[list[int]], pad_id: int) -> list[float]:
        longest = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), longest), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        # Without padding the mask is all ones; dropping it lets SDPA take its
        # unmasked kernel. Length sorting makes such batches the common case.
        needs_mask = bool((mask == 0).any())
        logits = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device) if needs_mask else None,
        ).logits
        logits = logits.float()
        if self.activation == "sigmoid":  # multi-label: each label's own probability
            return logits[:, self.toxic_index].sigmoid().tolist()
        return logits.softmax(dim=-1)[:, self.toxic_index].tolist()


def _input_limit(tokenizer, config) -> int:
    limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    if 0 < limit <= 100_000:
        return limit
    # Tokenizers without a recorded limit: fall back to the position table,
    # less RoBERTa's two reserved positions.
    positions = int(getattr(config, "max_position_embeddings", 512))
    return positions - 2 if config.model_type in {"roberta", "xlm-roberta", "camembert"} else positions


_cache: dict[tuple[str, str | None, str, str, str], ToxicityScorer] = {}
_lock = threading.Lock()


def get_scorer(model: str | None = None, device: str | None = None, revision: str | None = None,
               label: str | None = None, activation: str | None = None,
               configured: settings.Settings | None = None) -> ToxicityScorer:
    """The process-wide scorer for (model or preset, revision, device, label, activation), loaded on first use;
    what is not given comes from ``configured`` (default: the settings in force)."""
    current = configured or settings.current()
    spec = replace(current, scorer=model) if model else current
    model, default_label, default_activation = spec.scorer_spec()
    label, activation = label or default_label, activation or default_activation
    revision = revision or current.scorer_revision
    resolved = resolve_device(device or current.scorer_device)
    key = (model, revision, str(resolved), label, activation)
    with _lock:
        if key not in _cache:
            _cache[key] = ToxicityScorer(model, resolved, revision, label, activation)
        return _cache[key]


def score(
    texts: list[str],
    *,
    model: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    label: str | None = None,
    activation: str | None = None,
    configured: settings.Settings | None = None,
) -> list[float]:
    """P(label) for each text, from ``model`` (a Hub id, a folder or a preset; default: the configured classifier,
    the paper's unless set; ``configured`` gives other settings, e.g. ``settings.current().multilingual()``)."""
    scorer = get_scorer(model, device, label=label, activation=activation, configured=configured)
    return scorer(texts, batch_size=batch_size or settings.current().scorer_batch_size, progress=progress)
