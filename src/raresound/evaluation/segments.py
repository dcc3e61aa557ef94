"""Segment-based metrics as in sed_eval's `SegmentBasedMetrics` (Mesaros, Heittola & Virtanen,
"Metrics for polyphonic sound event detection", 2016): events become activity rolls on a grid of
fixed segments, and each segment is scored class by class.

Definitions, file by file, summed over files:

* A file of length T has ceil(T / time_resolution) segments. T is the file's duration when given,
  else the latest offset among its reference and estimated events (sed_eval's default); events
  past T are cut off.
* An event from onset to offset makes its class active in segments floor(onset / resolution)
  up to (not including) ceil(offset / resolution).
* In each segment: Ntp = classes active in both rolls, Nref / Nsys = classes active in the
  reference / estimate, S = min(Nref, Nsys) - Ntp (= min(FN, FP)), D = max(0, Nref - Nsys),
  I = max(0, Nsys - Nref). Overall metrics sum these over segments and files.
* Class-wise: Ntp, Nref and Nsys of the class's column; D = FN, I = FP (no substitutions).
* Rates, F1 and class averages as in `counts` (and its deviations from sed_eval: undefined
  ratios are NaN, F1 = 2 Ntp / (Nref + Nsys)).

Only the `classes` columns are scored: events of other labels are left out of every count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np

from raresound.errors import DataError
from raresound.evaluation.counts import class_average, class_metrics, overall_metrics
from raresound.evaluation.events import Event, events_and_classes

# Segments per file: 10^7 one-second segments are 116 days of audio; a finer grid on a long file (a
# typo such as 1e-9 s) would allocate an activity roll without bound. Checked before allocating.
MAX_SEGMENTS = 10_000_000


def activity_roll(events: Iterable[Event], classes: Sequence[str], n_segments: int,
                  time_resolution: float) -> np.ndarray:
    """(n_segments, len(classes)) bool: which classes are active in which segment."""
    column = {label: k for k, label in enumerate(classes)}
    roll = np.zeros((n_segments, len(classes)), dtype=bool)
    for e in events:
        if e.event_label in column:
            start = int(math.floor(e.onset / time_resolution))
            stop = int(math.ceil(e.offset / time_resolution))
            roll[start:stop, column[e.event_label]] = True
    return roll


def segment_based_metrics(
    reference: Iterable,
    estimated: Iterable,
    time_resolution: float = 1.0,
    classes: Sequence[str] | None = None,
    durations: Mapping[str, float] | None = None,
) -> dict:
    """Segment-based error rate and F1 (module docstring). `reference` / `estimated`: Events (or
    4-tuples / dicts); `classes` default to every label seen, sorted; `durations` ({filename:
    seconds}) fixes each file's length and adds files without events. Returns ``{"time_resolution",
    "classes", "evaluated_seconds", "overall": {Nref, Nsys, Ntp, S, D, I, *_rate, precision, recall,
    f_measure}, "class_wise": {label: {...}}, "class_wise_average": {error_rate, f_measure}}``."""
    if not (time_resolution > 0 and math.isfinite(time_resolution)):
        raise DataError(f"time_resolution must be a finite number > 0, got {time_resolution}")
    ref, est, classes = events_and_classes(reference, estimated, classes)
    by_file: dict[str, tuple[list[Event], list[Event]]] = defaultdict(lambda: ([], []))
    for e in ref:
        by_file[e.filename][0].append(e)
    for e in est:
        by_file[e.filename][1].append(e)
    for name, seconds in (durations or {}).items():
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise DataError(f"duration of {name!r} must be a finite number >= 0, got {seconds}")
        by_file.setdefault(name, ([], []))  # a file without events still has segments to get right
    lengths = {}
    for name, (r_ev, s_ev) in by_file.items():
        if durations is not None and name not in durations:
            raise DataError(f"no duration given for file {name!r}, which has events")
        length = float(durations[name]) if durations is not None else max([e.offset for e in r_ev + s_ev], default=0.0)
        n = math.ceil(length / time_resolution)
        if n > MAX_SEGMENTS:
            raise DataError(f"file {name!r}: {length:g} s in {time_resolution:g} s segments is {n:.3g} segments "
                            f"(limit {MAX_SEGMENTS:.0e}); use longer segments or check its duration and event times")
        lengths[name] = (length, n)
    counts = np.zeros(6, dtype=np.int64)  # Ntp, Nref, Nsys, S, D, I
    per_class = np.zeros((3, len(classes)), dtype=np.int64)  # Nref, Nsys, Ntp
    evaluated = 0.0
    for name, (r_ev, s_ev) in sorted(by_file.items()):
        length, n_segments = lengths[name]
        evaluated += length
        r_roll = activity_roll(r_ev, classes, n_segments, time_resolution)
        s_roll = activity_roll(s_ev, classes, n_segments, time_resolution)
        tp = (r_roll & s_roll).sum(axis=1)
        n_ref, n_sys = r_roll.sum(axis=1), s_roll.sum(axis=1)
        counts += [tp.sum(), n_ref.sum(), n_sys.sum(), (np.minimum(n_ref, n_sys) - tp).sum(),
                   np.maximum(0, n_ref - n_sys).sum(), np.maximum(0, n_sys - n_ref).sum()]
        per_class += [r_roll.sum(axis=0), s_roll.sum(axis=0), (r_roll & s_roll).sum(axis=0)]
    n_tp, n_ref, n_sys, subs, dels, ins = (int(c) for c in counts)
    class_wise = {label: class_metrics(*(int(c) for c in per_class[:, k])) for k, label in enumerate(classes)}
    return {
        "time_resolution": float(time_resolution),
        "classes": classes,
        "evaluated_seconds": evaluated,
        "overall": overall_metrics(n_ref, n_sys, n_tp, subs, dels, ins),
        "class_wise": class_wise,
        "class_wise_average": class_average(class_wise),
    }
