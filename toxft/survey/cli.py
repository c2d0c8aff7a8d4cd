"""Which of a model's popular fine-tunes changed its toxicity: choose them from the Hub, write the study, run it.

The candidates are the model's fine-tunes and adapters in the Hub's model tree, most downloaded
this month first. The paper's rules leave out quantized copies, merges (unless --include-merges),
what Transformers or PEFT cannot load, gated repos this token cannot read, and copies of weights
already kept; --top N keeps the N most downloaded of the rest. OUTPUT/study.yaml is an ordinary
study (the model as reference, each fine-tune pinned to its commit), OUTPUT/candidates.md says
why each candidate was kept or skipped, and the study's report ranks the fine-tunes by the change
in their toxic rate against the model, on the same prompts. The reference's evaluation is shared
with toxft check's cache (--checks), so checking or surveying the same model evaluates it once.

examples:
  toxft survey google/gemma-2-2b-it --top 10 --output surveys/gemma-2-2b-it          # choose, write, plan
  toxft survey google/gemma-2-2b-it --top 10 --output surveys/gemma-2-2b-it --run    # and run it here
  toxft survey google/gemma-2-2b-it --top 10 --output surveys/gemma --run --executor slurm --partition gpu
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from toxft.arguments import nonnegative_int, positive_int
from toxft.errors import ToxftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from toxft.harness import add_harness_arguments
    from toxft.study.runner import add_executor_arguments

    parser.add_argument("model", help="the model whose fine-tunes to survey, as a Hub id (e.g. an instruct model)")
    parser.add_argument("--output", type=Path, required=True,
                        help="folder for study.yaml, candidates.md and .json, and the study's results and report")
    parser.add_argument("--top", type=positive_int, default=10,
                        help="keep the N most downloaded fine-tunes that pass the rules")
    parser.add_argument("--run", action="store_true", help="run the study now, then rank (else: write it, print the plan)")
    parser.add_argument("--min-downloads", type=nonnegative_int, default=0, metavar="N",
                        help="skip repositories with fewer downloads in the last 30 days (default: 0, none skipped)")
    parser.add_argument("--include-merges", action="store_true", help="keep merges of several models too")
    parser.add_argument("--max-candidates", type=positive_int, default=100, metavar="N",
                        help="how many repositories of each model-tree relation to look at, most downloaded first")
    parser.add_argument("--revision", help="commit, branch or tag of MODEL (default: main, pinned to its commit)")
    parser.add_argument("--checks", type=Path, default=Path("toxft-checks"), metavar="DIR",
                        help="toxft check's cache (its --output), where the reference's evaluation is shared")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an OUTPUT/study.yaml that this survey would write differently")
    add_harness_arguments(parser, "harness options (passed to lm_eval for every model, as toxft check takes them)")
    add_executor_arguments(parser)


def _say(message: str) -> None:
    print(f"toxft: {message}", file=sys.stderr, flush=True)


def _command(args: argparse.Namespace, reference: str) -> str:
    argv = ["toxft", "survey", reference, "--top", str(args.top), "--output", str(args.output)]
    if args.min_downloads:
        argv += ["--min-downloads", str(args.min_downloads)]
    if args.include_merges:
        argv.append("--include-merges")
    return shlex.join(argv)


def choose(args: argparse.Namespace):
    """(reference id, commit, every candidate, the kept ones): the Hub's answers, before anything is written."""
    from toxft import hub
    from toxft.survey.candidates import RELATIONS, merge_listings, select
    from toxft.survey.study_file import summary

    if hub.is_local(args.model):
        raise ToxftError(f"toxft: {args.model} is a local folder; a survey reads the Hub's model tree, so give a "
                         "Hub id (owner/name)")
    reference = hub.resolve(args.model, "model", args.revision)
    if reference.problem:
        raise ToxftError(f"toxft: {args.model}: {reference.problem}")
    ident = reference.current_id or args.model
    if reference.renamed:
        _say(f"note: {args.model} was renamed on the Hub; it is now {ident}")
    _say(f"reference: {ident} @ {reference.sha}")
    _, _, reference_weights = hub.weight_files(ident, reference.sha)
    listings = {}
    for relation in RELATIONS:
        listings[relation] = hub.list_finetunes(ident, relation, limit=args.max_candidates)
    candidates = merge_listings(listings)
    _say(f"the model tree lists {len(candidates)} repositories ("
         + ", ".join(f"{len(found)} {relation}" for relation, found in listings.items()) + ")")
    if not candidates:
        raise ToxftError(f"toxft: {ident} has no fine-tunes or adapters on the Hub: no repository's card names it "
                         "as base_model (the model tree is empty)")
    kept = select(candidates, ident, reference_weights, top=args.top, include_merges=args.include_merges,
                  min_downloads=args.min_downloads, can_read=hub.can_read, weight_files=hub.weight_files,
                  progress=_say)
    if not kept:
        raise ToxftError(f"toxft: no fine-tune of {ident} to survey: {summary(candidates)}; nothing written")
    return ident, reference.sha, candidates, kept


