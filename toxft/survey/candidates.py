"""Which of a model's fine-tunes and adapters a survey evaluates, and why each other one is left out.

The Hub's model tree lists, for a model, every repository whose card declares it as
``base_model``, by relation: ``finetune``, ``adapter``, ``merge`` and ``quantized``. The paper
chose community models by hand from that list, most downloaded first, leaving out quantized
copies and models Transformers could not load; these rules do the same, in this order, and
record the first that applies:

1. quantized: the ``quantized`` relation, a quantization tag (gguf, gptq, awq, exl2, 4-bit, ...),
   a quantized file (``*.gguf``, ``quantize_config.json``) or a quantization word in the name;
   except a fine-tune published only as GGUF (GGUF files, no PyTorch weights, not the quantized
   relation): many community fine-tunes exist only so, and the harness loads one GGUF file of it
   (``gguf_file``, the most precise quantisation the repository holds: :func:`gguf_choice`);
2. merge: the ``merge`` relation or a mergekit tag (kept with ``include_merges``);
3. not loadable: a ``library_name`` other than Transformers or PEFT, no ``config.json``, no
   PyTorch weights, an adapter without ``adapter_model`` weights;
4. below ``min_downloads`` monthly downloads;
5. beyond ``top``: enough were kept already;
6. gated, and this token has no access;
7. a duplicate: the same weight files (by content) as the reference or a repository kept before it.

Rules 1-5 read the listing; 6 and 7 ask the Hub about each repository that reaches them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

RELATIONS = ("finetune", "adapter", "merge", "quantized")
_QUANTIZED_TAGS = ("gguf", "gptq", "awq", "exl2", "bitsandbytes", "4-bit", "8-bit", "aqlm", "hqq", "autoround")
_QUANTIZED_FILES = re.compile(r"(\.gguf|\.ggml|(^|/)quantize_config\.json|(^|/)quant_config\.json)$")
_QUANTIZED_NAME = re.compile(r"(?i)(?:^|[-_.])(gguf|ggml|gptq|awq|exl2|bnb|nf4|int[48]|[2-8]-?bit|\d(?:\.\d+)?bpw)"
                             r"(?=$|[-_.])")
_MERGE_TAGS = ("merge", "mergekit")
_LOADABLE = (None, "transformers", "peft")
# The rule each skip comes from, as candidates.md counts them.
RULES = ("quantized", "merge", "not loadable", "few downloads", "beyond top", "gated", "duplicate")


@dataclass
class Candidate:
    """One repository of the model tree, what the listing says of it, and the survey's decision."""

    repo_id: str
    relations: list[str]
    downloads: int
    sha: str | None
    library_name: str | None
    tags: list[str]
    files: list[str]
    gated: bool
    kept: bool = False
    rule: str | None = None  # which rule skipped it (one of RULES); None when kept
    reason: str = ""
    weights: dict[str, str] = field(default_factory=dict)  # filled for those that reach rule 7
    languages: list[str] = field(default_factory=list)  # its card's language: entries, else its language tags
    gguf_file: str | None = None  # for a fine-tune published only as GGUF: the file the harness loads

    @property
    def kind(self) -> str:
        """"adapter" for a PEFT adapter (evaluated on the reference), else "model"."""
        return "adapter" if "adapter_config.json" in self.files else "model"

    def to_dict(self) -> dict:
        record = asdict(self)
        record.pop("weights")
        return {**record, "kind": self.kind}


def from_listing(info, relation: str) -> Candidate:
    """A candidate from one ``huggingface_hub`` ModelInfo of a model-tree listing."""
    from toxft.hub import as_list
    from toxft.suite import PTP_LANGUAGES

    card = info.card_data.to_dict() if getattr(info, "card_data", None) else {}
    # The Hub tags a model with each language of its card; a card read in the listing says it first hand.
    declared = as_list(card.get("language")) or [t for t in info.tags or [] if t in PTP_LANGUAGES]
    return Candidate(info.id, [relation], int(info.downloads or 0), info.sha, info.library_name,
                     list(info.tags or []), sorted(s.rfilename for s in info.siblings or []), bool(info.gated),
                     languages=declared)


