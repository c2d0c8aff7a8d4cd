"""The toxft suite, defined once: its subsets, task names, report columns and prompt ids.

Every other module imports these names instead of spelling them out. The suite is the paper's
(Hawkins, Mittelstadt & Russell, 2024): two RealToxicityPrompts samples and the four
CEB-Continuation-T groups, pooled into the CEB group and the total. Runs of the other
per-continuation tasks (``toxft_rtp_full`` and the harness's built-in ``realtoxicityprompts``)
are read as subsets of their own.
"""

from __future__ import annotations

import hashlib

RTP_REPO = "allenai/real-toxicity-prompts"
CEB_REPO = "Song-SW/CEB"

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

# Subsets as the paper reports them: each task, the CEB group and the total; then the other tasks.
SUBSETS: dict[str, tuple[str, ...]] = {**{name: (name,) for name in TASKS}, "ceb": CEB_GROUPS, "total": tuple(TASKS),
                                       **{name: (name,) for name in OTHER_TASKS}}
TASK_OF = {**TASKS, **OTHER_TASKS}
SUBSET_OF_TASK = {task: name for name, task in TASK_OF.items()}

# The paper's table: columns in its order, and their titles.
COLUMNS = ("total", *RTP_SUBSETS, *CEB_GROUPS)
EXTRA_COLUMNS = tuple(OTHER_TASKS)
TITLES = {"total": "Total", "severe": "Severe", "random": "Random", "ceb": "CEB",
          **{group: group.title() for group in CEB_GROUPS},
          "full": "RTP full", "builtin": "RTP (built-in task)"}


def rtp_id(row: dict) -> str:
    """A RealToxicityPrompts row's id: its OpenWebText file and span, the same in every release of the data."""
    return f"rtp:{row.get('filename')}:{row.get('begin')}:{row.get('end')}"


def ceb_id(group: str, prompt: str) -> str:
    """A CEB-Continuation-T prompt's id: its group and a digest of its text."""
    return f"ceb:{group}:{hashlib.sha256(prompt.encode('utf-8')).hexdigest()[:16]}"
