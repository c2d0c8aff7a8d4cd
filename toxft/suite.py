"""The toxft suite, defined once: its subsets, task names, report columns and prompt ids.

Every other module imports these names instead of spelling them out. The suite is the paper's
(Hawkins, Mittelstadt & Russell, 2024): two RealToxicityPrompts samples and the four
CEB-Continuation-T groups, pooled into the CEB group and the total. Runs of the other
per-continuation tasks (``toxft_rtp_full`` and the harness's built-in ``realtoxicityprompts``)
are read as subsets of their own. PolygloToxicityPrompts (Jain et al., 2024) adds one block per
language: ``ptp_<lang>`` pools that language's severe and random prompts, as the paper's Total
pools its subsets, and is never part of the paper's Total.
"""

from __future__ import annotations

import hashlib

RTP_REPO = "allenai/real-toxicity-prompts"
CEB_REPO = "Song-SW/CEB"
PTP_REPO = "ToxicityPrompts/PolygloToxicityPrompts"

# The 17 languages of PolygloToxicityPrompts (its configs ptp-<code>), by ISO 639-1 code.
PTP_LANGUAGES = {
    "ar": "Arabic", "cs": "Czech", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "hi": "Hindi", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish", "zh": "Chinese",
}
MULTILINGUAL_GROUP = "toxft_multilingual"

RTP_SUBSETS = ("severe", "random")
CEB_GROUPS = ("race", "gender", "age", "religion")
GROUP = "toxft"  # the harness group of the whole suite: the paper's Total
CEB_GROUP = "toxft_ceb"

# The harness task of each subset of the suite.
TASKS = {"severe": "toxft_rtp_severe", "random": "toxft_rtp_random",
         **{group: f"toxft_ceb_{group}" for group in CEB_GROUPS}}
# Other tasks whose samples hold one scored continuation per prompt: a subset each.
BUILTIN_RTP = "realtoxicityprompts"  # lm-eval's own task, scored by Perspective
OTHER_TASKS = {"full": "toxft_rtp_full", "builtin": BUILTIN_RTP}
GEHMAN = "toxft_rtp_gehman"  # 25 sampled continuations per prompt



def ptp_subsets(lang: str) -> tuple[str, str]:
    """A language's two subsets of PolygloToxicityPrompts: its severe and its random prompts."""
    return f"ptp_{lang}_severe", f"ptp_{lang}_random"


def ptp_group(lang: str) -> str:
    """The harness group of one language (``lm_eval --tasks toxft_ptp_de``)."""
    return f"toxft_ptp_{lang}"


def language_columns(lang: str) -> tuple[str, str, str]:
    """A language's block of the table: its pooled rate, then severe and random."""
    return (f"ptp_{lang}", *ptp_subsets(lang))


PTP_TASKS = {subset: f"toxft_{subset}" for lang in PTP_LANGUAGES for subset in ptp_subsets(lang)}

# Subsets as the paper reports them: each task, the CEB group and the total; then the other tasks;
# then each language of PolygloToxicityPrompts (its two subsets and both pooled).
SUBSETS: dict[str, tuple[str, ...]] = {**{name: (name,) for name in TASKS}, "ceb": CEB_GROUPS, "total": tuple(TASKS),
                                       **{name: (name,) for name in OTHER_TASKS},
                                       **{name: (name,) for name in PTP_TASKS},
                                       **{f"ptp_{lang}": ptp_subsets(lang) for lang in PTP_LANGUAGES}}
TASK_OF = {**TASKS, **OTHER_TASKS, **PTP_TASKS}
SUBSET_OF_TASK = {task: name for name, task in TASK_OF.items()}

# The paper's table: columns in its order, and their titles.
COLUMNS = ("total", *RTP_SUBSETS, *CEB_GROUPS)
EXTRA_COLUMNS = tuple(OTHER_TASKS)
TITLES = {"total": "Total", "severe": "Severe", "random": "Random", "ceb": "CEB",
          **{group: group.title() for group in CEB_GROUPS},
          "full": "RTP full", "builtin": "RTP (built-in task)",
          **{f"ptp_{lang}": f"{name} ({lang})" for lang, name in PTP_LANGUAGES.items()},
          **{subset: subset.removeprefix("ptp_").replace("_", " ") for subset in PTP_TASKS}}


def language_of(subset: str) -> str | None:
    """The PolygloToxicityPrompts language of a subset (``ptp_de_severe`` -> ``de``); None for the English suite."""
    if not subset.startswith("ptp_"):
        return None
    return subset.split("_")[1]


def rtp_id(row: dict) -> str:
    """A RealToxicityPrompts row's id: its OpenWebText file and span, the same in every release of the data."""
    return f"rtp:{row.get('filename')}:{row.get('begin')}:{row.get('end')}"


def ptp_id(lang: str, text: str) -> str:
    """A PolygloToxicityPrompts prompt's id: its language and a digest of its text (the rows carry no key)."""
    return f"ptp:{lang}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def ceb_id(group: str, prompt: str) -> str:
    """A CEB-Continuation-T prompt's id: its group and a digest of its text."""
    return f"ceb:{group}:{hashlib.sha256(prompt.encode('utf-8')).hexdigest()[:16]}"
