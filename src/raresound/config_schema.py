"""The typed config validator shared by recipes (`training.config`) and reproduction grids
(`reproduce.config`).

A config is a tree of plain dataclasses; `build(cls, data, prefix)` walks a YAML mapping against
it, rejects unknown keys and badly-typed values with a ConfigError naming the dotted field, and
returns the dataclass. Supported annotations: nested dataclasses (also `Optional[...]` of one),
`bool`, `int` (>= 0), `float` (finite; ints accepted), `str`, `Literal[...]`, `Optional[...]`,
`list` / `list[T]` (each element checked as T, named by the list's field) and `dict`. Ranges and
cross-field rules stay with each config (`_check_ranges` and friends).

Also here, as the one definition of each: `deep_merge` (a config layered on another) and
`parse_pairs` (NAME=VALUE items: `--set`, label maps, named ratios, thresholds, counts).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from typing import Any, Callable, Iterable, Literal

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


def deep_merge(base: dict, top: dict | None) -> dict:
    """`top` layered on `base`: mappings merge key by key, anything else in `top` replaces; both
    inputs are left untouched (the result holds copies)."""
    out = copy.deepcopy(base)
    for key, value in (top or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def split_pair(item: str) -> tuple[str, str] | None:
    """'name = value' -> ('name', 'value'), both stripped (the value may hold '='); None without '='."""
    name, sep, value = item.partition("=")
    return (name.strip(), value.strip()) if sep else None


def parse_pairs(items: str | Iterable[str], field: str, expected: str, convert: Callable[[str], Any] = str, *,
                keep_blank: bool = False, unique: str | None = None) -> dict[str, Any]:
    """NAME=VALUE items, comma-separated in one string or given as a list, -> {name: convert(value)}.
    Items are stripped and blank ones skipped (with `keep_blank` a blank item is an error). An item
    without '=' or a name, or whose value `convert` rejects with ValueError, is
    ConfigError(field, "expected <expected>, got <item>"); with `unique` (what a name is, e.g.
    "class"), so is a name given twice."""
    text = items
    out: dict[str, Any] = {}
    for item in (i.strip() for i in (items.split(",") if isinstance(items, str) else items)):
        if not item and not keep_blank:
            continue
        pair = split_pair(item)
        try:
            if pair is None or not pair[0]:
                raise ValueError(item)
            value = convert(pair[1])
        except ValueError:
            raise ConfigError(field, f"expected {expected}, got {item!r}") from None
        if unique and pair[0] in out:
            raise ConfigError(field, f"{unique} '{pair[0]}' appears twice in {text!r}")
        out[pair[0]] = value
    return out


def count(text: str) -> int:
    """A whole number >= 0 written in digits (a `parse_pairs` converter); ValueError otherwise."""
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def non_empty(text: str) -> str:
    """`text` unless it is empty (a `parse_pairs` converter); ValueError otherwise."""
    if not text:
        raise ValueError(text)
    return text
