"""The clip manifest: one CSV row per audio clip with its labels, split and source recording.

Columns: `path,labels,split,source_id,duration,onset,offset`. `labels` is `;`-separated event
names (empty = background); `onset`/`offset` are seconds, empty when unknown; `path` is relative to
the manifest's directory or absolute. In memory, `ClipRecord.path` is whatever the caller gave;
`read_manifest` always returns absolute paths so records can be passed around freely.
"""

from __future__ import annotations

import csv
import io as _stdio
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from raresound.errors import DataError
from raresound.io import write_csv

COLUMNS = ("path", "labels", "split", "source_id", "duration", "onset", "offset")
REQUIRED_COLUMNS = ("path", "labels", "split", "source_id")
SPLITS = ("train", "val", "test")
LABEL_SEP = ";"


@dataclass(frozen=True)
class ClipRecord:
    path: str
    labels: tuple[str, ...]
    split: str
    source_id: str
    duration: float | None = None
    onset: float | None = None
    offset: float | None = None

    @property
    def is_background(self) -> bool:
        return not self.labels


def read_csv_text(path: Path, what: str) -> str:
    """A CSV file's text (BOM tolerated), with one-line DataErrors naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read {what} ({exc})") from None


def parse_time(text: str, column: str, where: str, required: bool = False) -> float | None:
    """Seconds from a CSV cell: empty -> None (or an error when `required`); errors name file:line."""
    text = text.strip()
    if not text:
        if required:
            raise DataError(f"{where}: column '{column}' is empty")
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: column '{column}' is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{where}: column '{column}' must be a finite number >= 0, got {text!r}")
    return value


def label_problem(label) -> str | None:
    """Why `label` cannot be an event name, or None. Labels become parts of file names (`data mix`
    writes `<label>-000001.wav`) and of printed tables: no path separator, no `.`/`..`, no control
    character, no `;` (the manifest's separator), no surrounding space, not empty."""
    if not isinstance(label, str) or not label:
        return "is empty"
    if label != label.strip():
        return "has leading or trailing space"
    if LABEL_SEP in label:
        return f"contains {LABEL_SEP!r}"
    if "/" in label or "\\" in label or label in (".", ".."):
        return "is a path part (contains a path separator, or is . or ..)"
    if any(not ch.isprintable() for ch in label):
        return "contains a control character"
    return None


def check_label(label, where: str) -> None:
    """A one-line DataError naming `where` (file:line, or the record) when `label` is unusable."""
    problem = label_problem(label)
    if problem is not None:
        raise DataError(f"{where}: bad label {label!r}: {problem}")


def _check_record(rec: ClipRecord, where: str) -> None:
    if not rec.path:
        raise DataError(f"{where}: empty 'path'")
    if rec.split not in SPLITS:
        raise DataError(f"{where}: unknown split {rec.split!r} (expected one of {', '.join(SPLITS)})")
    if not rec.source_id:
        raise DataError(f"{where}: empty 'source_id'")
    for label in rec.labels:
        check_label(label, where)
    if (rec.onset is None) != (rec.offset is None):
        raise DataError(f"{where}: 'onset' and 'offset' must both be given or both be empty")
    if rec.onset is not None and rec.offset is not None and rec.offset < rec.onset:
        raise DataError(f"{where}: 'offset' {rec.offset} is before 'onset' {rec.onset}")


def read_manifest(path: str | Path) -> list[ClipRecord]:
    """Read and validate a manifest; relative clip paths are resolved against its directory."""
    path = Path(path)
    reader = csv.DictReader(_stdio.StringIO(read_csv_text(path, "manifest")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} in header")
    reader.fieldnames = header
    base = path.parent.absolute()
    records, wheres = [], []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row:  # more cells than header columns
            raise DataError(f"{where}: more cells than header columns")
        clip = (row.get("path") or "").strip()
        labels = tuple(s.strip() for s in (row.get("labels") or "").split(LABEL_SEP) if s.strip())
        rec = ClipRecord(
            path=os.path.normpath(base / clip) if clip else "",
            labels=labels,
            split=(row.get("split") or "").strip(),
            source_id=(row.get("source_id") or "").strip(),
            duration=parse_time(row.get("duration") or "", "duration", where),
            onset=parse_time(row.get("onset") or "", "onset", where),
            offset=parse_time(row.get("offset") or "", "offset", where),
        )
        _check_record(rec, where)
        records.append(rec)
        wheres.append(where)
    check_leakage(records, wheres)
    return records


def check_leakage(records: Sequence[ClipRecord], where: Sequence[str]) -> None:
    """Reject a clip listed twice (it would count twice in training or evaluation) and an audio file
    in two splits (test results would be measured on training audio). Rows of one file with
    different onset/offset are distinct clips (segments of one recording) and stay allowed."""
    seen: dict[tuple, int] = {}
    split_of: dict[str, int] = {}
    for i, rec in enumerate(records):
        first = split_of.setdefault(rec.path, i)
        if records[first].split != rec.split:
            raise DataError(f"{where[i]}: {rec.path} is in split '{rec.split}' and in '{records[first].split}' "
                            f"({where[first]}); the same audio in two splits leaks between them")
        key = (rec.path, rec.onset, rec.offset)
        if key in seen:
            raise DataError(f"{where[i]}: duplicate row for {rec.path} (already at {where[seen[key]]})")
        seen[key] = i


def _format_time(value: float | None) -> str:
    # repr round-trips exactly, so onsets at sample positions survive a write/read cycle.
    return "" if value is None else repr(float(value))


def _relative_if_under(clip: str, base: Path) -> str:
    target = Path(os.path.normpath(Path(clip).absolute()))
    try:
        return target.relative_to(base).as_posix()
    except ValueError:
        return str(target)


def write_manifest(records: Iterable[ClipRecord], path: str | Path) -> None:
    """Validate and atomically write `records`; clip paths under the manifest's directory are
    written relative to it (so a dataset directory can be moved as a whole), others absolute.
    Relative in-memory paths are taken relative to the current directory."""
    path = Path(path)
    base = Path(os.path.normpath(path.parent.absolute()))
    records = list(records)
    check_leakage(records, [f"{path}: record {i}" for i in range(len(records))])
    rows = []
    for i, rec in enumerate(records):
        _check_record(rec, f"{path}: record {i} ({rec.path})")
        rows.append([
            _relative_if_under(rec.path, base),
            LABEL_SEP.join(rec.labels),
            rec.split,
            rec.source_id,
            _format_time(rec.duration),
            _format_time(rec.onset),
            _format_time(rec.offset),
        ])
    write_csv(path, COLUMNS, rows)


def class_names(records: Iterable[ClipRecord]) -> list[str]:
    """Sorted distinct event labels; background (no label) is not a class."""
    return sorted({label for rec in records for label in rec.labels})


def label_matrix(records: Sequence[ClipRecord], classes: Sequence[str]) -> np.ndarray:
    """Multi-hot `[N, L]` float32 targets; a background clip is a row of zeros. A label outside
    `classes` is a DataError rather than silently dropped."""
    index = {name: j for j, name in enumerate(classes)}
    out = np.zeros((len(records), len(classes)), dtype=np.float32)
    for i, rec in enumerate(records):
        for label in rec.labels:
            if label not in index:
                raise DataError(f"{rec.path}: label {label!r} is not one of the classes {list(classes)}")
            out[i, index[label]] = 1.0
    return out
