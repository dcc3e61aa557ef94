"""Event-based metrics as in DCASE (2017 Task 2 used the onset-only form, later tasks onset and
offset), following sed_eval's `EventBasedMetrics` (Mesaros, Heittola & Virtanen, "Metrics for
polyphonic sound event detection", 2016), plus reading/writing DCASE event-list files.

Definitions, evaluated file by file and summed over files:

* An estimated event is *close* to a reference event of the same file when their onsets differ
  by at most the collar (|onset_est - onset_ref| <= t_collar), and, with `evaluate_offset`, also
  their offsets differ by at most max(t_collar, percentage_of_length * reference length).
  DCASE 2017 Task 2 used onsets only with a 500 ms collar; DCASE 2016-2023 SED tasks used
  onsets and offsets with t_collar 200 ms and percentage_of_length 0.2.
* An estimate *hits* a reference when they are close and carry the same label. True positives
  (Ntp) = size of a maximum one-to-one matching of hits (sed_eval's "optimal" event matching):
  each reference and each estimate is used at most once, so a double detection of one reference
  event yields one TP and one insertion.
* Substitutions (S), overall only: among the still-unmatched references and estimates of a file,
  taken in onset order, each unmatched reference takes the first not-yet-counted unmatched estimate
  close to it, whatever its label (sed_eval's greedy pass; a close pair with equal labels cannot
  remain here because the matching is maximum, so these are wrong-label detections).
* Overall: D = Nref - Ntp - S, I = Nsys - Ntp - S; rates, class-wise metrics and averages as in
  `counts` (class-wise: no substitutions).

Deviations from sed_eval, all deliberate: undefined ratios are NaN and F1 = 2 Ntp / (Nref + Nsys)
(`counts`); the collar tests allow 1e-9 s of slack so times written as decimal text (e.g. 2.7 vs
2.2 with a 0.5 s collar) are compared as the decimals they denote, not their binary roundings; a
zero collar is allowed; and events are taken in onset order rather than in the order the list
gives them, so the substitution count (which depends on which events the matching leaves
unmatched and on the order of the greedy pass) does not change when the lines of a file are
reordered. With events listed in onset order and times away from a collar's edge, counts equal
sed_eval's (`tests/test_sed_eval_parity.py`).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from raresound.errors import DataError
from raresound.evaluation.counts import class_average, class_metrics, overall_metrics
from raresound.evaluation.event_matching import maximum_matching
from raresound.io import read_text_input, write_text

COLLAR_SLACK_S = 1e-9
# Event times beyond this are no recording's (about 31 years): refused when read, so that sizes
# computed from them (segment grids, PSDS) stay bounded.
MAX_EVENT_SECONDS = 1e9
HEADER = ("filename", "onset", "offset", "event_label")


class Event(NamedTuple):
    filename: str
    onset: float
    offset: float
    event_label: str


def _as_event(e) -> Event:
    if isinstance(e, Event):
        return e
    if isinstance(e, dict):
        return Event(str(e["filename"]), float(e["onset"]), float(e["offset"]), str(e["event_label"]))
    filename, onset, offset, label = e
    return Event(str(filename), float(onset), float(offset), str(label))


# ---------------------------------------------------------------------------------------------
# Event-list files


def read_event_rows(path: str | Path) -> list[tuple[str, str, float | None, float | None, str | None]]:
    """The one DCASE event-list reader (evaluation here, the DCASE 2017 importer in
    `data.sources.dcase2017`): (where, filename, onset, offset, label) per listed line, where
    `where` is "path:line" and a file listed without events gives (where, filename, None, None, None).

    Rules: UTF-8 text (a byte-order mark is ignored); blank lines and lines starting with `#` are
    skipped; fields are separated by tabs when the line holds one, else by commas (CSV quoting
    allowed), stripped, and trailing empty fields dropped (a line left with none is skipped); a
    line whose first field is `filename` or `mixture_filename` is a header and skipped; a line
    holding only a filename lists a file without events (DCASE's way), unless its space-separated
    words hold two numbers in a row (`a.wav 1.0 2.0 dog`: fields separated by spaces, refused rather
    than read as a file without events); any other line has exactly 4 fields, filename, onset,
    offset, event_label, with finite numbers 0 <= onset <= offset <= MAX_EVENT_SECONDS.
    Errors are DataErrors naming path:line."""
    path = Path(path)
    text = read_text_input(path, "event list", encoding="utf-8-sig")
    rows: list[tuple[str, str, float | None, float | None, str | None]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{lineno}"
        delimiter = "\t" if "\t" in line else ","
        fields = [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]
        while fields and fields[-1] == "":
            fields.pop()
        if not fields or fields[0].lower() in ("filename", "mixture_filename"):
            continue
        if len(fields) == 1:
            words = fields[0].split()
            if any(_is_number(a) and _is_number(b) for a, b in zip(words[1:], words[2:])):
                raise DataError(f"{where}: fields separated by spaces ({_clip(fields[0])!r}); separate filename, "
                                "onset, offset and event_label by tabs (or commas)")
            rows.append((where, fields[0], None, None, None))
            continue
        if len(fields) != 4:
            unlabelled = len(fields) == 3 and all(_is_number(f) for f in fields[1:])
            raise DataError(f"{where}: expected 4 fields (filename, onset, offset, event_label), got {len(fields)}"
                            + (": an event with onset and offset needs its class label (a file without events is "
                               "listed by its name alone)" if unlabelled else ""))
        filename, onset_s, offset_s, label = fields
        try:
            onset, offset = float(onset_s), float(offset_s)
        except ValueError:
            raise DataError(f"{where}: onset/offset must be numbers, got {onset_s!r}, {offset_s!r}") from None
        if not (math.isfinite(onset) and math.isfinite(offset)) or onset < 0:
            raise DataError(f"{where}: need finite 0 <= onset <= offset, got {onset}, {offset}")
        if offset < onset:
            raise DataError(f"{where}: offset {offset} is not after onset {onset} (need onset <= offset)")
        if offset > MAX_EVENT_SECONDS:
            raise DataError(f"{where}: event time {offset:g} s is beyond any recording (limit {MAX_EVENT_SECONDS:.0e} s)")
        rows.append((where, filename, onset, offset, label))
    return rows


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_no_overlap(rows: Iterable[tuple[str, str, float | None, float | None, str | None]]) -> None:
    """Refuse two events of one class that overlap in one file (rows as from `read_event_rows`).

    Used on references: DCASE references never overlap within a class, and the event metrics'
    one-to-one matching would count one detection of such a pair as a hit and a deletion. They are
    refused rather than merged, because which of the annotations is right is the annotator's call;
    events that only touch (offset == next onset) are allowed."""
    by_key: dict[tuple[str, str], list[tuple[float, float, str]]] = defaultdict(list)
    for where, name, onset, offset, label in rows:
        if label is not None:
            by_key[(name, label)].append((onset, offset, where))
    for (name, label), events in by_key.items():
        events.sort(key=lambda e: (e[0], e[1]))
        # Sorted by onset, an event overlapping any earlier one overlaps the one ending latest.
        latest = events[0]
        for event in events[1:]:
            if event[0] < latest[1]:
                raise DataError(f"{event[2]}: {label} event {event[0]:g}-{event[1]:g} s overlaps the one at {latest[2]} "
                                f"({latest[0]:g}-{latest[1]:g} s) in {name}; reference events of one class must "
                                "not overlap (merge them)")
            if event[1] > latest[1]:
                latest = event


def read_event_list(path: str | Path) -> list[Event]:
    """The events of a DCASE event list, one per line `filename<TAB>onset<TAB>offset<TAB>event_label`
    (rules: `read_event_rows`; files listed without events give none)."""
    return [Event(name, onset, offset, label) for _, name, onset, offset, label in read_event_rows(path)
            if label is not None]


def write_event_list(events: Iterable, path: str | Path, header: bool = False) -> Path:
    """Write events as a tab-separated DCASE event list (atomically). Times are written with
    `repr`, so reading the file back gives the same floats."""
    lines = ["\t".join(HEADER)] if header else []
    for e in map(_as_event, events):
        for field in (e.filename, e.event_label):
            if "\t" in field or "\n" in field:
                raise DataError(f"{path}: event field {field!r} contains a tab or newline")
        lines.append(f"{e.filename}\t{float(e.onset)!r}\t{float(e.offset)!r}\t{e.event_label}")
    write_text(path, "".join(line + "\n" for line in lines))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Event-based metrics


def _onset_ok(ref: Event, est: Event, t_collar: float) -> bool:
    return abs(ref.onset - est.onset) <= t_collar + COLLAR_SLACK_S


def _offset_ok(ref: Event, est: Event, t_collar: float, percentage_of_length: float) -> bool:
    # sed_eval's offset collar grows with the reference event: long events need not end to the 0.2 s.
    collar = max(t_collar, percentage_of_length * (ref.offset - ref.onset))
    return abs(ref.offset - est.offset) <= collar + COLLAR_SLACK_S


def events_and_classes(reference: Iterable, estimated: Iterable, classes: Sequence[str] | None):
    """(reference Events, estimated Events, classes): classes default to every label seen, sorted."""
    ref = [_as_event(e) for e in reference]
    est = [_as_event(e) for e in estimated]
    if classes is None:
        classes = sorted({e.event_label for e in ref} | {e.event_label for e in est})
    return ref, est, list(classes)


def _zero_counts() -> dict:
    return {"Nref": 0, "Nsys": 0, "Ntp": 0}


def event_based_metrics(
    reference: Iterable,
    estimated: Iterable,
    t_collar: float = 0.5,
    classes: Sequence[str] | None = None,
    evaluate_offset: bool = False,
    percentage_of_length: float = 0.5,
) -> dict:
    """Event-based error rate and F1 (see the module docstring for the definitions): onset-only by
    default, onset and offset with `evaluate_offset` (DCASE's usual setting is t_collar=0.2,
    percentage_of_length=0.2).

    `reference` and `estimated` are iterables of Event (or 4-tuples / dicts with the same fields).
    `classes` (default: every label seen on either side, sorted) selects the class-wise entries;
    overall counts always use all events. Returns ``{"t_collar", "evaluate_offset",
    "percentage_of_length", "classes", "overall": {Nref, Nsys, Ntp, S, D, I, error_rate,
    substitution_rate, deletion_rate, insertion_rate, precision, recall, f_measure}, "class_wise":
    {label: {Nref, Nsys, Ntp, D, I, error_rate, deletion_rate, insertion_rate, precision, recall,
    f_measure}}, "class_wise_average": {error_rate, f_measure}}``."""
    if not (t_collar >= 0 and math.isfinite(t_collar)):
        raise DataError(f"t_collar must be a finite number >= 0, got {t_collar}")
    if not 0 <= percentage_of_length <= 1:
        raise DataError(f"percentage_of_length must be in [0, 1], got {percentage_of_length}")
    ref, est, classes = events_and_classes(reference, estimated, classes)

    def close(r: Event, s: Event) -> bool:
        return _onset_ok(r, s, t_collar) and (
            not evaluate_offset or _offset_ok(r, s, t_collar, percentage_of_length))

    by_file_ref: dict[str, list[Event]] = defaultdict(list)
    by_file_est: dict[str, list[Event]] = defaultdict(list)
    for e in ref:
        by_file_ref[e.filename].append(e)
    for e in est:
        by_file_est[e.filename].append(e)

    n_tp = n_subs = 0
    per_label: dict[str, dict] = defaultdict(_zero_counts)
    for e in ref:
        per_label[e.event_label]["Nref"] += 1
    for e in est:
        per_label[e.event_label]["Nsys"] += 1

    for filename in sorted(set(by_file_ref) | set(by_file_est)):
        # Onset order makes the greedy substitution pass independent of input order.
        r_ev = sorted(by_file_ref.get(filename, []), key=lambda e: (e.onset, e.offset, e.event_label))
        s_ev = sorted(by_file_est.get(filename, []), key=lambda e: (e.onset, e.offset, e.event_label))
        edges = {
            j: [i for i, s in enumerate(s_ev) if s.event_label == r.event_label and close(r, s)]
            for j, r in enumerate(r_ev)
        }
        matching = maximum_matching(len(r_ev), len(s_ev), edges)
        n_tp += len(matching)
        for j in matching:
            per_label[r_ev[j].event_label]["Ntp"] += 1
        # Labels differ on every remaining close pair (the matching is maximum).
        est_matched = set(matching.values())
        est_left = [i for i in range(len(s_ev)) if i not in est_matched]
        counted: set[int] = set()
        for j in (j for j in range(len(r_ev)) if j not in matching):
            for i in est_left:
                if i not in counted and close(r_ev[j], s_ev[i]):
                    counted.add(i)
                    n_subs += 1
                    break

    n_ref, n_sys = len(ref), len(est)
    class_wise = {}
    for label in classes:
        c = per_label.get(label, _zero_counts())
        class_wise[label] = class_metrics(c["Nref"], c["Nsys"], c["Ntp"])
    return {
        "t_collar": float(t_collar),
        "evaluate_offset": bool(evaluate_offset),
        "percentage_of_length": float(percentage_of_length),
        "classes": classes,
        "overall": overall_metrics(n_ref, n_sys, n_tp, n_subs, n_ref - n_tp - n_subs, n_sys - n_tp - n_subs),
        "class_wise": class_wise,
        "class_wise_average": class_average(class_wise),
    }

