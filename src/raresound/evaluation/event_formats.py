"""Event files in the formats annotators use, beside the DCASE event list (`evaluation.events`):

* **Audacity label track** (File > Import > Labels): one file per audio file, a line per event
  `onset<TAB>offset<TAB>label` (seconds); Audacity's spectral-selection lines (starting with `\\`)
  are skipped on reading.
* **Raven selection table** (Raven Pro, File > Open Selection Table): one file per audio file, a
  tab-separated header `Selection  View  Channel  Begin Time (s)  End Time (s)  Low Freq (Hz)
  High Freq (Hz)  Annotation` and a row per event (View "Spectrogram 1", Channel 1; the detector does
  not localise in frequency, so each box spans the model's band, `freq_range`). On reading, the label
  comes from the `Annotation` column (or `label_column`), and a selection listed once per view
  (waveform and spectrogram rows of the same Selection number) is read once.

Readers take the audio file's name (`filename`) since neither format holds it, and return
`evaluation.events.Event`s, so every format goes through the same metrics. All writes are atomic
(`raresound.io`); malformed input is a one-line DataError naming path:line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from raresound.errors import DataError
from raresound.evaluation.events import Event, write_event_list
from raresound.io import read_text_input, write_text

FORMATS = ("dcase", "audacity", "raven")
# Suffixes of the per-file outputs: Raven's own default name is "<sound>.Table.1.selections.txt".
SUFFIXES = {"audacity": ".txt", "raven": ".Table.1.selections.txt"}
RAVEN_COLUMNS = ("Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)",
                 "High Freq (Hz)", "Annotation")
RAVEN_VIEW = "Spectrogram 1"


def _label(e, path) -> str:
    label = str(e.event_label)
    if "\t" in label or "\n" in label:
        raise DataError(f"{path}: event label {label!r} contains a tab or newline")
    return label


def write_audacity_labels(events: Iterable, path: str | Path) -> Path:
    """Events of one audio file (anything with onset, offset, event_label) as an Audacity label track."""
    lines = [f"{float(e.onset)!r}\t{float(e.offset)!r}\t{_label(e, path)}\n"
             for e in sorted(events, key=lambda e: (e.onset, e.offset))]
    write_text(path, "".join(lines))
    return Path(path)


def _times(where: str, onset_s: str, offset_s: str) -> tuple[float, float]:
    try:
        onset, offset = float(onset_s), float(offset_s)
    except ValueError:
        raise DataError(f"{where}: times must be numbers, got {onset_s!r}, {offset_s!r}") from None
    if not (math.isfinite(onset) and math.isfinite(offset)) or not 0 <= onset <= offset:
        raise DataError(f"{where}: need finite 0 <= onset <= offset, got {onset}, {offset}")
    return onset, offset


def read_audacity_labels(path: str | Path, filename: str) -> list[Event]:
    """The events of an Audacity label track, attributed to the audio file `filename`."""
    text = read_text_input(path, "Audacity label track", encoding="utf-8-sig")
    events = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):  # blank, or a spectral selection's frequencies
            continue
        fields = line.split("\t")
        where = f"{path}:{lineno}"
        if len(fields) < 2:
            raise DataError(f"{where}: expected onset<TAB>offset<TAB>label, got {line!r}")
        onset, offset = _times(where, fields[0].strip(), fields[1].strip())
        events.append(Event(filename, onset, offset, "\t".join(fields[2:]).strip()))
    return events


def write_raven_table(events: Iterable, path: str | Path, freq_range: tuple[float, float] = (0.0, 8000.0)) -> Path:
    """Events of one audio file as a Raven selection table (header and one row per event, numbered
    from 1 in onset order); each box spans `freq_range` Hz."""
    low, high = (float(f) for f in freq_range)
    rows = ["\t".join(RAVEN_COLUMNS)]
    for k, e in enumerate(sorted(events, key=lambda e: (e.onset, e.offset)), start=1):
        rows.append("\t".join([str(k), RAVEN_VIEW, "1", repr(float(e.onset)), repr(float(e.offset)),
                               repr(low), repr(high), _label(e, path)]))
    write_text(path, "".join(r + "\n" for r in rows))
    return Path(path)


def read_raven_table(path: str | Path, filename: str, label_column: str = "Annotation") -> list[Event]:
    """The events of a Raven selection table, attributed to the audio file `filename`."""
    text = read_text_input(path, "Raven selection table", encoding="utf-8-sig")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise DataError(f"{path}: empty, not a Raven selection table (no header line)")
    header = [h.strip() for h in lines[0][1].split("\t")]
    need = ["Begin Time (s)", "End Time (s)", label_column]
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(f"{path}: not a Raven selection table: no column {', '.join(repr(c) for c in missing)} "
                        f"(header: {', '.join(header)})")
    col = {c: header.index(c) for c in header}
    events, seen = [], set()
    for lineno, line in lines[1:]:
        fields = line.split("\t")
        where = f"{path}:{lineno}"
        if len(fields) < len(header):
            fields += [""] * (len(header) - len(fields))
        selection = fields[col["Selection"]].strip() if "Selection" in col else None
        if selection is not None and selection in seen:  # the same selection in another view
            continue
        seen.add(selection)
        onset, offset = _times(where, fields[col["Begin Time (s)"]].strip(), fields[col["End Time (s)"]].strip())
        events.append(Event(filename, onset, offset, fields[col[label_column]].strip()))
    return events


def per_file_names(filenames: Sequence[str], suffix: str) -> dict[str, str]:
    """{audio filename: output file name}: the audio file's stem + suffix (`x.wav` -> `x.txt`); where
    stems collide, the whole name (`x.wav.txt`); a name holding directories (detect --full-paths)
    has its separators replaced by `__`."""
    def flat(name: str) -> str:
        return name.strip("/").replace("/", "__").replace("\\", "__")

    stems = {f: flat(str(Path(f).with_suffix(""))) if "/" in f else Path(f).stem for f in filenames}
    counts: dict[str, int] = {}
    for s in stems.values():
        counts[s] = counts.get(s, 0) + 1
    out = {f: (stems[f] if counts[stems[f]] == 1 else flat(f)) + suffix for f in filenames}
    if len(set(out.values())) != len(out):
        raise DataError(f"audio files {sorted(filenames)} do not map to distinct {suffix} names")
    return out


def write_per_file(fmt: str, events_by_file: Mapping[str, Sequence], directory: str | Path,
                   freq_range: tuple[float, float] = (0.0, 8000.0)) -> dict[str, Path]:
    """One `fmt` ("audacity" or "raven") file per audio file in `directory` (an empty track or a table
    with only its header for a file without events); returns {audio filename: written path}."""
    if fmt not in SUFFIXES:
        raise DataError(f"per-file event format must be one of {', '.join(SUFFIXES)}, got {fmt!r}")
    names = per_file_names(list(events_by_file), SUFFIXES[fmt])
    written = {}
    for filename, events in events_by_file.items():
        path = Path(directory) / names[filename]
        if fmt == "audacity":
            write_audacity_labels(events, path)
        else:
            write_raven_table(events, path, freq_range)
        written[filename] = path
    return written


def write_events_as(fmt: str, events_by_file: Mapping[str, Sequence], out: str | Path,
                    freq_range: tuple[float, float] = (0.0, 8000.0)) -> list[Path]:
    """Write events in `fmt` to `out`: for "dcase" one event list (all files, `out` a file or `-`); for
    "audacity"/"raven" one file per audio file, into the directory `out` when several audio files are
    given or `out` is an existing directory (or ends in `/`), else into the file `out`."""
    if fmt not in FORMATS:
        raise DataError(f"unknown event format {fmt!r} (use one of {', '.join(FORMATS)})")
    if fmt == "dcase":
        events = [Event(name, e.onset, e.offset, e.event_label) for name, evs in events_by_file.items() for e in evs]
        return [write_event_list(events, out)]
    out_s = str(out)
    if len(events_by_file) != 1 or Path(out).is_dir() or out_s.endswith("/"):
        if Path(out).exists() and not Path(out).is_dir():
            raise DataError(f"{out}: is a file; {fmt} output of several audio files needs a directory")
        return list(write_per_file(fmt, events_by_file, out, freq_range).values())
    (events,) = events_by_file.values()
    return [write_audacity_labels(events, out) if fmt == "audacity" else write_raven_table(events, out, freq_range)]


def sniff_format(path: str | Path) -> str:
    """"raven" (a header starting with `Selection`), "audacity" (first line: two numbers then a label)
    or "dcase"."""
    text = read_text_input(path, "event file", encoding="utf-8-sig")
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    fields = first.split("\t")
    if fields[0].strip() == "Selection":
        return "raven"
    if len(fields) == 3:
        try:
            float(fields[0]), float(fields[1])
            return "audacity"
        except ValueError:
            pass
    return "dcase"


def read_events_for(path: str | Path, filename: str) -> list[Event]:
    """The events of the audio file `filename` in an event file of any of FORMATS (`sniff_format`).
    A DCASE list is matched by filename or basename and must list the file (with or without events):
    a list that does not is a DataError naming both, since it is the reference of other audio."""
    fmt = sniff_format(path)
    if fmt == "raven":
        return read_raven_table(path, filename)
    if fmt == "audacity":
        return read_audacity_labels(path, filename)
    from raresound.evaluation.events import read_event_rows

    rows = read_event_rows(path)
    listed = {name for _, name, *_ in rows}
    base = Path(filename).name
    names = {n for n in listed if n == filename or Path(n).name == base}
    if not names:
        shown = ", ".join(sorted(listed)[:3]) + (", ..." if len(listed) > 3 else "")
        raise DataError(f"{path}: lists no events for {base} (it lists {shown or 'no file'})")
    return [Event(filename, on, off, label) for _, name, on, off, label in rows if name in names and label is not None]
