"""The demo's one room: a synthetic world (:mod:`.world`) and its data (``data/``), the tiny models it
and the tests build (:mod:`.tiny`), and ``toxft demo`` (:mod:`.runner`)."""

from toxft.demo.runner import add_arguments, run
from toxft.demo.world import (DATA, DOLLY_FLAGGED_SHARE, FINETUNE_STEPS, build_models, topic_of,
                              write_demo_data)

__all__ = ["DATA", "DOLLY_FLAGGED_SHARE", "FINETUNE_STEPS", "add_arguments", "build_models", "run", "topic_of",
           "write_demo_data"]
