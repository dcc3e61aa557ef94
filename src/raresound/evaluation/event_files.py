"""What an `evaluate-events` input is, before it is read as one.

A file given as an event list may be something else that the project writes: detect's JSON report,
`detect --stream` JSON lines, a per-window scores CSV (`detect --scores`), saved scores (.npy), a
frame-level score file or a directory of them (they go with `--scores`), a manifest, or any binary
file. Read as a DCASE list, most of those parse to *no events* (their lines
hold no tab, or end in a comma), and the metrics then report ER 1.000 / F1 0 % as if the detector had
found nothing. So each input is recognised first:

* an event list (tab/comma separated filename, onset, offset, event_label) is read as such;
* detect's JSON report holds events per file: accepted as the *estimate* (it is detect's output,
  like `detect --out`), rejected as the reference (a reference is annotated, not detected);
* anything else is rejected with one line naming the file and what it looks like.

A reference whose events of one class overlap in one file is refused (`events.check_no_overlap`),
and so is a reference that lists no file at all (empty): every score against it would be undefined.
A reference listing files without events is fine (nothing to detect there).
"""

from __future__ import annotations

import json
from pathlib import Path

from raresound.errors import DataError
from raresound.evaluation.events import Event, check_no_overlap, read_event_rows

_EXPECTED = "an event list (filename, onset, offset, event_label per line)"


def _looks_binary(head: bytes) -> str | None:
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy array (.npy, e.g. saved scores)"
    if b"\x00" in head:
        return "a binary file"
    return None  # later undecodable bytes are caught by read_event_rows


def _json_kind(text: str):
    """(events or None, description) of JSON text, or None when it is not JSON."""
    try:
        docs = [json.loads(text)]
    except ValueError:
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return None
    if all(isinstance(d, dict) and "event_label" in d and "filename" not in d for d in docs):
        return None, "`detect --stream` output (JSON lines without file names; use `detect --out` for an event list)"
    doc = docs[0] if len(docs) == 1 else None
    if isinstance(doc, dict) and isinstance(doc.get("files"), list) and all(
            isinstance(f, dict) and "filename" in f and isinstance(f.get("events"), list) for f in doc["files"]):
        try:
            events = [Event(str(f["filename"]), float(e["onset"]), float(e["offset"]), str(e["event_label"]))
                      for f in doc["files"] for e in f["events"]]
        except (KeyError, TypeError, ValueError) as exc:
            return None, f"detect's JSON output with a malformed event ({exc!r})"
        return events, "detect's JSON output (detected events)"
    return None, "JSON, but not detect's JSON output"


def _csv_kind(text: str) -> str | None:
    first = next((line for line in text.splitlines() if line.strip()), "")
    header = [f.strip().lower() for f in first.replace("\t", ",").split(",")]
    if header[:4] == ["filename", "window", "start", "end"]:
        return "per-window scores (from `detect --scores`), not events; use `detect --out` or `--json`"
    if {"path", "labels", "split"} <= set(header):
        return "a manifest (path, labels, split, ...), not events"
    if header[:2] == ["onset", "offset"]:
        return "frame-level scores (a score file; give their directory with --scores), not events"
    return None


def read_events(path: str | Path, role: str) -> list[Event]:
    """The events of an `evaluate-events` input; `role` is "reference" or "estimate" (module docstring)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: a directory (of score files? give it with --scores), not {_EXPECTED}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise DataError(f"{path}: cannot read event list ({exc.strerror or exc})") from None
    what = _looks_binary(head)
    if what is not None:
        raise DataError(f"{path}: {what}, not {_EXPECTED}")
    text = path.read_text(encoding="utf-8", errors="replace")  # to sniff; read_event_rows decodes strictly
    if text.lstrip().startswith(("{", "[")):
        kind = _json_kind(text)
        if kind is not None:
            events, what = kind
            if events is not None and role == "estimate":
                return events
            if events is not None:
                raise DataError(f"{path}: {what}; the reference must be annotated events, {_EXPECTED}")
            raise DataError(f"{path}: {what}, not {_EXPECTED}")
    what = _csv_kind(text)
    if what is not None:
        raise DataError(f"{path}: {what}; expected {_EXPECTED}")
    rows = read_event_rows(path)
    if role == "reference":
        if not rows:
            raise DataError(f"{path}: the reference lists no files (empty, or only headers/comments); "
                            f"expected {_EXPECTED}")
        check_no_overlap(rows)
    return [Event(name, onset, offset, label) for _, name, onset, offset, label in rows if label is not None]
