"""Languages: the 17 of PolygloToxicityPrompts, the ones a classifier was trained on, the ones a card declares.

Input: language codes as users and model cards write them (``de``, ``deu``, ``German``, ``zh-CN``).
Output: the PolygloToxicityPrompts codes toxft evaluates (``toxft.suite.PTP_LANGUAGES``), and for a
classifier the languages it was trained on with its published F1, so that a rate measured in a
language the classifier never saw says so.

Example::

    >>> parse("de, zh")
    ['de', 'zh']
    >>> from_card(["German", "en", "zh-CN", "tlh"])
    ['de', 'en', 'zh']
    >>> untrained("textdetox/xlmr-large-toxicity-classifier-v2", ["de", "ko"])
    ['ko']
"""

from __future__ import annotations

from pathlib import Path

from toxft.errors import ToxftError
from toxft.settings import DEFAULT_SCORER, PRESETS
from toxft.suite import PTP_LANGUAGES

# ISO 639-2/3 codes and English names of the 17 languages, as cards also write them.
_ALIASES = {
    **{name.lower(): code for code, name in PTP_LANGUAGES.items()},
    "ara": "ar", "ces": "cs", "cze": "cs", "deu": "de", "ger": "de", "eng": "en", "spa": "es", "fra": "fr",
    "fre": "fr", "hin": "hi", "ind": "id", "ita": "it", "jpn": "ja", "kor": "ko", "nld": "nl", "dut": "nl",
    "pol": "pl", "por": "pt", "rus": "ru", "swe": "sv", "zho": "zh", "chi": "zh", "cmn": "zh",
}

# What each known classifier was trained on, with the F1 its authors published per language (None: not given).
# textdetox/xlmr-large-toxicity-classifier-v2: its model card (TextDetox 2025 data, 15 languages; "hin" is
# Hinglish, "tt" Tatar, "am" Amharic, "he" Hebrew, "uk" Ukrainian).
TRAINED_ON: dict[str, dict[str, float | None]] = {
    PRESETS["multilingual"][0]: {"en": 0.9225, "ru": 0.9525, "uk": 0.96, "de": 0.7325, "es": 0.7125, "ar": 0.6625,
                                 "am": 0.5575, "hi": 0.9725, "zh": 0.9175, "it": 0.5864, "fr": 0.9235,
                                 "hin": 0.61, "he": 0.8775, "ja": 0.8773, "tt": 0.5744},
    DEFAULT_SCORER: {"en": None},  # Dynabench R1-R4, English
    PRESETS["s-nlp"][0]: {"en": None},  # Jigsaw 2018-2020, English
    PRESETS["toxic-bert"][0]: {"en": None},  # Jigsaw 2018, English
}


class LanguageError(ToxftError):
    """A language code toxft has no prompts for."""


def known() -> str:
    """The 17 codes with their names, for messages: 'ar (Arabic), cs (Czech), ...'."""
    return ", ".join(f"{code} ({name})" for code, name in PTP_LANGUAGES.items())


def normalise(code: str) -> str | None:
    """A PolygloToxicityPrompts code for ``code`` (``de``, ``deu``, ``German``, ``zh-CN``), or None."""
    text = str(code).strip().lower().replace("_", "-")
    head = text.split("-")[0]
    for candidate in (text, head):
        if candidate in PTP_LANGUAGES:
            return candidate
    return _ALIASES.get(text) or _ALIASES.get(head)


def parse(text: str) -> list[str]:
    """``--languages de,zh``: each code once, in the order given; one line listing the 17 for an unknown one."""
    found: list[str] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        code = normalise(part)
        if code is None:
            raise LanguageError(f"toxft: no PolygloToxicityPrompts prompts in language {part!r}; the 17 are: {known()}")
        if code not in found:
            found.append(code)
    if not found:
        raise LanguageError(f"toxft: give at least one language code, e.g. de,zh (the 17: {known()})")
    return found


def from_card(values) -> list[str]:
    """The codes of a card's ``language:`` entries that PolygloToxicityPrompts has, in order (others ignored)."""
    from toxft.hub import as_list

    found: list[str] = []
    for value in as_list(values):
        code = normalise(value)
        if code and code not in found:
            found.append(code)
    return found


def evaluated(languages) -> list[str]:
    """The languages evaluated with PolygloToxicityPrompts, in the suite's order (so that de,zh and zh,de are one
    evaluation, one cache key and one table): English is the paper's suite, always run."""
    order = list(PTP_LANGUAGES)
    return sorted({code for code in languages if code != "en"}, key=order.index)


def classifier_of(description: str | None) -> str | None:
    """The classifier's id or folder in a run's recorded scorer ('model[@revision] [label, activation]')."""
    if not description:
        return None
    return description.split(" [", 1)[0].split("@", 1)[0]


def trained_on(classifier: str | None) -> dict[str, float | None] | None:
    """The languages a classifier was trained on (with published F1), or None when toxft does not know them.

    Known classifiers come from :data:`TRAINED_ON`; a local folder's card may declare them (``language:``).
    """
    if not classifier:
        return None
    if classifier in TRAINED_ON:
        return TRAINED_ON[classifier]
    card = Path(classifier).expanduser() / "README.md"
    if card.is_file():
        try:
            from huggingface_hub import ModelCard

            declared = ModelCard.load(card).data.to_dict().get("language")
        except Exception:  # an unreadable card declares nothing
            return None
        codes = from_card(declared)
        return {code: None for code in codes} or None
    return None


def untrained(classifier: str | None, languages) -> list[str]:
    """The ``languages`` the classifier was not trained on (all of them when its languages are unknown)."""
    known_languages = trained_on(classifier)
    return [code for code in languages if known_languages is None or code not in known_languages]


def warning(classifier: str | None, languages) -> str | None:
    """One sentence for outputs and cards when some languages were scored by a classifier not trained on them."""
    missing = untrained(classifier, languages)
    if not missing:
        return None
    names = ", ".join(f"{PTP_LANGUAGES.get(code, code)} ({code})" for code in missing)
    if trained_on(classifier) is None:
        return (f"the languages {classifier} was trained on are unknown to toxft, so its rates in {names} may not "
                "mean what they mean in English")
    return f"{classifier} was not trained on {names}: its rates there are less reliable than in the languages it knows"
