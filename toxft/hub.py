"""Everything toxft asks of the Hugging Face Hub, in one place, through ``huggingface_hub``.

Resolving a model or adapter id to a commit (with its gating and declared lineage), fetching
an adapter at exactly that commit, downloading prompt-set files, reading and updating model
cards through pull requests, pushing adapters, and listing a model's fine-tunes. Every Hub
failure becomes one line that names the repository and, for gated repos, how to get access,
on whichever Hub ``HF_ENDPOINT`` points at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from toxft.errors import ToxftError

# The title of the pull requests toxft opens on model cards; an open one is reused.
CARD_PR_TITLE = "Add toxicity evaluation (toxft)"


class HubError(ToxftError):
    """The Hub could not answer for a repository: the message says which and why."""


def endpoint() -> str:
    """The Hub toxft talks to: huggingface.co, a mirror or a private deployment (``HF_ENDPOINT``)."""
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def is_local(ident: str) -> bool:
    """Local folders and GGUF files are paths; Hub ids are ``owner/name``."""
    return (ident.startswith((".", "/", "~")) or ident.lower().endswith(".gguf")
            or Path(ident).expanduser().is_dir())


def problem(ident: str, error: Exception) -> str:
    """One line saying why the Hub could not answer for ``ident``."""
    from huggingface_hub import errors

    if isinstance(error, errors.GatedRepoError):
        return (f"gated and not accessible with your token: log in (hf auth login) with an account that "
                f"has requested and been granted access at {endpoint()}/{ident}")
    if isinstance(error, errors.RevisionNotFoundError):
        return "that revision does not exist"
    if isinstance(error, errors.EntryNotFoundError):
        return "the file is not in the repository"
    if isinstance(error, errors.RepositoryNotFoundError):
        return "not found on the Hub (or private: log in with a token that can read it)"
    if isinstance(error, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
        return "cannot reach the Hub (offline: unset HF_HUB_OFFLINE, or use a local folder)"
    if isinstance(error, errors.HFValidationError):
        return ("not a repository id: a Hub id is NAME or ORG/NAME (letters, digits, '-', '_', '.'; at most 96 "
                "characters), and a local folder must exist")
    if isinstance(error, errors.HfHubHTTPError) and error.response is not None:
        return f"the Hub answered HTTP {error.response.status_code}; try again later"
    if isinstance(error, OSError) or "Connect" in type(error).__name__ or "Timeout" in type(error).__name__:
        return f"the connection to {endpoint()} failed ({type(error).__name__}); try again"
    return f"cannot be checked ({type(error).__name__})"


def _call(ident: str, action):
    try:
        return action()
    except ToxftError:
        raise
    except Exception as error:  # every Hub failure: one line naming the repository
        raise HubError(f"toxft: {ident}: {problem(ident, error)}") from None


@dataclass
class Resolution:
    """What the Hub (or the disk) says about one model or adapter id."""

    ident: str
    kind: str  # "model" or "adapter"
    sha: str | None = None
    bases: list[str] = field(default_factory=list)
    gated: bool = False
    problem: str | None = None
    current_id: str | None = None  # the id the Hub answers with: differs when the repo was renamed
    languages: list[str] = field(default_factory=list)  # the card's ``language:`` entries, as written

    @property
    def local(self) -> bool:
        return is_local(self.ident)

    @property
    def renamed(self) -> bool:
        return bool(self.current_id) and self.current_id != self.ident


def as_list(value) -> list[str]:
    """A card field that may be one id or a list of them, as a list."""
    if not value:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def local_card_data(folder: Path) -> dict:
    """The metadata of a local folder's model card (empty without a readable card)."""
    card = folder / "README.md"
    if not card.is_file():
        return {}
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(card).data.to_dict()
    except Exception:  # an unreadable card is no lineage and no languages, not a failed check
        return {}


def local_card_bases(folder: Path) -> list[str]:
    """The ``base_model`` ids of a local folder's model card (none without a readable card)."""
    return as_list(local_card_data(folder).get("base_model"))


