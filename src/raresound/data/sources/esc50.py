"""ESC-50 (Piczak 2015): 2000 5-s clips, 50 classes, 5 folds.

Accepted layouts under `root`: the official repository (`meta/esc50.csv` + `audio/`) or the
subset layout (`esc50_subset.csv` + `audio/`); same columns
`filename,fold,target,category,esc10,src_file,take`. Clips cut from one freesound recording share
`src_file`, so splits are by `src_file` (several clips per source would otherwise leak across
splits); the official folds are kept as metadata (`fold`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from raresound.data.sources import DEFAULT_FRACTIONS, Entry, ImportResult, finish, map_label, parse_label_map, read_table
from raresound.errors import DataError

DEFAULT_LABEL_MAP = {"dog": "dog", "crying_baby": "baby", "glass_breaking": "glass"}
META_CANDIDATES = ("meta/esc50.csv", "esc50_subset.csv")


def find_meta(root: Path) -> Path:
    for rel in META_CANDIDATES:
        if (root / rel).is_file():
            return root / rel
    raise DataError(f"{root}: not an ESC-50 directory (no {' or '.join(META_CANDIDATES)})")


def import_esc50(root: str | Path, *, label_map: Mapping[str, str] | str | None = None, other: str = "background",
                 fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> ImportResult:
    root = Path(os.path.abspath(root))  # absolute, normalised: manifests and reports name real files
    meta = find_meta(root)
    labels_of = parse_label_map(label_map, DEFAULT_LABEL_MAP)
    entries, skipped, metadata = [], [], {}
    for line, row in read_table(meta, ("filename", "category", "src_file")):
        if not row["filename"] or not row["src_file"]:
            raise DataError(f"{meta}:{line}: empty filename or src_file")
        labels = map_label(row["category"], labels_of, other)
        if labels is None:
            continue
        path = str(root / "audio" / row["filename"])
        entries.append(Entry(path, labels, f"esc50-{row['src_file']}"))
        metadata[path] = {"fold": row.get("fold", ""), "category": row["category"]}
    return finish(entries, skipped, fractions, seed, metadata=metadata)
