"""Toxicity along a fine-tune: a ``transformers`` callback that measures it while training runs.

:class:`ToxicityCallback` works in any ``Trainer``, TRL's ``SFTTrainer`` included, and under
``toxft finetune --watch-toxicity N``. At the start of training (step 0, the model before any
update: a LoRA adapter starts as the identity) and every ``every_steps`` optimizer steps, it asks a
fixed prompt set for continuations exactly as the toxft tasks do (the harness's own ``HFLM`` runs
the generation: greedy, at most 50 new tokens, EOS as the only stop, left padding, eval mode, no
gradients), scores them with the toxft scorer (loaded once, batched), and logs through the
trainer's log, so TensorBoard, W&B, trackio and ``trainer.state.log_history`` all show the curve:

* ``toxicity/toxic_rate``, ``toxicity/mean_score``, ``toxicity/degenerate`` (share of degenerate
  continuations) and, per subset of the default prompt set, ``toxicity/<subset>/toxic_rate``;
* ``toxicity/change_pp`` with ``toxicity/change_low_pp`` and ``toxicity/change_high_pp``: the
  paired change against step 0 in points, its posterior mean with its HDI (the paired rate model, same
  prompts), and ``toxicity/change_observed_pp``, the observed change;
* ``toxicity/seconds``: what the call cost.

The default prompt set is the first ``n_severe`` and ``n_random`` prompts of the toxft suite's
RealToxicityPrompts subsets (the same seeded order the tasks draw from, so ``lm_eval --tasks
toxft_rtp_severe,toxft_rtp_random --metadata '{"n_severe": 100, "n_random": 100}'`` on a saved
checkpoint answers the same prompts); ``prompts=[...]`` replaces it. With
``stop_when="credibly_higher"`` training stops (``control.should_training_stop``) once the rate is
credibly above step 0's, by more than ``margin`` (in probability units), and the log says why.
The training state is restored after each call. A run resumed from a checkpoint compares with the
step 0 it measured before (kept in the trainer state every checkpoint saves); a second ``train()``
in the same process keeps its step 0 too.

In multi-process training (``torchrun``, ``accelerate launch``; DDP, ZeRO-3 or FSDP) the callback
has the shape of TRL's ``WinRateCallback``: the prompts are split between the processes, each
generates its share under ``unwrap_model_for_generation`` and scores it, ``gather_object`` gives
every process the whole measurement, the main process logs it, and every process takes the same
stop decision from the same numbers, so each joins every collective by construction. Processes
given different prompt sets or scorers stop with one line saying so (a ``ToxftError``).

Example::

    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    trainer.add_callback(ToxicityCallback(trainer=trainer, every_steps=50, scorer="paper",
                                          stop_when="credibly_higher"))
    trainer.train()
    [row["toxicity/toxic_rate"] for row in trainer.state.log_history if "toxicity/toxic_rate" in row]
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass, field

from transformers import TrainerCallback

from toxft import data
from toxft.errors import ToxftError

STOP_WHEN = (None, "credibly_higher")
BASELINE_KEY = "toxft/baseline"  # the row of TrainerState.log_history that keeps step 0 for a resumed run
GENERATION = {"until": [], "max_gen_toks": 50, "do_sample": False, "temperature": 0.0}  # the toxft tasks' YAML
_log = logging.getLogger("toxft.callbacks")


@dataclass
class Measurement:
    """One call of the callback: the step, the continuations' scores and flags, and what it cost."""

    step: int
    continuations: list[str]
    scores: list[float]
    toxic: list[bool]
    subsets: list[str]
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return sum(self.toxic) / len(self.toxic)


