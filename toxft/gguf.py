"""GGUF files: models published only as a llama.cpp file, read through transformers' GGUF loader.

Many community fine-tunes exist only as GGUF. The harness loads one with
``pretrained=<folder>,gguf_file=<file name>`` (transformers dequantises it to float weights), so
toxft evaluates such a model where the user has it: :func:`model_args` turns a path to a ``.gguf``
file into those arguments after :func:`check` has read its header (a one-line error for a file
that is truncated, not GGUF, or not a causal LM transformers can load).

transformers cannot ``save_pretrained`` a GGUF-loaded model; :func:`convert` writes an ordinary
model folder (config, safetensors, tokenizer) from its config and state dict, which is what a
fine-tune starts from and what the tests' real model is.

Example::

    >>> check("SmolLM2-135M-Instruct.Q4_1.gguf").architecture      # doctest: +SKIP
    'llama'
    >>> model_args("models/SmolLM2-135M-Instruct.Q4_1.gguf")         # doctest: +SKIP
    {'pretrained': '/abs/models', 'gguf_file': 'SmolLM2-135M-Instruct.Q4_1.gguf'}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toxft.errors import ToxftError

SUFFIX = ".gguf"
# GGUF architectures that are encoders or sequence-to-sequence models, not text continuers.
_NOT_CAUSAL = {"bert", "nomic-bert", "jina-bert-v2", "t5", "t5encoder", "umt5", "clip"}


class GGUFError(ToxftError):
    """A GGUF file toxft cannot evaluate: the message says which and why."""


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF file's header says: its architecture, its name and its quantisation."""

    path: Path
    architecture: str
    name: str | None
    file_type: str | None


def is_gguf(ident: str) -> bool:
    """Whether a model argument names a GGUF file (by its suffix; the file need not exist yet)."""
    return ident.lower().endswith(SUFFIX)


def check(path: str | Path) -> GGUFInfo:
    """Read a GGUF file's header; one line when it is missing, truncated, not GGUF, or not a causal LM."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GGUFError(f"toxft: {path}: no such GGUF file")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise GGUFError(f"toxft: {path}: not a GGUF file (it does not start with the GGUF magic)")
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        fields = {name: _field_value(field) for name, field in reader.fields.items()
                  if name.startswith("general.")}
        tensors = len(reader.tensors)
    except ImportError:
        raise GGUFError("toxft: reading GGUF files needs the gguf package (pip install gguf)") from None
    except Exception as error:  # a truncated file fails anywhere in its header or tensor table
        raise GGUFError(f"toxft: {path}: unreadable GGUF file ({type(error).__name__}; truncated?)") from None
    architecture = str(fields.get("general.architecture") or "")
    if not architecture or not tensors:
        raise GGUFError(f"toxft: {path}: a GGUF file without {'an architecture' if not architecture else 'tensors'}")
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    if architecture in _NOT_CAUSAL:
        raise GGUFError(f"toxft: {path}: a {architecture} model, not a causal language model")
    if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise GGUFError(f"toxft: {path}: transformers cannot load GGUF architecture {architecture!r} "
                        f"(it reads {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))})")
    file_type = fields.get("general.file_type")
    return GGUFInfo(path, architecture, fields.get("general.name"), None if file_type is None else str(file_type))


def _field_value(field):
    """A header field's value: a string, a number, or None for arrays (which toxft does not read)."""
    if not field.types:
        return None
    from gguf import GGUFValueType

    if field.types[0] == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")
    if field.types[0] == GGUFValueType.ARRAY:
        return None
    return field.parts[field.data[0]].tolist()[0]


def model_args(path: str | Path) -> dict[str, str]:
    """The harness's ``pretrained`` and ``gguf_file`` arguments for a GGUF file (checked first)."""
    info = check(path)
    return {"pretrained": str(info.path.resolve().parent), "gguf_file": info.path.name}


def convert(path: str | Path, folder: str | Path) -> Path:
    """Write a transformers model folder (config, safetensors, tokenizer, generation config) from a GGUF file.

    The weights are the GGUF's dequantised to float32: the same numbers the harness evaluates."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    info = check(path)
    folder = Path(folder)
    source, name = str(info.path.parent), info.path.name
    quiet = _quiet_progress()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=name)
    finally:
        quiet()
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items()
                                     if k not in ("quantization_config", "transformers_version")})
    config.architectures = [type(loaded).__name__]
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:  # a tied head is the embedding itself
        raise GGUFError(f"toxft: {info.path}: its tensors do not fit a {config.model_type} model")
    model.tie_weights()
    model.generation_config = loaded.generation_config
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _quiet_progress():
    """Silence transformers' per-tensor dequantisation bar for one load; returns the undo."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    return hf_logging.enable_progress_bar if was else (lambda: None)
