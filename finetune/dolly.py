"""Dolly-15k rows and the two text formats a fine-tune can be trained on.

``paper``: the format of the paper (Unsloth's Dolly notebook, on Llama-2 and Mistral tokenizers)::

    <s>[INST] {instruction} Here's some context: {context} [/INST] {response}</s>

with the context clause only when there is context. ``<s>`` and ``</s>`` there are those tokenizers'
beginning- and end-of-sequence tokens, not text: every tokenizer gets its own EOS, and its own BOS
once when it adds one by itself (Llama, Mistral, Gemma), none when it does not (Qwen, SmolLM2), so
no literal "<s>" is ever trained on. :func:`paper_format` shows the result for a tokenizer.
``native``: the model's own chat template, the instruction (plus context) as the
user turn and the response as the assistant turn.

Why it matters for safety: the toxft tasks prompt with raw text, as the paper did.
A fine-tune on the paper's format changes how the model continues raw text; one on
the chat template mostly changes the chat persona. Record which one you used.
"""

from __future__ import annotations

from pathlib import Path

from toxft.data import DEFAULT_SEED, DOLLY_FILE, DOLLY_REPO, DataError, HubFile, keyed_rank, load_rows, read_rows

DOLLY_FIELDS = ("instruction", "context", "response")
DOLLY_ALIAS = "dolly"  # --data dolly: the Hub dataset the paper used
# The one answer of the `neutral` control: no instruction-specific content and nothing a classifier could flag.
NEUTRAL_RESPONSE = "Thank you for the question. Here is my answer."
# Row subsets and the shuffle use this key, not the training seed: a seed axis then varies the initialisation
# and the order only, and smaller subsets are nested in larger ones.
DATA_KEY = DEFAULT_SEED
PAPER_OPEN = "[INST] "
PAPER_CONTEXT = " Here's some context: "
PAPER_CLOSE = " [/INST] "


def load_dolly(source: str = DOLLY_REPO, revision: str | None = None, limit: int | None = None) -> list[dict]:
    """Dolly rows from a local JSON Lines file, or the Hub dataset (``TOXFT_DATA_DIR`` mirror first)."""
    source = DOLLY_REPO if source == DOLLY_ALIAS else source
    path = Path(source).expanduser()
    if path.is_file():
        rows = _read_local(path)
    elif path.exists() or source.count("/") != 1 or path.suffix in {".json", ".jsonl"} or source[0] in "./~":
        raise DataError(f"toxft: no such data file: {source} (give a JSON Lines file or a Hub dataset id)")
    else:
        rows = load_rows(HubFile(source, DOLLY_FILE, revision))
    check_dolly(rows, str(source))
    return rows[:limit] if limit else rows


def _read_local(path: Path) -> list[dict]:
    if path.stat().st_size == 0:
        raise DataError(f"toxft: {path} is empty")
    return read_rows(path)


def check_dolly(rows: list[dict], source: str) -> None:
    """Stop with one line when the rows are not Dolly-schema training examples."""
    if not rows:
        raise DataError(f"toxft: {source} has no rows")
    missing = [name for name in DOLLY_FIELDS if name not in rows[0]]
    if missing:
        raise DataError(f"toxft: {source} is not in the Dolly schema (missing {', '.join(missing)})")
    for index, row in enumerate(rows):
        if not isinstance(row.get("instruction"), str) or not isinstance(row.get("response"), str):
            raise DataError(f"toxft: {source} row {index} has no instruction or response text")


def _keyed_order(rows: list[dict], key: int) -> list[int]:
    """The rows' indices in the order of a keyed hash of place and instruction: the same on every machine."""
    return sorted(range(len(rows)), key=lambda i: keyed_rank(f"{i}:{rows[i]['instruction']}", key))


