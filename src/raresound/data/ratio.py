"""Class ratios and source-disjoint splits.

* `parse_ratio("dog=6,baby=1,gunshot=2,background=16")` -> {"dog": 6, ...}; a positional
  `"6:1:2:16"` needs its class order spelled out (`classes`), since a store's order is alphabetical.
* `format_ratio({...})` -> "dog=6 baby=1 gunshot=2 background=16" (background last).
* `subsample_to_ratio(records, ratio, seed)` keeps, per split, the largest subset whose class counts
  are exactly k * ratio (k maximal), chosen reproducibly from the seed.
* `split_by_source(...)` assigns whole source recordings to train/val/test so no recording (and no
  near-duplicate clip cut from it) is in two splits.

A clip's class is its single label, or BACKGROUND when it has none.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from raresound.config_schema import parse_pairs
from raresound.data.manifest import SPLITS, ClipRecord
from raresound.errors import ConfigError, DataError

BACKGROUND = "background"
DEFAULT_FRACTIONS = (0.7, 0.2, 0.1)


def parse_classes(text: str | Sequence[str], field: str = "classes") -> list[str]:
    names = [c.strip() for c in text.split(",")] if isinstance(text, str) else [str(c).strip() for c in text]
    if not names or any(not n for n in names):
        raise ConfigError(field, f"expected comma-separated class names, got {text!r}")
    if len(set(names)) != len(names):
        raise ConfigError(field, f"duplicate class names in {text!r}")
    return names


def _named_weights(text: str, field: str) -> dict[str, str]:
    return parse_pairs(text, field, "CLASS=WEIGHT items (e.g. dog=6,baby=1,gunshot=2,background=16)",
                       keep_blank=True, unique="class")


def suggest_named(text: str, classes: Sequence[str] = ("dog", "baby", "gunshot", BACKGROUND)) -> str:
    """The named form of a positional ratio, for error messages ("6:1:2:16" -> "dog=6,...")."""
    parts = [p.strip() for p in str(text).split(":")]
    names = list(classes) if len(parts) == len(classes) else [f"CLASS{i + 1}" for i in range(len(parts) - 1)] + [BACKGROUND]
    return ",".join(f"{n}={w}" for n, w in zip(names, parts))


def check_ratio_classes(ratio: Mapping[str, int], classes: Sequence[str], field: str = "ratio",
                        where: str = "the classes") -> None:
    """A ratio must name exactly `classes` (background included): no unknown, none missing."""
    unknown = [c for c in ratio if c not in classes]
    missing = [c for c in classes if c not in ratio]
    if unknown or missing:
        problems = "; ".join(p for p in (f"unknown {', '.join(unknown)}" if unknown else "",
                                         f"missing {', '.join(missing)}" if missing else "") if p)
        raise ConfigError(field, f"{format_ratio(ratio)}: {problems}; {where} are {', '.join(classes)} "
                                 f"(name each once, weight 0 drops one)")


def parse_ratio(text: str | Mapping[str, int], classes: str | Sequence[str] | None = None,
                field: str = "ratio") -> dict[str, int]:
    """Parse a ratio into {class: weight}, in the order given with background last.

    Named, `"dog=6,baby=1,gunshot=2,background=16"` (or a dict): with `classes`, the names must be
    exactly those. Positional, `"6:1:2:16"`: one weight per name of `classes`, which is required —
    without it the order would be a guess (a store's classes are alphabetical). Weights are
    integers >= 0, not all 0."""
    names = parse_classes(classes, field) if classes is not None else None
    if isinstance(text, Mapping):
        ratio = {str(k): v for k, v in text.items()}
    elif "=" in str(text):
        ratio = _named_weights(str(text), field)
    else:
        parts = [p.strip() for p in str(text).split(":")]
        if names is None:
            raise ConfigError(field, f"{text!r} does not say which weight is which class; name them, "
                                     f"e.g. {suggest_named(text)}")
        if len(parts) != len(names):
            raise ConfigError(field, f"{text!r} has {len(parts)} parts but there are {len(names)} classes "
                                     f"({','.join(names)})")
        ratio = dict(zip(names, parts))
    out = {}
    for name, value in ratio.items():
        try:
            weight = int(value)
            if isinstance(value, float) and value != weight:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(field, f"weight {value!r} for class '{name}' is not a whole number") from None
        if weight < 0:
            raise ConfigError(field, f"weight {weight} for class '{name}' is negative")
        out[name] = weight
    if not out or sum(out.values()) == 0:
        raise ConfigError(field, f"{text!r} has no positive weight")
    if names is not None:
        check_ratio_classes(out, names, field, where="the given classes")
    return background_last(out)


def background_last(weights: Mapping[str, float]) -> dict[str, float]:
    """The same mapping with background moved to the end (event classes keep their order)."""
    out = {c: w for c, w in weights.items() if c != BACKGROUND}
    if BACKGROUND in weights:
        out[BACKGROUND] = weights[BACKGROUND]
    return out


def format_ratio(weights: Mapping[str, float]) -> str:
    """{"dog": 6, "baby": 1, ...} -> "dog=6 baby=1 ... background=16" (at most 2 decimals)."""
    return " ".join(f"{c}={f'{float(w):.2f}'.rstrip('0').rstrip('.')}" for c, w in background_last(weights).items())


def allocate(total: int, ratio: Mapping[str, int]) -> dict[str, int]:
    """Split `total` items over classes proportionally to `ratio` (largest remainder, exact sum)."""
    weights = sum(ratio.values())
    exact = {c: total * w / weights for c, w in ratio.items()}
    counts = {c: int(np.floor(v)) for c, v in exact.items()}
    left = total - sum(counts.values())
    for c in sorted(exact, key=lambda c: (counts[c] - exact[c], c))[:left]:
        counts[c] += 1
    return counts


def clip_class(record: ClipRecord) -> str:
    """The single class of a clip; multi-label clips have none and are an error here."""
    if not record.labels:
        return BACKGROUND
    if len(record.labels) > 1:
        raise DataError(f"{record.path}: clip has several labels {record.labels}; a class ratio needs one")
    return record.labels[0]


def stable_seed(seed: int, *names: str) -> int:
    """A seed derived from `seed` and names, identical across runs (unlike hash())."""
    return int(np.random.SeedSequence([seed, *(zlib.crc32(n.encode()) for n in names)]).generate_state(1)[0])


def subsample_to_ratio(records: Sequence[ClipRecord], ratio: Mapping[str, int], seed: int = 0,
                       splits: Iterable[str] = ("train", "val")) -> list[ClipRecord]:
    """Per split in `splits`, keep k * ratio[c] clips of each class c with k as large as the data
    allows; classes outside `ratio` (or with weight 0) are dropped there. Other splits pass through.
    Order of the input is kept; the choice depends only on the seed and the set of clips."""
    splits = set(splits)
    unknown = splits - set(SPLITS)
    if unknown:
        raise ConfigError("splits", f"unknown split(s) {sorted(unknown)}")
    by_split_class: dict[tuple[str, str], list[int]] = defaultdict(list)
    keep = [rec.split not in splits for rec in records]
    for i, rec in enumerate(records):
        if rec.split in splits:
            by_split_class[(rec.split, clip_class(rec))].append(i)
    for split in sorted(splits):
        members = [by_split_class.get((split, c), []) for c in ratio]
        if not any(members):
            continue  # split absent from this manifest
        k = min(len(m) // w for m, w in zip(members, ratio.values()) if w > 0)
        if k == 0:
            short = [f"{c} {len(m)} (need >= {w})" for (c, w), m in zip(ratio.items(), members) if len(m) < w]
            raise DataError(f"split '{split}' has too few clips for ratio {format_ratio(ratio)}: "
                            f"{', '.join(short)}")
        for (cls, weight), idx in zip(ratio.items(), members):
            # Sort by path first so the pick does not depend on the input order.
            idx = sorted(idx, key=lambda i: (records[i].path, records[i].source_id))
            rng = np.random.default_rng(stable_seed(seed, split, cls))
            for j in rng.permutation(len(idx))[: k * weight]:
                keep[idx[j]] = True
    return [rec for rec, kept in zip(records, keep) if kept]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError("fractions", f"expected 3 non-negative numbers summing to 1 (train,val,test), got {fractions}")
    return fractions


def split_by_source(records_or_ids: Iterable[ClipRecord | str], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                    seed: int = 0) -> dict[str, str]:
    """Map each source id to a split. Sources are shuffled (seeded, input-order independent),
    ordered largest first, and dealt greedily to the split furthest below its share of clips
    (relative shortfall, so with at least 3 sources every split with a share gets one)."""
    fractions = _check_fractions(fractions)
    weight: dict[str, int] = defaultdict(int)
    for item in records_or_ids:
        weight[item.source_id if isinstance(item, ClipRecord) else str(item)] += 1
    sources = sorted(weight)
    rng = np.random.default_rng(seed)
    # Big sources first (stable within equal weights, so the shuffle still decides among them):
    # placing them early lets the small ones even out the shares.
    order = sorted((sources[i] for i in rng.permutation(len(sources))), key=lambda s: -weight[s])
    total = sum(weight.values())
    filled = [0.0] * len(SPLITS)
    out = {}
    for src in order:
        best = max((j for j, f in enumerate(fractions) if f > 0),
                   key=lambda j: ((fractions[j] * total - filled[j]) / (fractions[j] * total), -j))
        filled[best] += weight[src]
        out[src] = SPLITS[best]
    return out


def assign_splits(records: Sequence[ClipRecord], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                  seed: int = 0) -> list[ClipRecord]:
    """Return `records` with `split` set by source, stratified by class: each class's sources are
    split on their own so every class reaches every split when it has enough sources. A source
    belongs to the class of its first clip (in path order)."""
    first_class: dict[str, str] = {}
    for rec in sorted(records, key=lambda r: r.path):
        first_class.setdefault(rec.source_id, "+".join(rec.labels) or BACKGROUND)
    by_class: dict[str, list[ClipRecord]] = defaultdict(list)
    for rec in records:
        by_class[first_class[rec.source_id]].append(rec)
    split_of: dict[str, str] = {}
    for cls, recs in by_class.items():
        split_of.update(split_by_source(recs, fractions, stable_seed(seed, cls)))
    return [replace(rec, split=split_of[rec.source_id]) for rec in records]
