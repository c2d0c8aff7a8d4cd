"""The ``toxft`` console script: one entry point, one subcommand per capability."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable

import toxft
from toxft.errors import ToxftError


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults in --help and keeps the descriptions' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        # "(default: None)" and a switch's "(default: False)" say nothing, and a help text that
        # already explains its default must not get a second one. A number 0 is a default like any
        # other (0 == False, so identity, not equality, decides).
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or action.default is None or action.default == []:
            return text
        if isinstance(action, argparse.BooleanOptionalAction):
            return f"{text} (default: {action.option_strings[0 if action.default else 1]})"
        if action.default is False or action.default is True:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on standard error and exit status 2, like every other toxft error."""

    def error(self, message: str):
        self.exit(2, f"toxft: error: {message} (see: {self.prog} --help)\n")


def _tasks_path(args: argparse.Namespace) -> int:
    print(toxft.tasks_path())
    return 0


def _measurement_path(args: argparse.Namespace) -> int:
    print(toxft.measurement_path())
    return 0


def _subcommands() -> list[tuple[str, str, Callable]]:
    """(name, one-line help, module path of its `add_arguments`/`run`), in --help order."""
    return [
        ("check", "Evaluate a fine-tune and the model it came from: verdict, table, card", "toxft.check"),
        ("compare", "Paired, unpaired and BEST comparisons of two or more harness runs", "toxft.analysis.cli"),
        ("report", "Safety tables, figures and model-card metadata from harness runs", "toxft.report.cli"),
        ("rescore", "Score a run's saved continuations again with another classifier", "toxft.rescore"),
        ("agreement", "The same continuations under two scorers: 2x2 table, kappa, rank correlation", "toxft.agreement"),
        ("finetune", "LoRA fine-tuning on Dolly-15k with the paper's recipe", "toxft.finetune.cli"),
        ("study", "Run or plan a whole study from a YAML config", "toxft.study.cli"),
        ("survey", "Which of a model's most downloaded fine-tunes on the Hub changed its toxicity", "toxft.survey.cli"),
        ("demo", "The whole study in miniature, offline, on tiny models", "toxft.demo"),
    ]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    import importlib

    parser = _Parser(
        prog="toxft",
        description="Toxicity of fine-tuned language models (Hawkins, Mittelstadt & Russell, 2024), "
        "as lm-evaluation-harness tasks plus fine-tuning, comparison and reporting tools.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"toxft {toxft.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    tasks = sub.add_parser("tasks-path", help="Print the folder to pass to lm_eval --include_path", formatter_class=_Formatter)
    tasks.set_defaults(func=_tasks_path)
    measurement = sub.add_parser(
        "measurement-path", help="Print the folder of the `evaluate` measurement", formatter_class=_Formatter
    )
    measurement.set_defaults(func=_measurement_path)
    for name, help_text, module_name in _subcommands():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # a capability not built yet
        command = sub.add_parser(name, help=help_text, description=module.__doc__, formatter_class=_Formatter)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the toxft command line; returns the exit status."""
    from toxft.progress import quiet_library_bars

    # Before torch loads OpenMP: threads that wait passively instead of spinning share a busy
    # machine fairly (benchmarks/busy_machine.py: 1.97x instead of 2.74x for two scorers at
    # once on 2 cores) and cost nothing alone. Jobs and lm_eval inherit it; a user's choice wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    quiet_library_bars()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ToxftError as error:
        message = str(error)
        print(message if message.startswith("toxft:") else f"toxft: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `toxft study plan ... | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit-time flush quiet
        return 0
    except UnicodeDecodeError as error:
        print(f"toxft: error: a file is not UTF-8 text ({error.reason} at byte {error.start})", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a permission, a missing file the checks above did not foresee
        where = f" {error.filename}" if error.filename else ""
        print(f"toxft: error:{where}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # A second Ctrl-C while Python's exit handlers run would print a traceback of its own.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("toxft: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
