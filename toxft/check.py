"""Check a fine-tuned model against the model it came from: one verdict, the paper's table, the card.

The reference is found for you: a PEFT adapter is compared with its base model
(adapter_config.json), a full model with the base_model of its model card; otherwise give
--against. Both are evaluated through lm_eval with the toxft tasks (--log_samples), as a
one-family study, and cached by model, commit, harness arguments, classifier and toxft task
files, so a reference evaluated once serves every later check, and a rerun after an
interruption goes on. With --scorers A,B the continuations are generated once and scored by
each classifier (the others by `toxft rescore`, cached beside the first), with a verdict per
classifier and a line saying whether they agree. With --languages (default: the model card's
`language:` entries), each language of PolygloToxicityPrompts is evaluated too, scored by the
multilingual classifier, with a verdict line and a column block per language; English is always
the paper's suite.

exit status: 0 the check ran and --fail-on was not met; 1 --fail-on was met; 2 bad input or a
failed evaluation (no verdict is shown then).

examples:
  toxft check me/gemma-2-2b-it-dolly
  toxft check ./adapters/my-lora --against google/gemma-2-2b-it --card README.md
  toxft check me/model --fail-on increase --scorers paper,toxic-bert --model-args dtype=bfloat16
  toxft check me/gemma-2-2b-it-german --languages de
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toxft.analysis.settings import AnalysisSettings, add_interval_arguments, from_arguments
from toxft.arguments import nonnegative_int
from toxft.errors import ToxftError
from toxft.harness import (Target, add_harness_arguments, cache_name, harness_settings, multilingual_scorer,
                           scored_by)
from toxft.hub import is_adapter, is_local, resolve
from toxft.suite import PTP_LANGUAGES, language_of

FAIL_ON = ("never", "increase", "change", "degenerate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the fine-tuned model: a Hub id or a local folder, full model or PEFT adapter")
    parser.add_argument("--against", metavar="REFERENCE",
                        help="the model to compare with (default: the adapter's base, or the card's base_model)")
    parser.add_argument("--revision", help="commit, branch or tag of MODEL on the Hub (default: its main branch)")
    parser.add_argument("--against-revision", help="commit, branch or tag of the reference (default: its main branch)")
    parser.add_argument("--output", type=Path, default=Path("toxft-checks"),
                        help="folder for the harness results (a cache shared by every check)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="never",
                        help="exit 1 when the model is credibly more toxic under any scorer (increase), credibly "
                             "different (change), or writes credibly more degenerate continuations (degenerate)")
    parser.add_argument("--languages", type=language_list, metavar="de,zh",
                        help="PolygloToxicityPrompts languages to evaluate beside English, each with its own verdict "
                             "(default: the languages of the model card's language: metadata; the 17: "
                             f"{', '.join(PTP_LANGUAGES)})")
    parser.add_argument("--scorers", type=scorer_list, metavar="A,B",
                        help="score the same continuations with each classifier (presets or paths); the first one "
                             "scores the generation (default: the configured scorer, paper unless TOXFT_SCORER says)")
    add_interval_arguments(parser)
    parser.add_argument("--examples", type=nonnegative_int, default=0, metavar="N",
                        help="show up to N prompts whose continuation became toxic (and N that stopped)")
    parser.add_argument("--card", type=Path, metavar="README.md", help="insert or update the toxft section of this card")
    parser.add_argument("--push-to-hub", action="store_true",
                        help="open a pull request with the toxft section on MODEL's Hub card")
    add_harness_arguments(parser, "harness options (passed to lm_eval for both models)")


def scorer_list(text: str) -> list[str]:
    """``--scorers``: comma-separated presets or paths, each named once."""
    from toxft.scorer import ScorerError, check_spec, describe

    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one scorer, e.g. paper,toxic-bert")
    seen: dict[str, str] = {}
    for name in names:
        try:
            check_spec(name)
        except ScorerError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix("toxft: ")) from None
        description = describe(name)
        if description in seen:
            raise argparse.ArgumentTypeError(f"{name!r} is given twice ({seen[description]!r} is the same classifier)"
                                             if seen[description] != name else f"{name!r} is given twice")
        seen[description] = name
    return names


def language_list(text: str) -> list[str]:
    """``--languages``: language codes (ISO 639-1, as PolygloToxicityPrompts names its configs), each once."""
    from toxft.languages import LanguageError, parse

    try:
        return parse(text)
    except LanguageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("toxft: ")) from None


def resolve_pair(args: argparse.Namespace) -> tuple[Target, Target, str]:
    """(model, reference, where the reference came from); one-line errors for every bad case.

    ``args.card_languages`` is set to the model's card ``language:`` entries (the adapter's, for an adapter)."""
    adapter = is_adapter(args.model, args.revision)
    found = resolve(args.model, "adapter" if adapter else "model", args.revision)
    if found.problem:
        raise ToxftError(f"toxft: {args.model}: {found.problem}")
    model_id = found.current_id or args.model
    args.card_languages = found.languages
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


def languages_to_evaluate(args: argparse.Namespace, say) -> list[str]:
    """--languages, else the card's; English is the paper's suite and always runs, so it is not listed here."""
    from toxft.languages import evaluated, from_card, normalise

    if args.languages is not None:
        return evaluated(args.languages)
    card = getattr(args, "card_languages", [])
    spoken = evaluated(from_card(card))
    ignored = [v for v in card if normalise(v) is None]
    if spoken:
        say(f"languages: {', '.join(spoken)} beside English (from {args.model}'s card; --languages chooses others)")
    if ignored:
        say(f"note: the card also names {', '.join(ignored)}: no PolygloToxicityPrompts prompts in "
            f"{'it' if len(ignored) == 1 else 'them'}")
    return spoken


def _check_multilingual_scorer(harness: dict, languages: list[str], say) -> None:
    """Refuse an unusable multilingual classifier before any generation; warn for languages it was not trained on."""
    from toxft.languages import classifier_of, warning
    from toxft.scorer import check_classifier, describe

    spec = multilingual_scorer(harness)
    check_classifier(spec)
    text = warning(classifier_of(describe(spec)), languages)
    if text:
        say(f"warning: {text}")


def run(args: argparse.Namespace) -> int:
    from toxft.analysis.compare import compare_runs
    from toxft.runs import load_run
    from toxft.study.config import ModelEntry, Study
    from toxft.study.executor import LocalExecutor, run_steps
    from toxft.study.plan import plan, scored_folder

    if args.card:
        from toxft.files import check_writable

        check_writable(args.card, "--card")
    if args.push_to_hub and is_local(args.model):
        raise ToxftError("toxft: --push-to-hub needs MODEL to be a Hub repository")
    harness = harness_settings(args)
    settings = from_arguments(args, best=False, verdict="paired", scorers=tuple(args.scorers or ()))
    if args.scorers:
        from toxft.scorer import check_classifier

        for spec in args.scorers:  # before any generation: a classifier without the label stops here
            check_classifier(spec)
        harness["metadata"] = {**(harness.get("metadata") or {}), "scorer": args.scorers[0]}
    model, reference, source = resolve_pair(args)
    say = lambda message: print(f"toxft: {message}", file=sys.stderr, flush=True)  # noqa: E731
    languages = languages_to_evaluate(args, say)
    if languages:
        harness["languages"] = languages
        _check_multilingual_scorer(harness, languages, say)
    say(f"reference: {reference.ident} @ {reference.sha} (from {source})")
    say(f"model:     {model.ident} @ {model.sha}" + (" (PEFT adapter on the reference)" if model.peft else ""))
    for named, target in ((args.model, model), (args.against, reference)):
        if named and not is_local(named) and named != target.ident:
            say(f"note: {named} was renamed on the Hub; it is now {target.ident}, and results name it so")
    scorer = scored_by(harness, args.scorers)
    entries = [ModelEntry("check", "instruct", reference.pretrained, cache_name(reference, harness, scorer),
                          reference.revision),
               ModelEntry("check", "community", model.pretrained, cache_name(model, harness, scorer), model.revision,
                          model.peft)]
    study = Study("toxft check", Path("."), {}, harness, {}, settings, ["instruct-community"], {"check": entries})
    root = args.output.resolve()
    # A Hub adapter is fetched at its resolved commit by its step, as a study's pinned adapters are.
    hub_adapter = model.peft and not is_local(model.peft)
    steps = plan(study, root, adapter_pins={model.peft: model.sha} if hub_adapter else None)
    todo = [s for s in steps if not s.done()]
    for step in steps:
        what = "cached" if step not in todo else "rescoring" if step.kind == "rescore" else "evaluating"
        say(f"{what}: {step.entry.name}{step.scorer_suffix} ({step.output})")
    if todo:
        def reused(step, outcome) -> None:
            if outcome.done_elsewhere:
                say(f"{step.entry.model}: evaluated meanwhile by another check; reusing it")

        from toxft.study.worker import preload_for

        with LocalExecutor(study.env, preload_for(step.kind for step in todo)) as executor:
            status = run_steps(todo, executor, study.env, root / "logs",
                               on_start=lambda step: say(f"running {step.describe()}"),
                               on_wait=lambda step, pid: say(f"{step.entry.model}: in use by pid {pid} (another toxft "
                                                             "check with this --output); waiting for it"),
                               on_done=reused)
        failed = [(step, status[step.label]) for step in todo if step.label in status and not status[step.label].ok]
        skipped = [step for step in todo if step.label not in status]
        if failed or skipped:
            step, outcome = failed[0] if failed else (skipped[0], None)
            reason = outcome.reason if outcome else "its evaluation failed"
            raise ToxftError(f"toxft: {step.label} failed: {reason}; log: {root / 'logs' / step.log_name} "
                             "(no verdict from an incomplete evaluation; finished prompts are cached, so the same "
                             "command goes on where it stopped)")
    from toxft.study.plan import results_folder

    scorers = args.scorers or [None]
    runs: dict[str | None, dict[str, object]] = {}
    for spec in scorers:
        runs[spec] = {entry.role: load_run(scored_folder(results_folder(entry, root), spec, args.scorers))
                      for entry in entries}
    comparisons = {spec: compare_runs(by_role["community"], by_role["instruct"], settings, examples=args.examples,
                                      warn=lambda message: say(message)) for spec, by_role in runs.items()}
    for spec, comparison in comparisons.items():
        for subset in verdict_subsets(languages):
            print(verdict_line(model.ident, reference.ident, comparison, spec if len(scorers) > 1 else None, subset))
    if len(scorers) > 1:
        print(agreement_line(comparisons))
    if languages:
        print("(language lines: PolygloToxicityPrompts scored by a local classifier; not comparable with that "
              "paper's Perspective API numbers)")
    print()
    report = _report(runs, comparisons, model.ident, reference.ident, settings)
    from toxft.report.render import to_markdown

    print(to_markdown(report), end="")
    if args.examples:
        from toxft.analysis.cli import format_examples

        print("\n".join(format_examples(comparisons[scorers[0]], args.examples, model.ident, reference.ident)))
    if args.card:
        from toxft.report.card import update_card_file

        update_card_file(args.card, report, model.ident, create=True)
    if args.push_to_hub:
        from toxft.report.card import push_card

        push_card(model.ident, report, model.ident, create_pr=True)
    reasons = fail_reasons(args.fail_on, comparisons, verdict_subsets(languages))
    for reason in reasons:
        say(f"--fail-on {args.fail_on}: {reason}")
    return 1 if reasons else 0


def verdict_subsets(languages) -> list[str]:
    """The subsets with a verdict line: the paper's total (English), then each language's pooled prompts."""
    return ["total", *(f"ptp_{lang}" for lang in languages)]


def verdict_line(model: str, reference: str, comparison, scorer: str | None = None, subset: str = "total") -> str:
    """The one line a user reads first: direction, size, interval, prompts, method (and the degenerate caveat);
    for a language subset (``ptp_de``), the same line opened by the language."""
    total = comparison.subsets.get(subset)
    if total is None:
        if subset != "total":
            raise ToxftError(f"toxft: the runs share no complete {subset} subtasks; no verdict in that language")
        raise ToxftError("toxft: the runs share no complete set of toxft subtasks; no verdict")
    headline = total.headline
    low, high = headline.diff_hdi
    # One number per comparison everywhere: the posterior mean, inside the HDI printed beside it (the observed
    # change can lie outside it when the prior pulls a small subset's extreme towards 0).
    size = (f"{100 * headline.diff_mean:+.1f} pp toxic continuations "
            f"(posterior mean, {comparison.settings.interval()} [{100 * low:+.1f}, {100 * high:+.1f}]; "
            f"observed {100 * total.observed:+.1f})")
    under = f" under {scorer}" if scorer else ""
    if total.credible:
        words = "MORE" if headline.diff_mean > 0 else "LESS"
        head = f"{model} is credibly {words} toxic than {reference}{under}"
    else:
        head = f"{model} is not credibly different in toxicity from {reference}{under}"
    caveat = total.caveat("its", f"{reference}'s")
    language = language_of(subset)
    where = f"in {PTP_LANGUAGES[language]} ({language}): " if language else ""
    return (f"{where}{head}{caveat}: {size} on {total.n:,} prompts (paired; {100 * total.rate_a:.1f}% vs "
            f"{100 * total.rate_b:.1f}%; degenerate {total.degenerate.share_a:.0%} vs {total.degenerate.share_b:.0%})")


def agreement_line(comparisons: dict) -> str:
    """Whether the classifiers reach the same verdict on all prompts: 'credibly higher under paper and toxic-bert'."""
    verdicts = {spec: c.subsets["total"].direction for spec, c in comparisons.items()}
    if len(set(verdicts.values())) == 1:
        names = list(verdicts)
        joined = ", ".join(names[:-1]) + f" and {names[-1]}"
        return f"the scorers agree: {next(iter(verdicts.values()))} under {joined}"
    return "depends on the scorer: " + ", ".join(f"{v} under {spec}" for spec, v in verdicts.items())


def fail_reasons(fail_on: str, comparisons: dict, subsets=("total",)) -> list[str]:
    """Why --fail-on is met, one line per scorer and subset that meets it (none: it is not): a safety gate fails
    when any scorer, in any language, says so, and says which."""
    if fail_on == "degenerate":  # the same continuations under every scorer: judged once
        comparisons = dict([next(iter(comparisons.items()))])
    reasons = []
    for spec, comparison in comparisons.items():
        under = f" under {spec}" if spec and len(comparisons) > 1 else ""
        for subset in subsets:
            found = comparison.subsets.get(subset)
            if found is None:
                continue
            where = "on all prompts" if subset == "total" else f"in {PTP_LANGUAGES[language_of(subset)]}"
            rates = f"{100 * found.rate_a:.1f}% vs {100 * found.rate_b:.1f}% toxic"
            if fail_on == "increase" and found.credible and found.direction == "credibly higher":
                reasons.append(f"credibly more toxic {where}{under} ({rates})")
            elif fail_on == "change" and found.credible:
                reasons.append(f"{found.direction} toxicity {where}{under} ({rates})")
            elif fail_on == "degenerate" and found.degenerate.rose("a"):
                shares = found.degenerate
                reasons.append(f"credibly more degenerate continuations {where} ({shares.share_a:.0%} vs "
                               f"{shares.share_b:.0%}; {shares.kinds('a')})")
    return reasons


def _report(runs: dict, comparisons: dict, model: str, reference: str, settings: AnalysisSettings):
    from toxft.report.table import Report

    ordered, names, by_folder = [], [], {}
    for spec, by_role in runs.items():
        ordered += [by_role["community"], by_role["instruct"]]
        names += [model, reference]
        by_folder[str(by_role["community"].folder)] = comparisons[spec]
    first = next(iter(runs.values()))
    return Report(ordered, names, baseline=first["instruct"], comparisons=by_folder, settings=settings)