def merge_listings(listings: dict[str, list]) -> list[Candidate]:
    """One candidate per repository over every relation's listing, most downloaded first."""
    found: dict[str, Candidate] = {}
    for relation, infos in listings.items():
        for info in infos:
            if info.id in found:
                found[info.id].relations.append(relation)
            else:
                found[info.id] = from_listing(info, relation)
    return sorted(found.values(), key=lambda c: (-c.downloads, c.repo_id.lower()))


# GGUF quantisations from the most to the least precise: the harness dequantises whichever it loads, so the most
# precise file is the closest to the weights the author trained.
_GGUF_PRECISION = ("f32", "bf16", "f16", "q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_1", "q5_0", "q4_k_m", "q4_k_s",
                   "q4_1", "q4_0", "q3_k_l", "q3_k_m", "q3_k_s", "q2_k")


def gguf_choice(files: list[str]) -> str | None:
    """The GGUF file to evaluate among a repository's files: the most precise quantisation by its name (split
    files, ``-00001-of-00003.gguf``, are left out: transformers reads one file)."""
    single = [f for f in files if f.lower().endswith(".gguf") and not re.search(r"-\d{5}-of-\d{5}\.gguf$", f.lower())]

    def rank(name: str) -> tuple[int, str]:
        lowered = name.lower()
        found = [i for i, q in enumerate(_GGUF_PRECISION) if re.search(rf"(?:^|[-_./]){q}(?=[-_.])", lowered)]
        return (found[0] if found else len(_GGUF_PRECISION), name)

    return min(single, key=rank) if single else None


def _pytorch_weights(files: list[str]) -> bool:
    return any(f.endswith(".safetensors") or re.fullmatch(r"pytorch_model.*\.bin", f) for f in files)


def _quantized_copy(candidate: Candidate, reference: str) -> bool:
    """Whether the model tree calls the candidate a quantized copy of the reference."""
    return "quantized" in candidate.relations or f"base_model:quantized:{reference}" in candidate.tags


def gguf_only(candidate: Candidate, reference: str) -> bool:
    """Whether the candidate is a fine-tune published only as GGUF (not a quantized copy of the reference)."""
    return (not _quantized_copy(candidate, reference) and candidate.kind == "model"
            and not _pytorch_weights(candidate.files) and gguf_choice(candidate.files) is not None)


def quantized(candidate: Candidate, reference: str) -> str | None:
    """Why the candidate is a quantized copy, or None."""
    if _quantized_copy(candidate, reference):
        return "a quantized copy (the model tree's quantized relation)"
    if gguf_only(candidate, reference):
        return None
    tag = next((t for t in candidate.tags if t.lower() in _QUANTIZED_TAGS), None)
    if tag:
        return f"quantized weights (tag {tag})"
    file = next((f for f in candidate.files if _QUANTIZED_FILES.search(f)), None)
    if file:
        return f"quantized weights ({file})"
    word = _QUANTIZED_NAME.search(candidate.repo_id.split("/")[-1])
    if word:
        return f"quantized, by its name ({word.group(1)})"
    return None


def merge(candidate: Candidate, reference: str) -> str | None:
    """Why the candidate is a merge of several models, or None."""
    if "merge" in candidate.relations or f"base_model:merge:{reference}" in candidate.tags:
        return "a merge of several models (the model tree's merge relation; kept with --include-merges)"
    tag = next((t for t in candidate.tags if t.lower() in _MERGE_TAGS), None)
    return f"a merge of several models (tag {tag}; kept with --include-merges)" if tag else None