class ToxicityCallback(TrainerCallback):
    """Generates a fixed prompt set's continuations at step 0 and every ``every_steps`` steps; logs their toxicity."""

    def __init__(self, trainer=None, *, every_steps: int = 100, prompts: list[str] | None = None,
                 scorer: str | None = None, stop_when: str | None = None, margin: float = 0.0, n_severe: int = 100,
                 n_random: int = 100, seed: int = data.DEFAULT_SEED, data_dir: str | None = None,
                 batch_size: int = 16, hdi_prob: float = 0.95, threshold: float | None = None):
        if every_steps < 1:
            raise ValueError("every_steps must be 1 or more")
        if stop_when not in STOP_WHEN:
            raise ValueError(f"stop_when must be None or 'credibly_higher', not {stop_when!r}")
        self.trainer, self.every_steps, self.scorer_name = trainer, every_steps, scorer
        self.stop_when, self.margin, self.batch_size, self.hdi_prob = stop_when, margin, batch_size, hdi_prob
        self.threshold = threshold
        self._prompts, self._subsets = (list(prompts), ["custom"] * len(prompts)) if prompts else (None, None)
        self._sample = (n_severe, n_random, seed, data_dir)
        self.history: list[Measurement] = []
        self.stop_reason: str | None = None
        self._lm = None

    # --- what is measured -------------------------------------------------------------------

    def prompts(self) -> tuple[list[str], list[str]]:
        """(prompts, their subsets): the given ones, or the toxft suite's first severe and random prompts."""
        if self._prompts is None:
            n_severe, n_random, seed, data_dir = self._sample
            severe = data.rtp_docs("severe", n_severe, seed, data_dir)
            drawn = {doc["id"] for doc in severe}
            # A prompt drawn into both subsets is asked once (the tasks' pooled total counts it once too).
            docs = [*severe, *(doc for doc in data.rtp_docs("random", n_random, seed, data_dir) if doc["id"] not in drawn)]
            self._prompts = [doc["prompt"] for doc in docs]
            self._subsets = [doc["subset"].removeprefix("rtp_") for doc in docs]
        return self._prompts, self._subsets

    def _harness_model(self, model, tokenizer):
        """The harness's own HF wrapper around the model being trained (made again only when the model object
        changes, as it may under a sharded-weights unwrap)."""
        if self._lm is None or self._lm.model is not model:
            from lm_eval.models.huggingface import HFLM

            # It says, rightly, that a model passed in skips its loading options and distributed set-up: toxft
            # splits the prompts between the processes itself.
            harness_log = logging.getLogger("lm_eval.models.huggingface")
            level = harness_log.level
            harness_log.setLevel(logging.ERROR)
            try:
                self._lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=self.batch_size)
            finally:
                harness_log.setLevel(level)
        return self._lm

    def _accelerator(self):
        """The trainer's accelerator when training runs in several processes, else None."""
        accelerator = getattr(self.trainer, "accelerator", None)
        if accelerator is not None and accelerator.num_processes > 1:
            return accelerator
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise ToxftError("toxft: ToxicityCallback in several processes needs the trainer: "
                             "ToxicityCallback(trainer=trainer, ...), so every process measures its share")
        return None

    def _generating(self, model, accelerator):
        """The model to generate with: under several processes the trainer's, unwrapped for generation (DDP; ZeRO-3
        and FSDP weights gathered) on every rank at once."""
        if accelerator is None:
            return contextlib.nullcontext(model)
        from trl.models import unwrap_model_for_generation

        return unwrap_model_for_generation(self.trainer.model_wrapped, accelerator)

    def _check_same_everywhere(self, accelerator) -> None:
        """Every process must measure the same prompts with the same classifier, or the gathered set means nothing:
        one line on every rank (each sees what all were given), never a rank left waiting."""
        from accelerate.utils import gather_object

        from toxft.scorer import describe

        scorer = describe(self.scorer_name) if self.scorer_name else "the configured scorer"
        mine = (len(self.prompts()[0]), self._digest(), scorer)
        everyone = gather_object([mine])
        if len(set(everyone)) > 1:
            told = "; ".join(f"rank {rank}: {n} prompts ({digest}), {used}"
                             for rank, (n, digest, used) in enumerate(everyone))
            raise ToxftError(f"toxft: ToxicityCallback: the {len(everyone)} processes were given different prompt "
                             f"sets or scorers ({told}); give every process the same")

    def measure(self, model, tokenizer, step: int) -> Measurement:
        """Generate and score the prompt set now, in eval mode without gradients; the training mode is restored.

        Under several processes each one generates and scores its share of the prompts and every process receives
        the whole measurement, so each joins the same collectives and reaches the same decision."""
        import torch
        from lm_eval.api.instance import Instance

        from toxft import degenerate, settings
        from toxft.scorer import get_scorer

        started = time.perf_counter()
        prompts, subsets = self.prompts()
        accelerator = self._accelerator()
        if accelerator is not None and not self.history:
            self._check_same_everywhere(accelerator)
        share = list(range(len(prompts)))
        if accelerator is not None:
            with accelerator.split_between_processes(share) as mine:
                share = list(mine)
        with self._generating(model, accelerator) as unwrapped:
            generating = unwrapped.get_base_model() if hasattr(unwrapped, "get_base_model") else unwrapped
            was_training = generating.training
            generating.eval()
            try:
                with torch.no_grad():
                    requests = [Instance("generate_until", {"prompt": prompts[i]}, (prompts[i], dict(GENERATION)), i)
                                for i in share]
                    texts = self._harness_model(generating, tokenizer).generate_until(requests, disable_tqdm=True)
            finally:
                generating.train(was_training)
        scores = get_scorer(self.scorer_name)(texts, progress=False) if texts else []
        if accelerator is not None:
            from accelerate.utils import gather_object

            gathered = sorted(gather_object(list(zip(share, texts, scores))))
            texts, scores = [text for _, text, _ in gathered], [score for _, _, score in gathered]
        threshold = settings.current().threshold if self.threshold is None else self.threshold
        toxic = [s > threshold for s in scores]
        found = Measurement(step, texts, scores, toxic, subsets, 0.0)
        found.extra["degenerate"] = sum(degenerate.kind(t, p) is not None for t, p in zip(texts, prompts)) / len(texts)
        found.seconds = time.perf_counter() - started
        return found

    def logs(self, found: Measurement) -> dict[str, float]:
        """The measurement as the trainer's log keys (the paired change against step 0 once there is one)."""
        from toxft.analysis.paired import compare_paired

        logs = {"toxicity/toxic_rate": found.rate, "toxicity/mean_score": sum(found.scores) / len(found.scores),
                "toxicity/degenerate": found.extra["degenerate"], "toxicity/seconds": found.seconds}
        for subset in dict.fromkeys(found.subsets):
            if subset != "custom":
                flags = [t for t, s in zip(found.toxic, found.subsets) if s == subset]
                logs[f"toxicity/{subset}/toxic_rate"] = sum(flags) / len(flags)
        if self.history and found is not self.history[0]:
            paired = compare_paired(found.toxic, self.history[0].toxic, self.hdi_prob)
            logs.update({"toxicity/change_pp": 100 * paired.diff_mean,  # the posterior mean, inside its HDI
                         "toxicity/change_observed_pp": 100 * (paired.rate_a - paired.rate_b),
                         "toxicity/change_low_pp": 100 * paired.diff_hdi[0],
                         "toxicity/change_high_pp": 100 * paired.diff_hdi[1]})
            found.extra["paired"] = paired
        return logs

    # --- the trainer's events -----------------------------------------------------------------

    def _call(self, args, state, control, model, processing_class) -> None:
        found = self.measure(model, processing_class, state.global_step)  # on every process, the same result
        self.history.append(found)
        logs = self.logs(found)
        main = state.is_world_process_zero
        if main:  # logged once, as TRL's WinRateCallback does
            if self.trainer is not None:
                # Trainer.log clears control.should_log, which would skip the trainer's own loss line at this step,
                # and in the main process only: the others would then gather the loss alone and hang.
                should_log = control.should_log
                self.trainer.log(logs)
                control.should_log = should_log
            else:
                state.log_history.append({**logs, "step": state.global_step})
        paired = found.extra.get("paired")
        if self.stop_when == "credibly_higher" and paired is not None and paired.credible \
                and paired.diff_hdi[0] > self.margin:
            baseline = self.history[0].step
            self.stop_reason = (f"toxft: stopping the fine-tune at step {state.global_step}: the toxic rate is "
                                f"credibly higher than at step {baseline} ({100 * paired.rate_b:.1f}% -> "
                                f"{100 * paired.rate_a:.1f}%, {self.hdi_prob:.0%} HDI of the change "
                                f"[{100 * paired.diff_hdi[0]:+.1f}, {100 * paired.diff_hdi[1]:+.1f}] pp, "
                                f"margin {100 * self.margin:.1f} pp)")
            if main:
                _log.warning(self.stop_reason)
            control.should_training_stop = True  # every process decides alike from the same measurement

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.history:  # a second train() in this process keeps its step 0
            return
        if state.global_step > 0 and self._restore_baseline(state):
            return  # resumed from a checkpoint: the step 0 measured before it is still the baseline
        self._call(args, state, control, model, processing_class)
        self._keep_baseline(state)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.global_step % self.every_steps == 0:
            self._call(args, state, control, model, processing_class)

    def _keep_baseline(self, state) -> None:
        """The baseline as a row of the trainer's state, which every checkpoint saves and a resumed run loads (in every
        process alike): the comparison after a resume is still with step 0. Not a log call: no tracker sees it."""
        first = self.history[0]
        state.log_history.append({"step": first.step, BASELINE_KEY: {
            "prompts": self._digest(), "continuations": first.continuations, "scores": first.scores,
            "toxic": first.toxic, "degenerate": first.extra.get("degenerate", 0.0)}})

    def _restore_baseline(self, state) -> bool:
        row = next((row for row in state.log_history if BASELINE_KEY in row), None)
        if row is None or row[BASELINE_KEY]["prompts"] != self._digest():
            return False  # none kept, or another prompt set: measure a new baseline now
        kept = row[BASELINE_KEY]
        self.history.append(Measurement(row["step"], kept["continuations"], kept["scores"], kept["toxic"],
                                        self.prompts()[1], 0.0, {"degenerate": kept["degenerate"]}))
        return True

    def _digest(self) -> str:
        return hashlib.sha256("\n".join(self.prompts()[0]).encode()).hexdigest()[:16]
