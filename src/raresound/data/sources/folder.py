"""A plain folder-per-class layout: `root/<class>/**/*.{wav,flac,...}`.

The folder named `background` (configurable) holds unlabelled background recordings; every other
folder name is a label (mapped through `label_map` when given; unmapped folders follow `other`).
A file's source recording is its class folder + file stem, or group 1 of `source_regex` matched
against the stem (e.g. r"^(\\w+?)_\\d+$" for `rec12_3.wav` -> `rec12`), so clips cut from one
recording can be kept in one split.
"""

from __future__ import annotations

import re
import os
from pathlib import Path
from typing import Mapping, Sequence

from raresound.data.sources import (AUDIO_EXTENSIONS, DEFAULT_FRACTIONS, Entry, ImportResult, finish, map_label,
                                    parse_label_map)
from raresound.errors import ConfigError, DataError


def import_folder(root: str | Path, *, background: str = "background", label_map: Mapping[str, str] | str | None = None,
                  other: str = "background", source_regex: str | None = None,
                  fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> ImportResult:
    root = Path(os.path.abspath(root))  # absolute, normalised: manifests and reports name real files
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    try:
        pattern = re.compile(source_regex) if source_regex else None
    except re.error as exc:
        raise ConfigError("source_regex", f"{source_regex!r}: {exc}") from None
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class folders")
    labels_of = parse_label_map(label_map, {d.name: d.name for d in folders if d.name != background})
    entries, skipped = [], []
    for folder in folders:
        labels = () if folder.name == background else map_label(folder.name, labels_of, other)
        if labels is None:
            continue
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()):
            stem = path.stem
            match = pattern.match(stem) if pattern else None
            if pattern and not (match and match.groups()):
                skipped.append((str(path), f"file name does not match source_regex {source_regex!r}"))
                continue
            # A regex group names the recording across folders; otherwise folder + stem.
            source = match.group(1) if match else f"{folder.name}/{stem}"
            entries.append(Entry(str(path), labels, source))
    return finish(entries, skipped, fractions, seed)
