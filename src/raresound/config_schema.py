"""The typed config validator shared by recipes (`training.config`) and reproduction grids
(`reproduce.config`).

A config is a tree of plain dataclasses; `build(cls, data, prefix)` walks a YAML mapping against
it, rejects unknown keys and badly-typed values with a ConfigError naming the dotted field, and
returns the dataclass. Supported annotations: nested dataclasses (also `Optional[...]` of one),
`bool`, `int` (>= 0), `float` (finite; ints accepted), `str`, `Literal[...]`, `Optional[...]`,
`list` / `list[T]` (each element checked as T, named by the list's field) and `dict`. Ranges and
cross-field rules stay with each config (`_check_ranges` and friends).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

from raresound.errors import ConfigError


def check_value(name: str, value: Any, annotation: Any) -> Any:
    """`value` checked (and numbers normalised) against `annotation`; ConfigError(name, ...) if it
    does not fit."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        choices = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
        if value not in choices:
            raise ConfigError(name, f"must be one of {list(choices)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return check_value(name, value, inner[0])
    if dataclasses.is_dataclass(annotation):
        return build(annotation, value, f"{name}.")
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, f"must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(name, f"must be an integer, got {value!r}")
        if value < 0:
            raise ConfigError(name, f"must be >= 0, got {value}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, f"must be a number, got {value!r}")
        if not math.isfinite(value):  # no field means anything by NaN or inf; they only poison training
            raise ConfigError(name, f"must be a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"must be a string, got {value!r}")
        return value
    if annotation is list or origin is list:
        if not isinstance(value, list):
            raise ConfigError(name, f"must be a list, got {value!r}")
        return [check_value(name, v, args[0]) for v in value] if args else value
    if annotation is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(name, f"must be a mapping, got {value!r}")
        return value
    return value


def build(cls: type, data: Any, prefix: str = ""):
    """The dataclass `cls` from a mapping; fields not given keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(prefix.rstrip(".") or "<root>", f"must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}", f"unknown key (known: {', '.join(sorted(known))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = check_value(f"{prefix}{f.name}", data[f.name], hints[f.name])
    return cls(**kwargs)
