"""The `raresound` command line.

Each subcommand lives in its own module under `raresound.commands` and exposes
`register(subparsers)`, which adds its parser and sets `func` (called with the parsed args).
Discovery is by module listing, so adding a command never touches this file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from raresound import __version__, commands
from raresound.errors import RaresoundError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raresound",
        description="Train, evaluate and deploy detectors of rare sound events under class imbalance.",
    )
    parser.add_argument("--version", action="version", version=f"raresound {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"raresound.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        if sys.stdout is not None:  # None when started with stdout closed (>&-)
            sys.stdout.flush()  # here, so a closed pipe is met inside the handler, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`raresound info m.csv | head -1`): that is how a pipe ends, not an
        # error. Point stdout at devnull so the interpreter's final flush cannot fail again (the
        # recipe of the Python docs' SIGPIPE note), and exit 0 quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
            pass
        return 0


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except RaresoundError as exc:
        # Expected failures (bad input, bad config): one line, no traceback.
        print(f"raresound: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("raresound: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # a closed pipe is not an error to report here
            raise
        # Last resort for OS faults no check anticipated (disk full, permissions inside a run directory):
        # one line naming the path instead of a traceback.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"raresound: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