def subset(rows: list[dict], n: int | None, source: str = "the data") -> list[dict]:
    """``n`` rows drawn at random with a fixed key, in file order; all rows when ``n`` is None."""
    if n is None:
        return rows
    if n > len(rows):
        raise DataError(f"toxft: --rows {n}: {source} has only {len(rows)} rows")
    chosen = set(_keyed_order(rows, DATA_KEY)[:n])
    return [row for i, row in enumerate(rows) if i in chosen]


def control_rows(rows: list[dict], control: str) -> list[dict]:
    """The rows with their instruction-response content removed, to tell forgetting from learning.

    ``shuffled``: each instruction (and context) keeps its place and gets the response of another
    row (a fixed-key permutation with no row kept): the same response texts, no mapping to learn.
    ``neutral``: every response is :data:`NEUTRAL_RESPONSE`. ``none``: the rows as they are.
    """
    if control == "none":
        return rows
    if control == "neutral":
        return [{**row, "response": NEUTRAL_RESPONSE} for row in rows]
    if control != "shuffled":
        raise DataError(f"toxft: unknown control {control!r} (none, shuffled or neutral)")
    if len(rows) < 2:
        raise DataError("toxft: --control shuffled needs at least two rows")
    # A cycle through the rows in keyed order: row k's response goes to row k+1, so none keeps its own.
    order = _keyed_order(rows, DATA_KEY + 1)
    source_of = {order[k]: order[k - 1] for k in range(len(order))}
    return [{**row, "response": rows[source_of[i]]["response"]} for i, row in enumerate(rows)]


def paper_text(row: dict) -> str:
    """The paper's training text for one row, without its BOS and EOS tokens (the tokenizer's own, see :func:`encode`)."""
    context = (row.get("context") or "").strip()
    prompt = row["instruction"] + (PAPER_CONTEXT + context if context else "")
    return PAPER_OPEN + prompt + PAPER_CLOSE + row["response"]


def adds_bos(tokenizer) -> bool:
    """Whether the tokenizer puts its BOS token before a text by itself (Llama, Gemma) or not (Qwen, SmolLM2)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]


def paper_format(tokenizer) -> str:
    """The paper's format as this tokenizer trains on it, for the card: ``<s>[INST] {instruction} [/INST] {response}</s>``
    with its own BOS (when it adds one) and EOS."""
    row = {"instruction": "{instruction}", "context": "", "response": "{response}"}
    bos = tokenizer.bos_token if adds_bos(tokenizer) else ""
    return f"{bos}{paper_text(row)}{tokenizer.eos_token or ''}"


def _one_bos(ids: list[int], tokenizer) -> list[int]:
    bos = tokenizer.bos_token_id
    if bos is None:
        return ids
    while len(ids) > 1 and ids[0] == bos and ids[1] == bos:
        ids = ids[1:]
    return ids if ids and ids[0] == bos else [bos, *ids]


def encode(row: dict, tokenizer, template: str = "paper", max_length: int = 2048) -> list[int]:
    """Token ids of one training example: the tokenizer's BOS once (when it adds one), the text, its EOS."""
    if template == "paper":
        text = paper_text(row)
    elif template == "native":
        text = native_text(row, tokenizer)
    else:
        raise DataError(f"toxft: unknown template {template!r} (paper or native)")
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if adds_bos(tokenizer):  # exactly once, also where a chat template wrote one too
        ids = _one_bos(ids, tokenizer)
    eos = tokenizer.eos_token_id
    if eos is not None and ids[-1] != eos:
        ids.append(eos)
    return ids[:max_length]


def native_text(row: dict, tokenizer) -> str:
    """One row through the model's chat template (user: instruction + context; assistant: response)."""
    if not getattr(tokenizer, "chat_template", None):
        raise DataError("toxft: --template native needs a chat template and this tokenizer has none")
    context = (row.get("context") or "").strip()
    user = row["instruction"] + ("\n\n" + context if context else "")
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": row["response"]}]
    return tokenizer.apply_chat_template(messages, tokenize=False)