def run(args: argparse.Namespace) -> int:
    from toxft import hub
    from toxft.files import write_atomically
    from toxft.harness import Target, cache_name, harness_settings, scored_by
    from toxft.study.runner import executor_options
    from toxft.survey.study_file import CANDIDATES_FILE, candidates_markdown, record, study_text, summary

    harness = harness_settings(args)
    options = executor_options(args)
    output = args.output
    if output.exists() and not output.is_dir():
        raise ToxftError(f"toxft: --output {output} is a file, not a folder")
    reference, sha, candidates, kept = choose(args)
    date = datetime.now(timezone.utc).date().isoformat()
    languages = survey_languages(kept)
    # The key toxft check gives the reference evaluated in these languages: one evaluation serves both.
    keyed = {**harness, "languages": languages} if languages else harness
    shared = args.checks.resolve() / "results" / cache_name(Target(reference, reference, None, sha, sha), keyed,
                                                            scored_by(keyed))
    text = study_text(reference, sha, kept, len(candidates), harness, output, shared, date,
                      _command(args, reference), languages)
    study_path = output / "study.yaml"
    if study_path.is_file() and study_path.read_text(encoding="utf-8", errors="replace") != text and not args.overwrite:
        raise ToxftError(f"toxft: {study_path} exists and this survey would write it differently (edited, or the "
                         f"Hub's downloads moved); run it as it is with: toxft study run {study_path} --output "
                         f"{output}, or pass --overwrite")
    chosen = {"top": args.top, "min_downloads": args.min_downloads, "include_merges": args.include_merges,
              "max_candidates": args.max_candidates}
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / CANDIDATES_FILE,
                     json.dumps(record(reference, sha, candidates, chosen, date), indent=2) + "\n")
    write_atomically(output / "candidates.md", candidates_markdown(reference, candidates, date, hub.endpoint()))
    write_atomically(study_path, text)
    _say(f"{summary(candidates)}; every one and why: {output / 'candidates.md'}")
    for rank, candidate in enumerate(kept, 1):
        _say(f"  {rank}. {candidate.repo_id} @ {candidate.sha[:12]} ({candidate.downloads:,} downloads this month)")
    _say(f"study: {study_path}")
    from toxft.study.config import load_study

    study = load_study(study_path)
    return _run_study(study, study_path, output, options) if args.run else _plan(study, study_path, output, options)


def survey_languages(kept) -> list[str]:
    """The PolygloToxicityPrompts languages of the kept fine-tunes' cards (English aside), each once: every model is
    evaluated in all of them, so each fine-tune is compared with the reference in its own languages."""
    from toxft.languages import evaluated, from_card

    return evaluated(code for candidate in kept for code in from_card(candidate.languages))


def _plan(study, study_path: Path, output: Path, options) -> int:
    from toxft.study.runner import print_plan, resume_command

    print_plan(study, output.resolve(), options)
    _say(f"run it with: {resume_command(study_path, output, options)} (or this survey with --run)")
    return 0


def _run_study(study, study_path: Path, output: Path, options) -> int:
    from toxft.report.ranking import markdown
    from toxft.study.report import write_report
    from toxft.study.runner import resume_command, run_study

    failed = run_study(study, output, options)
    written = write_report(study, output.resolve(), progress=_say)
    if failed:
        raise ToxftError(f"toxft: survey study failed: {len(failed)} step(s) did not finish ({', '.join(failed)}); "
                         f"fix the cause, then resume with: {resume_command(study_path, output, options)}")
    print(written.headline + ".")
    print()
    print(markdown(written.ranking, study.analysis.interval()), end="")
    _say(f"figure: {output / 'figures' / 'ranking.png'}; report: {written.path}")
    return 0
