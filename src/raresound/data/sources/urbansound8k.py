"""UrbanSound8K (Salamon et al. 2014): 8732 <= 4-s slices of 10 classes in 10 folds.

Layout under `root`: `metadata/UrbanSound8K.csv`
(`slice_file_name,fsID,start,end,salience,fold,classID,class`) and `audio/fold<N>/<slice_file_name>`.
Slices cut from one freesound recording share `fsID`; splits are by fsID. Folds kept as metadata.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from raresound.data.sources import DEFAULT_FRACTIONS, Entry, ImportResult, finish, map_label, parse_label_map, read_table
from raresound.errors import DataError

DEFAULT_LABEL_MAP = {"dog_bark": "dog", "gun_shot": "gunshot"}
META = "metadata/UrbanSound8K.csv"


def import_urbansound8k(root: str | Path, *, label_map: Mapping[str, str] | str | None = None,
                        other: str = "background", fractions: Sequence[float] = DEFAULT_FRACTIONS,
                        seed: int = 0) -> ImportResult:
    root = Path(os.path.abspath(root))  # absolute, normalised: manifests and reports name real files
    meta = root / META
    labels_of = parse_label_map(label_map, DEFAULT_LABEL_MAP)
    entries, skipped, metadata = [], [], {}
    for line, row in read_table(meta, ("slice_file_name", "fsID", "fold", "class")):
        if not row["slice_file_name"] or not row["fsID"] or not row["fold"].isdigit():
            raise DataError(f"{meta}:{line}: empty slice_file_name/fsID or non-integer fold {row['fold']!r}")
        labels = map_label(row["class"], labels_of, other)
        if labels is None:
            continue
        path = str(root / "audio" / f"fold{int(row['fold'])}" / row["slice_file_name"])
        entries.append(Entry(path, labels, f"us8k-{row['fsID']}"))
        metadata[path] = {"fold": row["fold"], "category": row["class"], "salience": row.get("salience", "")}
    return finish(entries, skipped, fractions, seed, metadata=metadata)
