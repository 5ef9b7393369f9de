"""The command line: `python -m vae train | evaluate | info | list | import | export`.

Progress goes to stderr, results to stdout. Every expected failure (bad arguments, a missing or
broken checkpoint, bad data, an unavailable device, a diverged run) ends with one line
`error: ...` on stderr and a non-zero exit code, never a traceback.

arguments.py holds the grammar, one module per command runs it, shared.py and progress.py
hold what the commands share; this file only dispatches and turns failures into that one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ..checkpoint import CheckpointError
from ..config import ConfigError
from .arguments import build_parser
from .evaluate_command import run_evaluate
from .foreign_commands import run_export, run_import
from .inspect_commands import run_info, run_list
from .progress import ProgressLine
from .shared import CommandError, printable
from .train_command import run_train

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": run_train,
    "evaluate": run_evaluate,
    "info": run_info,
    "list": run_list,
    "import": run_import,
    "export": run_export,
}


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return printable(f"{error.strerror}{where}")
    return printable(" ".join(str(error).split()) or type(error).__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage, 130 aborted)."""
    args = build_parser().parse_args(argv)  # exits 2 with one `error:` line on bad usage
    from ..train import TrainingDiverged

    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("\nerror: interrupted\n")
        return 130
    except (CommandError, CheckpointError, ConfigError, TrainingDiverged, ValueError, OSError) as e:
        # DataError and pick_device's errors are ValueErrors.
        sys.stderr.write(f"error: {_one_line(e)}\n")
        return 1
    except Exception as error:  # a bug: still one line, with the details on request
        if os.environ.get("VAE_DEBUG"):
            raise
        sys.stderr.write(
            f"error: unexpected {type(error).__name__}: {_one_line(error)} "
            "(set VAE_DEBUG=1 for the traceback)\n"
        )
        return 1


__all__ = ["COMMANDS", "CommandError", "ProgressLine", "build_parser", "main"]
