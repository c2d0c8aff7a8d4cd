"""Check a fine-tuned model against the model it came from: one verdict, the paper's table, the card.

The reference is found for you: a PEFT adapter is compared with its base model
(adapter_config.json), a full model with the base_model of its model card; otherwise give
--against. Both are evaluated through lm_eval with the toxft tasks (--log_samples), as a
one-family study, and cached by model, commit, harness arguments and toxft task files, so a
reference evaluated once serves every later check, and a rerun after an interruption goes on.

exit status: 0 the check ran and --fail-on was not met; 1 --fail-on was met; 2 bad input or a
failed evaluation (no verdict is shown then).

examples:
  toxft check me/gemma-2-2b-it-dolly
  toxft check ./adapters/my-lora --against google/gemma-2-2b-it --card README.md
  toxft check me/model --fail-on increase --model-args dtype=bfloat16 --batch-size 32
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from toxft.arguments import nonnegative_int, positive_int
from toxft.errors import ToxftError
from toxft.hub import is_adapter, is_local, resolve

FAIL_ON = ("never", "increase", "change")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the fine-tuned model: a Hub id or a local folder, full model or PEFT adapter")
    parser.add_argument("--against", metavar="REFERENCE",
                        help="the model to compare with (default: the adapter's base, or the card's base_model)")
    parser.add_argument("--revision", help="commit, branch or tag of MODEL on the Hub")
    parser.add_argument("--against-revision", help="commit, branch or tag of the reference")
    parser.add_argument("--output", type=Path, default=Path("toxft-checks"),
                        help="folder for the harness results (a cache shared by every check)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="never",
                        help="exit 1 when the model is credibly more toxic (increase) or credibly different (change)")
    parser.add_argument("--examples", type=nonnegative_int, default=0, metavar="N",
                        help="show up to N prompts whose continuation became toxic (and N that stopped)")
    parser.add_argument("--card", type=Path, metavar="README.md", help="insert or update the toxft section of this card")
    parser.add_argument("--push-to-hub", action="store_true",
                        help="open a pull request with the toxft section on MODEL's Hub card")
    add_harness_arguments(parser, "harness options (passed to lm_eval for both models)")


def add_harness_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    """The lm_eval options of a check or survey; the same flags give the same cache key in both."""
    harness = parser.add_argument_group(title)
    harness.add_argument("--model-type", default="hf", help="lm_eval --model (hf, vllm, ...)")
    harness.add_argument("--model-args", default="", help="extra lm_eval --model_args, e.g. dtype=bfloat16")
    harness.add_argument("--batch-size", default="auto", help="lm_eval --batch_size")
    harness.add_argument("--apply-chat-template", action="store_true", help="lm_eval --apply_chat_template")
    harness.add_argument("--limit", type=positive_int, help="lm_eval --limit: prompts per subtask (a smoke run)")
    harness.add_argument("--metadata", default="", help="lm_eval --metadata JSON for the toxft tasks")
    harness.add_argument("--device", help="lm_eval --device")


@dataclass
class Target:
    """A model to evaluate: what to load, which adapter, which commit."""

    ident: str  # as the user named it (the Hub's current id when the repository was renamed)
    pretrained: str
    peft: str | None
    revision: str | None
    sha: str | None  # of the model, or of the adapter when there is one


def _fingerprint(folder: Path) -> str:
    """A local folder's contents in short: file names, sizes and modification times."""
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    return hashlib.sha256(json.dumps([str(folder.resolve()), entries]).encode()).hexdigest()[:16]