def not_loadable(candidate: Candidate) -> str | None:
    """Why Transformers or PEFT cannot load the candidate, or None."""
    if candidate.gguf_file:
        return None  # transformers reads the GGUF file itself, config and tokenizer included
    if candidate.library_name not in _LOADABLE:
        return f"library_name {candidate.library_name}: not a Transformers model or PEFT adapter"
    files = candidate.files
    if candidate.kind == "adapter":
        if not any(f in files for f in ("adapter_model.safetensors", "adapter_model.bin")):
            return "an adapter without weights (no adapter_model.safetensors or .bin)"
        return None
    if "config.json" not in files:
        return "no config.json: Transformers cannot load it"
    if not _pytorch_weights(files):
        return "no PyTorch weights (no *.safetensors or pytorch_model*.bin)"
    return None


def listing_rule(candidate: Candidate, reference: str, *, include_merges: bool,
                 min_downloads: int) -> tuple[str, str] | None:
    """(rule, reason) of the first of rules 1-4 that skips the candidate, or None."""
    if gguf_only(candidate, reference):
        candidate.gguf_file = gguf_choice(candidate.files)
    reason = quantized(candidate, reference)
    if reason:
        return "quantized", reason
    reason = None if include_merges else merge(candidate, reference)
    if reason:
        return "merge", reason
    reason = not_loadable(candidate)
    if reason:
        return "not loadable", reason
    if candidate.downloads < min_downloads:
        return "few downloads", f"{candidate.downloads:,} downloads this month, below --min-downloads {min_downloads:,}"
    return None


def duplicate_of(weights: dict[str, str], reference: str, reference_weights: dict[str, str],
                 kept: list[Candidate]) -> str | None:
    """The repository whose weight files have the same contents (the reference or a kept one), or None."""
    contents = sorted(weights.values())
    if not contents:
        return None
    if contents == sorted(reference_weights.values()):
        return reference
    return next((k.repo_id for k in kept if sorted(k.weights.values()) == contents), None)


def why_kept(candidate: Candidate, rank: int, reference: str) -> str:
    """The line a study file and candidates.md give for a kept candidate."""
    what = "a PEFT adapter on the reference" if candidate.kind == "adapter" else "a full fine-tune"
    if candidate.gguf_file:
        what = f"a fine-tune published only as GGUF, evaluated from {candidate.gguf_file}"
    if merge(candidate, reference):
        what = "a merge (--include-merges)"
    gated = "; gated, and this token has access" if candidate.gated else ""
    return f"#{rank} by monthly downloads of those that pass the rules; {what}{gated}"


def select(candidates: list[Candidate], reference: str, reference_weights: dict[str, str], *, top: int,
           include_merges: bool = False, min_downloads: int = 0, can_read=None, weight_files=None,
           progress=lambda message: None) -> list[Candidate]:
    """Decide every candidate, in download order; returns the kept ones (at most ``top``).

    ``weight_files(repo_id, sha) -> (sha, gated, {file: content id})`` and ``can_read(repo_id)`` ask
    the Hub (:mod:`toxft.hub`); they are called only for candidates that pass rules 1-5.
    """
    kept: list[Candidate] = []
    for candidate in candidates:
        skipped = listing_rule(candidate, reference, include_merges=include_merges, min_downloads=min_downloads)
        if skipped is None and len(kept) >= top:
            skipped = "beyond top", f"--top {top} were kept already"
        if skipped is None:
            progress(f"reading {candidate.repo_id}")
            # The repository's own page, not the listing, says whether it is gated.
            candidate.sha, gated, candidate.weights = weight_files(candidate.repo_id, candidate.sha)
            candidate.gated = candidate.gated or gated
            if candidate.gated and not can_read(candidate.repo_id):
                skipped = "gated", "gated, and this token has no access"
        if skipped is None:
            twin = duplicate_of(candidate.weights, reference, reference_weights, kept)
            if twin:
                skipped = "duplicate", f"the same weights as {twin}" + (" (the reference)" if twin == reference
                                                                        else ", kept above")
        if skipped:
            candidate.rule, candidate.reason = skipped
        else:
            kept.append(candidate)
            candidate.kept, candidate.reason = True, why_kept(candidate, len(kept), reference)
    return kept
