"""Flags several commands share, and library errors in the command line's words.

`add_device_option` is the one `--device` of every command that runs a model: same values
(`devices.device_name`: auto, cpu, cuda, cuda:N, mps; a recipe's training.device takes auto, cpu
and cuda, so `train` refuses the others when it validates the recipe), same help.

A library error names the library's parameter (`ConfigError("threads", ...)`, "train into a new
`run_dir`"): that is what a caller of the Python API passed. The command line user typed a flag
instead, so a command runs the library under `flag_names(threads="--threads", run_dir="--out")`
and its errors name the flag. (Not a command: cli.py skips modules whose name starts with "_".)
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from raresound.devices import device_name
from raresound.errors import ConfigError, RaresoundError


def add_device_option(parser, default: str | None = "cpu", default_text: str | None = None) -> None:
    """`--device` on `parser` (devices.device_name); "auto" = cuda when available, else cpu."""
    parser.add_argument("--device", type=device_name, metavar="{auto,cpu,cuda,cuda:N,mps}", default=default,
                        help=f"where the model runs (auto: cuda when available, else cpu; default: "
                             f"{default_text or default})")


def in_flags(text: str, flags: dict[str, str]) -> str:
    """`text` with each parameter written `name` (in backticks) replaced by its flag."""
    for name, flag in flags.items():
        text = text.replace(f"`{name}`", flag)
    return text


@contextlib.contextmanager
def flag_names(**flags: str) -> Iterator[None]:
    """Within the block, a ConfigError of a parameter in `flags` becomes one of its flag, and a
    parameter named in backticks in any raresound error's message is replaced by its flag."""
    try:
        yield
    except ConfigError as exc:
        if exc.field not in flags and in_flags(exc.reason, flags) == exc.reason:
            raise
        raise ConfigError(flags.get(exc.field, exc.field), in_flags(exc.reason, flags)) from None
    except RaresoundError as exc:
        # The message is the error's one argument (errors.py); the class, and so the exit code, stay.
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (in_flags(exc.args[0], flags),)
        raise
