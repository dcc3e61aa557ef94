"""Event-based metrics as in DCASE 2017 Task 2 (rare sound event detection), following the
sed_eval event-based definitions (Mesaros, Heittola & Virtanen, "Metrics for polyphonic sound event
detection", 2016) in their onset-only form, plus reading/writing DCASE event-list files.

Definitions, evaluated file by file and summed over files:

* An estimated event *hits* a reference event when both are in the same file, carry the same label
  and their onsets differ by at most the collar (|onset_est - onset_ref| <= t_collar; offsets are
  ignored). DCASE 2017 Task 2 used a 500 ms onset collar.
* True positives (Ntp) = size of a maximum one-to-one matching of hits (sed_eval's "optimal"
  event matching): each reference and each estimate is used at most once, so a double detection
  of one reference event yields one TP and one insertion.
* Substitutions (S), overall only: among the still-unmatched references and estimates of a file,
  taken in onset order, each unmatched reference takes the first not-yet-counted unmatched estimate
  whose onset is within the collar, whatever its label (sed_eval's greedy pass; a pair with equal
  labels cannot remain here because the matching is maximum, so these are wrong-label detections).
* Overall: D = Nref - Ntp - S, I = Nsys - Ntp - S, ER = (S + D + I) / Nref,
  precision = Ntp / Nsys, recall = Ntp / Nref, F1 = 2 Ntp / (Nref + Nsys).
* Class-wise (only events of that label on both sides, no substitutions): D = Nref - Ntp,
  I = Nsys - Ntp, ER = (D + I) / Nref, F1 as above. Class-wise averages are the unweighted means
  over classes with a defined value.

Deviations from sed_eval, both deliberate: undefined ratios (Nref = 0 for ER and recall, Nsys = 0
for precision, Nref + Nsys = 0 for F1) are NaN instead of being divided by eps; and the collar test
allows 1e-9 s of slack so onsets written as decimal text (e.g. 2.7 vs 2.2 with a 0.5 s collar) are
compared as the decimals they denote, not their binary roundings.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from raresound.errors import DataError
from raresound.io import write_text

COLLAR_SLACK_S = 1e-9
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
    holding only a filename lists a file without events (DCASE's way); any other line has exactly
    4 fields, filename, onset, offset, event_label, with finite numbers 0 <= onset <= offset.
    Errors are DataErrors naming path:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot read event list ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text, so not an event list") from None
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
            rows.append((where, fields[0], None, None, None))
            continue
        if len(fields) != 4:
            raise DataError(f"{where}: expected 4 fields (filename, onset, offset, event_label), got {len(fields)}")
        filename, onset_s, offset_s, label = fields
        try:
            onset, offset = float(onset_s), float(offset_s)
        except ValueError:
            raise DataError(f"{where}: onset/offset must be numbers, got {onset_s!r}, {offset_s!r}") from None
        if not (math.isfinite(onset) and math.isfinite(offset)) or onset < 0:
            raise DataError(f"{where}: need finite 0 <= onset <= offset, got {onset}, {offset}")
        if offset < onset:
            raise DataError(f"{where}: offset {offset} is not after onset {onset} (need onset <= offset)")
        rows.append((where, filename, onset, offset, label))
    return rows


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
# Matching


def _onset_ok(ref: Event, est: Event, t_collar: float) -> bool:
    return abs(ref.onset - est.onset) <= t_collar + COLLAR_SLACK_S


def _maximum_matching(n_ref: int, n_est: int, edges: dict[int, list[int]]) -> dict[int, int]:
    """Maximum bipartite matching {ref index: est index} by augmenting paths (Kuhn's algorithm,
    searched iteratively so long files cannot exhaust the recursion limit)."""
    est_to_ref: dict[int, int] = {}
    for root in range(n_ref):
        # Depth-first search for an augmenting path from `root`; parent links rebuild it.
        parent: dict[int, tuple[int, int] | None] = {root: None}  # ref -> (previous ref, est)
        seen_est: set[int] = set()
        stack = [root]
        free_est = None
        end_ref = None
        while stack and free_est is None:
            r = stack.pop()
            for e in edges.get(r, ()):
                if e in seen_est:
                    continue
                seen_est.add(e)
                if e not in est_to_ref:
                    free_est, end_ref = e, r
                    break
                nxt = est_to_ref[e]
                if nxt not in parent:
                    parent[nxt] = (r, e)
                    stack.append(nxt)
        if free_est is None:
            continue
        # Flip the path: end_ref takes free_est, each earlier ref takes the est that led onward.
        r, e = end_ref, free_est
        while True:
            est_to_ref[e] = r
            link = parent[r]
            if link is None:
                break
            r, e = link
    return {r: e for e, r in est_to_ref.items()}


def _zero_counts() -> dict:
    return {"Nref": 0, "Nsys": 0, "Ntp": 0}


def _rate(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def event_based_metrics(
    reference: Iterable,
    estimated: Iterable,
    t_collar: float = 0.5,
    classes: Sequence[str] | None = None,
) -> dict:
    """Onset-only event-based error rate and F1 (see the module docstring for the definitions).

    `reference` and `estimated` are iterables of Event (or 4-tuples / dicts with the same fields).
    `classes` (default: every label seen on either side, sorted) selects the class-wise entries;
    overall counts always use all events. Returns ``{"t_collar", "classes", "overall": {Nref, Nsys,
    Ntp, S, D, I, error_rate, substitution_rate, deletion_rate, insertion_rate, precision, recall,
    f_measure}, "class_wise": {label: {Nref, Nsys, Ntp, D, I, error_rate, deletion_rate,
    insertion_rate, precision, recall, f_measure}}, "class_wise_average": {error_rate,
    f_measure}}``."""
    if not (t_collar >= 0 and math.isfinite(t_collar)):
        raise DataError(f"t_collar must be a finite number >= 0, got {t_collar}")
    ref = [_as_event(e) for e in reference]
    est = [_as_event(e) for e in estimated]
    if classes is None:
        classes = sorted({e.event_label for e in ref} | {e.event_label for e in est})
    classes = list(classes)

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
            j: [i for i, s in enumerate(s_ev) if s.event_label == r.event_label and _onset_ok(r, s, t_collar)]
            for j, r in enumerate(r_ev)
        }
        matching = _maximum_matching(len(r_ev), len(s_ev), edges)
        n_tp += len(matching)
        for j in matching:
            per_label[r_ev[j].event_label]["Ntp"] += 1
        # Labels differ on every remaining onset-compatible pair (the matching is maximum).
        est_matched = set(matching.values())
        est_left = [i for i in range(len(s_ev)) if i not in est_matched]
        counted: set[int] = set()
        for j in (j for j in range(len(r_ev)) if j not in matching):
            for i in est_left:
                if i not in counted and _onset_ok(r_ev[j], s_ev[i], t_collar):
                    counted.add(i)
                    n_subs += 1
                    break

    n_ref, n_sys = len(ref), len(est)
    deletions = n_ref - n_tp - n_subs
    insertions = n_sys - n_tp - n_subs
    overall = {
        "Nref": n_ref,
        "Nsys": n_sys,
        "Ntp": n_tp,
        "S": n_subs,
        "D": deletions,
        "I": insertions,
        "substitution_rate": _rate(n_subs, n_ref),
        "deletion_rate": _rate(deletions, n_ref),
        "insertion_rate": _rate(insertions, n_ref),
        "error_rate": _rate(n_subs + deletions + insertions, n_ref),
        "precision": _rate(n_tp, n_sys),
        "recall": _rate(n_tp, n_ref),
        "f_measure": _rate(2 * n_tp, n_ref + n_sys),
    }

    class_wise = {}
    for label in classes:
        c = per_label.get(label, _zero_counts())
        d, i = c["Nref"] - c["Ntp"], c["Nsys"] - c["Ntp"]
        class_wise[label] = {
            "Nref": c["Nref"],
            "Nsys": c["Nsys"],
            "Ntp": c["Ntp"],
            "D": d,
            "I": i,
            "deletion_rate": _rate(d, c["Nref"]),
            "insertion_rate": _rate(i, c["Nref"]),
            "error_rate": _rate(d + i, c["Nref"]),
            "precision": _rate(c["Ntp"], c["Nsys"]),
            "recall": _rate(c["Ntp"], c["Nref"]),
            "f_measure": _rate(2 * c["Ntp"], c["Nref"] + c["Nsys"]),
        }

    def _mean_defined(key: str) -> float:
        values = [m[key] for m in class_wise.values() if not math.isnan(m[key])]
        return sum(values) / len(values) if values else float("nan")

    return {
        "t_collar": float(t_collar),
        "classes": classes,
        "overall": overall,
        "class_wise": class_wise,
        "class_wise_average": {"error_rate": _mean_defined("error_rate"), "f_measure": _mean_defined("f_measure")},
    }