def resolve_pair(args: argparse.Namespace) -> tuple[Target, Target, str]:
    """(model, reference, where the reference came from); one-line errors for every bad case."""
    adapter = is_adapter(args.model, args.revision)
    found = resolve(args.model, "adapter" if adapter else "model", args.revision)
    if found.problem:
        raise ToxftError(f"toxft: {args.model}: {found.problem}")
    model_id = found.current_id or args.model
    if args.against:
        reference_id, source = args.against, "--against"
    elif adapter:
        if not found.bases:
            raise ToxftError(f"toxft: {args.model} is an adapter without base_model_name_or_path; give --against")
        reference_id, source = found.bases[-1], "the adapter's base_model_name_or_path"
    else:
        bases = found.bases  # the card's base_model, read by resolve()
        if not bases:
            raise ToxftError(f"toxft: {args.model}'s card names no base_model; give the model to compare with as --against")
        if len(bases) > 1:
            raise ToxftError(f"toxft: {args.model}'s card names several base models ({', '.join(bases)}); pick one with --against")
        reference_id, source = bases[0], "the card's base_model"
    reference = resolve(reference_id, "model", args.against_revision)
    if reference.problem:
        raise ToxftError(f"toxft: reference {reference_id} (from {source}): {reference.problem}")
    reference_id = reference.current_id or reference_id
    # Hub ids are evaluated at the commits resolved here, the ones the report names.
    reference_revision = None if reference.local else reference.sha
    if adapter:
        model = Target(model_id, reference_id, model_id, reference_revision, found.sha)
    else:
        model = Target(model_id, model_id, None, None if found.local else found.sha, found.sha)
    same = (model.pretrained, model.peft, model.revision) == (reference_id, None, reference_revision)
    if same or (not adapter and _same_place(model_id, reference_id)):
        raise ToxftError(f"toxft: {args.model} is the reference itself; give a different --against")
    return model, Target(reference_id, reference_id, None, reference_revision, reference.sha), source


def _same_place(a: str, b: str) -> bool:
    if is_local(a) and is_local(b):
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    return a.lower() == b.lower()


def harness_settings(args: argparse.Namespace) -> dict:
    """The study's ``harness:`` section from the harness options."""
    extra_args = {}
    if args.model_args:
        try:
            extra_args = dict(part.split("=", 1) for part in args.model_args.split(",") if part)
        except ValueError:
            raise ToxftError("toxft: --model-args must look like key=value,key=value") from None
    harness = {"model": args.model_type, "model_args": extra_args, "batch_size": args.batch_size,
               "apply_chat_template": args.apply_chat_template}
    if args.limit:
        harness["limit"] = args.limit
    if args.metadata:
        try:
            harness["metadata"] = json.loads(args.metadata)
        except json.JSONDecodeError:
            raise ToxftError("toxft: --metadata must be JSON") from None
    if args.device:
        harness["extra_args"] = ["--device", args.device]
    return harness


def task_version() -> str:
    """A hash of the toxft task files: results from other task definitions are never reused."""
    from toxft import tasks_path

    folder = tasks_path() / "toxft"
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in {".yaml", ".py", ""}:
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def cache_name(target: Target, harness: dict) -> str:
    """The folder name of a target's results: readable prefix, key of everything that shapes them."""
    identity = {"pretrained": target.pretrained, "peft": target.peft, "revision": target.revision, "sha": target.sha,
                "harness": harness, "tasks": task_version(),
                "local": [_fingerprint(Path(p).expanduser()) for p in (target.pretrained, target.peft)
                          if p and is_local(p)]}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    readable = (target.peft or target.pretrained).rstrip("/").split("/")[-1]
    return f"{readable}-{key}"


