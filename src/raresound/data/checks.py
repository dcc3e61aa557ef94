"""Is there enough data? Positives and negatives per split and class, checked before any work starts.

Every command that makes or consumes splits (`data synth`, `data ratio`, `features`, `train`,
`demo`, `evaluate`, `calibrate`) counts, per split and event class, the clips carrying the class
(positives) and the others (negatives), and judges them here, so the rules are stated once:

* train: >= 1 positive per class, or no detector for that class can be learned;
* any other split (val, test): >= 1 positive and >= 1 negative per class, or its EER (and any
  threshold chosen on it) is undefined;
* below MIN_POSITIVES positives the split is usable but its EER moves in steps of 1/n (>= 10 %
  for fewer than 10), so the number is mostly noise: a warning, not an error.

`check_counts` raises a one-line DataError for the first split that cannot serve and returns the
warnings; commands print those with `warn` and, where they score a split, `describe` its counts.

Leakage: a `source_id` (one recording) found in both train and test makes the test scores
optimistic. It is a loud warning (`shared_sources`, printed by `features` and `train`), not an
error: ids are only as fine as the importer could make them, and a deliberate overlap (a probe of
memorisation) is the user's call; the warning names the first shared id and how many there are.
Training without a validation split, or on one clip, is refused where training starts
(`training.data.load_training_data`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from raresound.data.manifest import SPLITS, ClipRecord
from raresound.errors import DataError

MIN_POSITIVES = 10


@dataclass(frozen=True)
class SplitCounts:
    split: str
    n_clips: int
    positives: dict[str, int]  # event class -> clips carrying it

    def negatives(self, cls: str) -> int:
        return self.n_clips - self.positives[cls]


def count_labels(split: str, labels, classes: Sequence[str]) -> SplitCounts:
    """Counts of one split from its multi-hot label matrix [N, L] over `classes`."""
    y = np.asarray(labels).reshape(-1, len(classes)) > 0.5
    return SplitCounts(split, int(y.shape[0]), {c: int(n) for c, n in zip(classes, y.sum(axis=0))})


def count_records(records: Sequence[ClipRecord], classes: Sequence[str]) -> list[SplitCounts]:
    """Counts of every split present in `records` (train, val, test first, then any other); labels
    outside `classes` are not counted."""
    names = sorted({r.split for r in records}, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))
    out = []
    for name in names:
        members = [r for r in records if r.split == name]
        out.append(SplitCounts(name, len(members), {c: sum(c in r.labels for r in members) for c in classes}))
    return out


def _problems(c: SplitCounts, hint: str) -> tuple[str | None, list[str]]:
    """(the reason this split cannot serve, or None; warnings)."""
    tail = f"; {hint}" if hint else ""
    missing = [cls for cls, n in c.positives.items() if n == 0]
    if c.split == "train":
        if missing:
            return (f"split 'train' has 0 clips of {', '.join(missing)} (need >= 1 positive per class to learn "
                    f"a detector for it{tail})"), []
        return None, []
    if missing:
        return (f"split '{c.split}' has 0 clips of {', '.join(missing)} (need >= 1 positive per class in val "
                f"and test to compute an EER{tail})"), []
    full = [cls for cls in c.positives if c.negatives(cls) == 0]
    if full:
        return (f"split '{c.split}' has no clip without {', '.join(full)} (need >= 1 negative per class in "
                f"val and test to compute an EER{tail})"), []
    few = {cls: n for cls, n in c.positives.items() if n < MIN_POSITIVES}
    if not few:
        return None, []
    return None, [f"split '{c.split}' has fewer than {MIN_POSITIVES} clips of "
                  f"{', '.join(f'{cls} ({n})' for cls, n in few.items())}: a class's EER there moves in steps of "
                  f"1/positives (here up to {100 / min(few.values()):.0f} %){tail}"]


def check_counts(counts: Iterable[SplitCounts], hint: str = "", warn_only: Iterable[str] = (),
                 where: str = "") -> list[str]:
    """Raise DataError for the first split that cannot serve (module docstring), unless its name is
    in `warn_only` (then the reason becomes a warning); return the warnings. `hint` says what to
    change, e.g. "raise --n-clips"; `where` (a file or directory) prefixes the messages."""
    warn_only, warnings, prefix = set(warn_only), [], f"{where}: " if where else ""
    for c in counts:
        error, more = _problems(c, hint)
        if error is not None and c.split not in warn_only:
            raise DataError(prefix + error)
        warnings += [prefix + line for line in ([error] if error else []) + more]
    return warnings


def check_records(records: Sequence[ClipRecord], classes: Sequence[str], hint: str = "",
                  warn_only: Iterable[str] = (), where: str = "") -> list[str]:
    return check_counts(count_records(records, classes), hint, warn_only, where)


def check_scored_split(split: str, labels, classes: Sequence[str], where: str = "",
                       log: Callable[[str], None] | None = None,
                       more: Callable[[SplitCounts], list[str]] | None = None) -> SplitCounts:
    """The split a command is about to score (evaluate, calibrate): raise if it cannot serve, `log`
    its positives/negatives per class, print the warnings (`more` adds the command's own)."""
    counts = count_labels(split, labels, classes)
    warnings = check_counts([counts], where=where) + (more(counts) if more is not None else [])
    if log is not None:
        log(describe(counts))
    warn(warnings)
    return counts


def shared_sources(sources: Mapping[str, Iterable[str]], pairs=(("train", "test"),), where: str = "") -> list[str]:
    """Warnings for source ids present in both splits of a pair; `sources` maps split -> its
    clips' source ids (empty ids are not compared)."""
    prefix, out = f"{where}: " if where else "", []
    for a, b in pairs:
        shared = sorted(set(filter(None, sources.get(a, ()))) & set(filter(None, sources.get(b, ()))))
        if shared:
            more = f" and {len(shared) - 1} more" if len(shared) > 1 else ""
            out.append(f"{prefix}source id {shared[0]!r}{more} in both '{a}' and '{b}': the same recording is "
                       f"trained on and tested, so '{b}' scores are optimistic; give each source one split")
    return out


def record_sources(records: Sequence[ClipRecord]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in records:
        out.setdefault(r.split, []).append(r.source_id)
    return out


def describe(c: SplitCounts) -> str:
    """"split 'test' (120 clips), positives/negatives: dog 18/102, baby 3/117"."""
    per_class = ", ".join(f"{cls} {n}/{c.negatives(cls)}" for cls, n in c.positives.items())
    return f"split '{c.split}' ({c.n_clips} clips), positives/negatives: {per_class}"


def warn(warnings: Iterable[str]) -> None:
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr, flush=True)