def _adapter_base(config: Path) -> list[str]:
    try:
        return as_list(json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path"))
    except (OSError, json.JSONDecodeError):
        return []


def resolve(ident: str, kind: str, revision: str | None = None) -> Resolution:
    """Resolve one model or adapter id to a commit, its gating and its declared lineage (never raises)."""
    found = Resolution(ident, kind)
    if kind == "model" and ident.lower().endswith(".gguf"):
        from toxft.gguf import GGUFError, check

        try:
            check(ident)
            found.sha = "local"
        except GGUFError as error:
            found.problem = str(error).split(": ", 2)[-1]
        return found
    if is_local(ident):
        folder = Path(ident).expanduser()
        wanted = "adapter_config.json" if kind == "adapter" else "config.json"
        if not (folder / wanted).is_file():
            found.problem = f"no {wanted} in this folder" if folder.is_dir() else "no such folder"
            return found
        found.sha = "local"
        card = local_card_data(folder)
        found.bases = as_list(card.get("base_model")) + (_adapter_base(folder / wanted) if kind == "adapter" else [])
        found.languages = as_list(card.get("language"))
        return found
    from huggingface_hub import HfApi, auth_check, hf_hub_download

    try:
        info = HfApi().model_info(ident, revision=revision)
        found.sha, found.gated, found.current_id = info.sha, bool(info.gated), info.id
        if found.gated:
            auth_check(info.id)
        card = info.card_data.to_dict() if info.card_data else {}
        found.bases = as_list(card.get("base_model"))
        found.languages = as_list(card.get("language"))
        if kind == "adapter":
            found.bases += _adapter_base(Path(hf_hub_download(info.id, "adapter_config.json", revision=found.sha)))
    except Exception as error:  # every Hub failure becomes one line
        found.problem = problem(ident, error)
    return found


def is_adapter(ident: str, revision: str | None = None) -> bool:
    """Whether a local folder or Hub repository holds a PEFT adapter (``adapter_config.json``)."""
    if is_local(ident):
        return (Path(ident).expanduser() / "adapter_config.json").is_file()
    from huggingface_hub import file_exists

    return _call(ident, lambda: file_exists(ident, "adapter_config.json", revision=revision))


def fetch_snapshot(ident: str, sha: str) -> Path:
    """The repository's files at exactly ``sha`` in the Hub cache; the local folder to load them from.

    The harness loads an adapter with its base model's revision; toxft fetches the adapter at the
    commit it resolved and records, so that the numbers and the report name the same commit.
    """
    from huggingface_hub import snapshot_download

    return Path(_call(ident, lambda: snapshot_download(ident, revision=sha)))


def download_dataset_file(repo_id: str, filename: str, revision: str | None = None) -> Path:
    """One file of a Hub dataset repository (the prompt sets, Dolly), through the Hub cache."""
    from huggingface_hub import hf_hub_download

    return Path(_call(repo_id, lambda: hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision)))


# --- lineage --------------------------------------------------------------------------------


def family_name(ident: str) -> str:
    """A model's name without owner and quantisation suffixes, to match Unsloth's 4-bit copies."""
    name = ident.rstrip("/").split("/")[-1].lower()
    # Longest first: "-bnb-4bit" alone would leave "-unsloth" behind.
    for suffix in ("-unsloth-bnb-4bit", "-bnb-4bit"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def descends_from(bases: list[str], reference: str) -> bool:
    """Whether a declared base is the reference model (or a quantised copy of it)."""
    return any(b.lower() == reference.lower() or family_name(b) == family_name(reference) for b in bases)


# --- cards and pushes -------------------------------------------------------------------------


def read_card(repo_id: str, revision: str | None = None) -> str:
    """The text of a Hub model card (empty when the repository has none)."""
    from huggingface_hub import errors, hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, "README.md", revision=revision)).read_text(encoding="utf-8")
    except errors.EntryNotFoundError as error:
        if isinstance(error, errors.LocalEntryNotFoundError):  # offline or unreachable, not "no card"
            raise HubError(f"toxft: cannot read the card of {repo_id}: {problem(repo_id, error)}") from None
        return ""
    except Exception as error:
        raise HubError(f"toxft: cannot read the card of {repo_id}: {problem(repo_id, error)}") from None