def run(args: argparse.Namespace) -> int:
    from toxft.analysis.compare import compare_runs
    from toxft.runs import load_run
    from toxft.study.config import ModelEntry, Study
    from toxft.study.executor import make_executor, run_steps
    from toxft.study.plan import plan, results_folder

    if args.card:
        from toxft.files import check_writable

        check_writable(args.card, "--card")
    if args.push_to_hub and is_local(args.model):
        raise ToxftError("toxft: --push-to-hub needs MODEL to be a Hub repository")
    harness = harness_settings(args)
    model, reference, source = resolve_pair(args)
    say = lambda message: print(f"toxft: {message}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"reference: {reference.ident} @ {reference.sha} (from {source})")
    say(f"model:     {model.ident} @ {model.sha}" + (" (PEFT adapter on the reference)" if model.peft else ""))
    for named, target in ((args.model, model), (args.against, reference)):
        if named and not is_local(named) and named != target.ident:
            say(f"note: {named} was renamed on the Hub; it is now {target.ident}, and results name it so")
    entries = [ModelEntry("check", "instruct", reference.pretrained, cache_name(reference, harness), reference.revision),
               ModelEntry("check", "community", model.pretrained, cache_name(model, harness), model.revision,
                          model.peft)]
    study = Study("toxft check", Path("."), {}, harness, {}, {"best": False}, ["instruct-community"],
                  {"check": entries})
    root = args.output.resolve()
    # A Hub adapter is fetched at its resolved commit by its step, as a study's pinned adapters are.
    hub_adapter = model.peft and not is_local(model.peft)
    steps = plan(study, root, adapter_pins={model.peft: model.sha} if hub_adapter else None)
    todo = [s for s in steps if not s.done()]
    for step in steps:
        say(f"{'cached' if step not in todo else 'evaluating'}: {step.entry.name} ({results_folder(step.entry, root)})")
    if todo:
        def reused(step, outcome) -> None:
            if outcome.done_elsewhere:
                say(f"{step.entry.model}: evaluated meanwhile by another check; reusing it")

        executor = make_executor("local", root / "jobs")
        status = run_steps(todo, executor, study.env, root / "logs", parallel=False,
                           on_start=lambda step: say(f"running lm_eval for {step.entry.model}"
                                                     + (f" + {step.entry.peft}" if step.entry.peft else "")),
                           on_wait=lambda step, pid: say(f"{step.entry.model}: in use by pid {pid} (another toxft "
                                                         "check with this --output); waiting for it"),
                           on_done=reused)
        failed = [(step, status[step.label]) for step in todo if not status[step.label].ok]
        if failed:
            step, outcome = failed[0]
            raise ToxftError(f"toxft: {step.label} failed: {outcome.reason}; log: {root / 'logs' / step.log_name} "
                             "(no verdict from an incomplete evaluation; finished prompts are cached, so the same "
                             "command goes on where it stopped)")
    runs = {entry.role: load_run(results_folder(entry, root)) for entry in entries}
    comparison = compare_runs(runs["community"], runs["instruct"], run_best=False, examples=args.examples,
                              warn=lambda message: say(message), seed=0)
    print(verdict_line(model.ident, reference.ident, comparison))
    print()
    report = _report(runs, model.ident, reference.ident)
    from toxft.report.render import to_markdown

    print(to_markdown(report), end="")
    if args.examples:
        from toxft.analysis.cli import format_examples

        print("\n".join(format_examples(comparison, args.examples)))
    if args.card:
        from toxft.report.card import update_card_file

        update_card_file(args.card, report, model.ident, create=True)
    if args.push_to_hub:
        from toxft.report.card import push_card

        push_card(model.ident, report, model.ident, create_pr=True)
    return 1 if _failed(args.fail_on, comparison.subsets["total"].paired) else 0


def verdict_line(model: str, reference: str, comparison) -> str:
    """The one line a user reads first: direction, size, interval, prompts, method."""
    total = comparison.subsets.get("total")
    if total is None:
        raise ToxftError("toxft: the runs share no complete set of toxft subtasks; no verdict")
    paired = total.paired
    low, high = paired.diff_hdi
    # The observed difference, as in the table below; the interval is the posterior's 95% HDI.
    observed = total.rate_a - total.rate_b
    size = (f"{100 * observed:+.1f} pp toxic continuations "
            f"({paired.hdi_prob:.0%} interval [{100 * low:+.1f}, {100 * high:+.1f}])")
    if paired.credible:
        words = "MORE" if paired.diff_mean > 0 else "LESS"
        head = f"{model} is credibly {words} toxic than {reference}"
    else:
        head = f"{model} is not credibly different in toxicity from {reference}"
    return f"{head}: {size} on {total.n:,} prompts (paired; {100 * total.rate_a:.1f}% vs {100 * total.rate_b:.1f}%)"


def _failed(fail_on: str, paired) -> bool:
    if fail_on == "increase":
        return paired.credible and paired.diff_mean > 0
    if fail_on == "change":
        return paired.credible
    return False


def _report(runs: dict, model: str, reference: str):
    from toxft.report.table import Report

    return Report([runs["community"], runs["instruct"]], [model, reference], baseline=runs["instruct"])
