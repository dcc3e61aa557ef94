"""Importers of public data sets into manifests.

Each importer module exposes `import_<name>(root, **options) -> ImportResult`. Every importer:
* maps the data set's class names to ours with a `label_map` (dataset class -> label); classes
  outside it become background (`other="background"`) or are left out (`other="exclude"`);
* gives each clip the id of its source recording and assigns train/val/test by source
  (`fractions`, `seed`) unless the data set's own split is used (DCASE 2017);
* checks every audio file's header: a missing or unreadable clip is skipped and reported in
  `ImportResult.skipped`, never fatal. A malformed metadata table is a DataError naming file + line.

Labelled clips are isolated events and unlabelled ones backgrounds for `mixtures.mix_dataset`
(see `events_and_backgrounds`).
"""

from __future__ import annotations

import csv
import importlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import soundfile as sf

from raresound.config_schema import non_empty, parse_pairs
from raresound.data.manifest import ClipRecord, check_label, label_problem, read_csv_text
from raresound.data.ratio import DEFAULT_FRACTIONS, assign_splits
from raresound.errors import ConfigError, DataError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
OTHER_CHOICES = ("background", "exclude")

# name -> "module:function"; resolved lazily so importer modules can import helpers from here.
IMPORTERS = {
    "esc50": "raresound.data.sources.esc50:import_esc50",
    "urbansound8k": "raresound.data.sources.urbansound8k:import_urbansound8k",
    "audioset": "raresound.data.sources.audioset:import_audioset",
    "dcase2017": "raresound.data.sources.dcase2017:import_dcase2017",
    "folder": "raresound.data.sources.folder:import_folder",
    "paper-classes": "raresound.data.sources.paper_classes:import_paper_classes",  # esc50 + us8k, unified
}


@dataclass
class ImportResult:
    records: list[ClipRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or id, reason)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> extra columns (e.g. fold)


@dataclass(frozen=True)
class Entry:
    """A clip found by an importer before splits are assigned."""
    path: str
    labels: tuple[str, ...]
    source_id: str
    onset: float | None = None
    offset: float | None = None
    split: str = "train"


def get_importer(name: str) -> Callable[..., ImportResult]:
    if name not in IMPORTERS:
        raise ConfigError("source", f"unknown data set {name!r} (one of {', '.join(IMPORTERS)})")
    module, func = IMPORTERS[name].split(":")
    return getattr(importlib.import_module(module), func)


def read_table(path: Path, required: Sequence[str], delimiter: str = ",") -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV with a header; missing columns are a DataError."""
    text = read_csv_text(path, "metadata file")
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} in header")
    reader.fieldnames = header
    return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}) for row in reader]


def map_label(name: str, label_map: Mapping[str, str], other: str) -> tuple[str, ...] | None:
    """Our labels for a data set class: (label,), () for background, None to exclude."""
    if other not in OTHER_CHOICES:
        raise ConfigError("other", f"{other!r} is not one of {', '.join(OTHER_CHOICES)}")
    if name in label_map:
        return (label_map[name],)
    return () if other == "background" else None


def parse_label_map(text: str | Mapping[str, str] | None, default: Mapping[str, str]) -> dict[str, str]:
    """`"dog=dog,crying_baby=baby"` -> dict; None -> default."""
    if text is None:
        return dict(default)
    if isinstance(text, Mapping):
        return dict(text)
    out = parse_pairs(text, "label_map", "CLASS=LABEL pairs", non_empty)
    for key, value in out.items():
        problem = label_problem(value)
        if problem is not None:
            raise ConfigError("label_map", f"label {value!r} for {key!r} {problem}")
    return out


def probe(path: Path) -> float | str:
    """Duration in seconds of a readable audio file, or why it cannot be used."""
    if not path.is_file():
        return "file not found"
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        return f"unreadable audio ({' '.join(str(exc).split())})"
    if info.frames <= 0:
        return "no audio frames"
    return info.frames / info.samplerate


def finish(entries: Iterable[Entry], skipped: list[tuple[str, str]], fractions: Sequence[float], seed: int,
           assign: bool = True, metadata: dict | None = None) -> ImportResult:
    """Probe each entry's file, drop (and report) unusable ones, assign splits by source."""
    records = []
    for e in entries:
        for label in e.labels:  # labels become file-name parts downstream (data mix)
            check_label(label, e.path)
        duration = probe(Path(e.path))
        if isinstance(duration, str):
            skipped.append((e.path, duration))
            continue
        if e.offset is not None and e.offset > duration + 0.05:
            skipped.append((e.path, f"annotation offset {e.offset} s is past the end ({duration:.2f} s)"))
            continue
        records.append(ClipRecord(e.path, e.labels, e.split, e.source_id, duration, e.onset, e.offset))
    if not records:
        raise DataError(f"no usable clips found ({len(skipped)} skipped"
                        + (f", first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ")"))
    if assign:
        records = assign_splits(records, fractions, seed)
    kept = {r.path for r in records}
    return ImportResult(records, skipped, {p: m for p, m in (metadata or {}).items() if p in kept})


def events_and_backgrounds(records: Iterable[ClipRecord]) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """Split imported records into isolated events (one label) and backgrounds (no label)."""
    records = list(records)
    return [r for r in records if len(r.labels) == 1], [r for r in records if not r.labels]


__all__ = ["AUDIO_EXTENSIONS", "DEFAULT_FRACTIONS", "Entry", "IMPORTERS", "ImportResult", "events_and_backgrounds",
           "finish", "get_importer", "map_label", "parse_label_map", "probe", "read_table"]