def open_card_pr(repo_id: str, text: str) -> int | None:
    """The number of an open toxft pull request on ``repo_id`` whose card is already ``text``."""
    from huggingface_hub import HfApi

    api = HfApi()
    for discussion in _call(repo_id, lambda: list(api.get_repo_discussions(repo_id, discussion_type="pull_request",
                                                                             discussion_status="open"))):
        if discussion.title != CARD_PR_TITLE:
            continue
        if read_card(repo_id, revision=f"refs/pr/{discussion.num}") == text:
            return discussion.num
    return None


def push_card(repo_id: str, text: str, *, create_pr: bool = True) -> str:
    """Put ``text`` as ``repo_id``'s card: a pull request (reusing an open identical one) or a direct commit.

    Returns a line saying what happened, with the URL.
    """
    from huggingface_hub import ModelCard

    if create_pr:
        existing = open_card_pr(repo_id, text)
        if existing is not None:
            return f"an open pull request already holds this card: {endpoint()}/{repo_id}/discussions/{existing}"
    info = _call(repo_id, lambda: ModelCard(text).push_to_hub(repo_id, create_pr=create_pr,
                                                               commit_message=CARD_PR_TITLE))
    return f"opened {info}" if create_pr else f"committed {info}"


def push_adapter(folder: Path, repo_id: str, private: bool = False) -> str:
    """Upload an adapter folder (not its checkpoints) with the saved Hugging Face login; returns the URL."""
    from huggingface_hub import HfApi

    api = HfApi()

    def push():
        api.create_repo(repo_id, private=private, exist_ok=True)
        return api.upload_folder(folder_path=str(folder), repo_id=repo_id, ignore_patterns=["checkpoints/*"],
                                 commit_message="Add LoRA adapter (toxft finetune)")

    info = _call(repo_id, push)
    return str(getattr(info, "commit_url", repo_id))


def list_finetunes(model_id: str, relation: str, limit: int = 100) -> list:
    """Models whose card declares ``model_id`` as base with ``relation`` (finetune, adapter, quantized, merge),
    most downloaded first, from the Hub's model tree."""
    from huggingface_hub import HfApi

    api = HfApi()
    return _call(model_id, lambda: list(api.list_models(filter=f"base_model:{relation}:{model_id}",
                                                        sort="downloads", limit=limit, full=True,
                                                        cardData=True)))


def can_read(repo_id: str) -> bool:
    """Whether this token may download a gated repository's files (False when access is not granted)."""
    from huggingface_hub import auth_check, errors

    try:
        auth_check(repo_id)
    except errors.GatedRepoError:
        return False
    except Exception as error:
        raise HubError(f"toxft: {repo_id}: {problem(repo_id, error)}") from None
    return True


# Files whose content is the model: two repositories with the same ones hold the same model.
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weight_files(repo_id: str, revision: str | None = None) -> tuple[str, bool, dict[str, str]]:
    """(commit, gated, {weight file: content id}) of a repository; the ids are the Hub's LFS sha256 or git blob ids."""
    from huggingface_hub import HfApi

    info = _call(repo_id, lambda: HfApi().model_info(repo_id, revision=revision, files_metadata=True))
    found = {}
    for sibling in info.siblings or []:
        name = sibling.rfilename
        if name.endswith(_WEIGHTS) and not name.endswith(("training_args.bin", "optimizer.pt", "scheduler.pt")):
            content = (sibling.lfs.sha256 if sibling.lfs else None) or sibling.blob_id
            if content:
                found[name] = content
    return info.sha, bool(info.gated), found
