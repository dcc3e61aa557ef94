"""DCASE 2017 Task 2 (TUT Rare Sound Events 2017) mixture event lists.

Accepted format: the `event_list_<set>_<class>.csv` files of the data set (found recursively under
`root`, or given as `event_lists`), read by `evaluation.events.read_event_rows` (its rules; zero-length
events are refused here): tab- (or comma-) separated, one mixture per line,

    mixture_devtest_gunshot_003_<hash>.wav<TAB>4.36<TAB>5.02<TAB>gunshot
    mixture_devtest_gunshot_004_<hash>.wav                      (no event: background only)

Mixture audio files are looked up by name anywhere under `root`. Splits come from the set name in
the list or mixture file name (`devtrain` -> train, `devtest`/`evaltest` -> test, otherwise
`default_split`): the official mixtures reuse isolated events within a set, so re-splitting them
would leak events across splits. The original sources are unknown, so each mixture is its source.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from raresound.data.manifest import SPLITS
from raresound.data.sources import AUDIO_EXTENSIONS, DEFAULT_FRACTIONS, Entry, ImportResult, finish, parse_label_map
from raresound.errors import ConfigError, DataError
from raresound.evaluation.events import read_event_rows

DEFAULT_LABEL_MAP = {"babycry": "baby", "gunshot": "gunshot", "glassbreak": "glass"}
SET_SPLITS = {"devtrain": "train", "devtest": "test", "evaltest": "test"}


def _split_hint(*names: str, default: str) -> str:
    for name in names:
        for key, split in SET_SPLITS.items():
            if key in name:
                return split
    return default


def import_dcase2017(root: str | Path, *, event_lists: Sequence[str | Path] | None = None,
                     label_map: Mapping[str, str] | str | None = None, default_split: str = "train",
                     fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> ImportResult:
    root = Path(os.path.abspath(root))  # absolute, normalised: manifests and reports name real files
    if default_split not in SPLITS:
        raise ConfigError("default_split", f"{default_split!r} is not one of {', '.join(SPLITS)}")
    lists = [Path(p) for p in event_lists] if event_lists else sorted(root.rglob("event_list*.csv"))
    if not lists:
        raise DataError(f"{root}: no event_list*.csv files found")
    labels_of = parse_label_map(label_map, DEFAULT_LABEL_MAP)
    files = {p.name: p for p in sorted(root.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()}
    entries, skipped = [], []
    for event_list in lists:
        for where, name, onset, offset, label in read_event_rows(event_list):
            if label is not None and offset <= onset:  # a mixture's event has a length
                raise DataError(f"{where}: offset {offset} is not after onset {onset}")
            if name not in files:
                skipped.append((name, f"mixture audio not found under {root} (listed at {where})"))
                continue
            labels = () if label is None else (labels_of.get(label, label),)
            split = _split_hint(event_list.name, name, default=default_split)
            entries.append(Entry(str(files[name]), labels, f"dcase2017-{Path(name).stem}", onset, offset, split))
    return finish(entries, skipped, fractions, seed, assign=False)
