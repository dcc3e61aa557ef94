"""AudioSet (Gemmeke et al. 2017) segments with the paper's labels.

Input: a segments CSV as published (`balanced_train_segments.csv` etc.: `#` comment lines, then
`YTID, start_seconds, end_seconds, positive_labels` with the labels quoted and comma-separated)
and a folder of downloaded clips named `<YTID>.<ext>` or `<YTID>_<start>.<ext>` (start as written
in the CSV, as an integer, or with 1 or 3 decimals; also `<YTID>_<start>_<end>`), searched
recursively. Clips not downloaded are reported, not fatal. Splits are by YTID (one video = one
source).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Mapping, Sequence

from raresound.data.sources import (AUDIO_EXTENSIONS, DEFAULT_FRACTIONS, Entry, ImportResult, finish,
                                    parse_label_map)
from raresound.errors import ConfigError, DataError

# The ICASSP 2019 paper's classes: dog bark, baby cry, gunshot.
DEFAULT_LABEL_MAP = {"/m/05tny_": "dog", "/t/dd00002": "baby", "/m/032s66": "gunshot"}


def _name_variants(ytid: str, start: str, end: str) -> list[str]:
    out = [ytid, f"{ytid}_{start}", f"{ytid}_{start}_{end}"]
    try:
        s, e = float(start), float(end)
        for fmt in ("{:d}", "{:.1f}", "{:.3f}"):
            a = fmt.format(int(s)) if fmt == "{:d}" else fmt.format(s)
            b = fmt.format(int(e)) if fmt == "{:d}" else fmt.format(e)
            out += [f"{ytid}_{a}", f"{ytid}_{a}_{b}"]
    except ValueError:
        pass
    return out


def read_segments(csv_path: Path) -> list[tuple[int, str, str, str, list[str]]]:
    """(line, ytid, start, end, labels) rows of an AudioSet segments CSV."""
    try:
        lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DataError(f"{csv_path}: segments CSV not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_path}: cannot read ({exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = next(csv.reader(io.StringIO(line), skipinitialspace=True))
        if len(cells) != 4:
            raise DataError(f"{csv_path}:{number}: expected 4 fields (YTID, start_seconds, end_seconds, "
                            f"positive_labels), got {len(cells)}")
        ytid, start, end, labels = (c.strip() for c in cells)
        try:
            if not ytid or float(end) <= float(start):
                raise ValueError
        except ValueError:
            raise DataError(f"{csv_path}:{number}: bad YTID or start/end ({start!r}, {end!r})") from None
        rows.append((number, ytid, start, end, [s.strip() for s in labels.split(",") if s.strip()]))
    return rows


def import_audioset(root: str | Path, *, segments: str | Path | None = None,
                    label_map: Mapping[str, str] | str | None = None, other: str = "background",
                    fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> ImportResult:
    """root: folder of downloaded clips; segments: the CSV (default: the only *segments*.csv in root)."""
    root = Path(os.path.abspath(root))  # absolute, normalised: manifests and reports name real files
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    if segments is None:
        found = sorted(root.glob("*segments*.csv"))
        if len(found) != 1:
            raise ConfigError("segments", f"give the segments CSV ({len(found)} *segments*.csv files in {root})")
        segments = found[0]
    if other not in ("background", "exclude"):
        raise ConfigError("other", f"{other!r} is not one of background, exclude")
    labels_of = parse_label_map(label_map, DEFAULT_LABEL_MAP)
    files = {p.stem: p for p in sorted(root.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()}
    entries, skipped, metadata = [], [], {}
    for _, ytid, start, end, ids in read_segments(Path(segments)):
        labels = tuple(sorted({labels_of[i] for i in ids if i in labels_of}))
        if not labels and other == "exclude":
            continue
        path = next((files[n] for n in _name_variants(ytid, start, end) if n in files), None)
        if path is None:
            skipped.append((f"{ytid}_{start}", "clip not downloaded (no matching file)"))
            continue
        entries.append(Entry(str(path), labels, f"audioset-{ytid}"))
        metadata[str(path)] = {"ytid": ytid, "start_seconds": start, "end_seconds": end,
                               "positive_labels": ",".join(ids)}
    return finish(entries, skipped, fractions, seed, metadata=metadata)
