"""Post-processing: window scores -> decisions -> events, shared by offline detection and streaming.

A window is positive for class c when its score >= the class threshold (the bundle's calibrated
`thresholds`, or an override). Optional median filtering (odd size n) replaces each window's
decision by the majority of the n decisions centred on it (edges replicated); on 0/1 decisions this
equals median-filtering the scores and then thresholding.

Consecutive positive windows k = f..l (a run) make one event. Its extent is the set of times covered
by the largest number of windows of the run (interior of the file):

    onset  = min(t_l, t_f + T - H)        offset = max(t_f + T, t_l + H)      (H = hop seconds)

For a short run (t_l - t_f < T - H) that is the intersection of the run's windows [t_l, t_f + T);
for a long run it is the stretch where every window covering the time is positive,
[t_f + T - H, t_l + H). Why: if a window is positive exactly when it contains the whole event
[a, b) (a detector trained on clips that contain events), then t_l in (a - H, a] and
t_f + T in [b, b + H); if it is positive whenever it overlaps the event, t_f + T - H in (a - H, a]
and t_l + H in [b, b + H). In both limits the formula gives onset in (a - H, a] and offset in
[b, b + H): onsets and offsets within one hop of the truth. A detector that needs an overlap of
theta*L (L = event length) errs by at most min(theta, 1 - theta)*L + H. The event's score is the
highest window score of the run. Events of one class whose gap (next onset - previous offset) is
<= min_gap seconds are merged (overlapping ones always are). Offsets are clipped to the file length.
Events shorter than min_duration seconds (after merging and clipping) are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from raresound.bundle import Bundle
from raresound.detection.framing import WindowGrid
from raresound.errors import ConfigError, DataError

_TIME_SLACK = 1e-9
# Detected event times are rounded to the millisecond when emitted (window starts are multiples of
# the hop, so sums such as 21 * 0.04 would otherwise print as 0.8400000000000001 in every output:
# TSV, JSON, stream lines, Audacity and Raven files). Features have a 10 ms hop: nothing is lost.
TIME_DECIMALS = 3


@dataclass(frozen=True)
class DetectedEvent:
    onset: float
    offset: float
    event_label: str
    score: float

    def to_dict(self, filename: str | None = None) -> dict:
        d = {"onset": self.onset, "offset": self.offset, "event_label": self.event_label, "score": self.score}
        if filename is not None:
            d = {"filename": filename, **d}
        return d


class MedianFilter:
    """Incremental majority vote over `size` (odd) consecutive window decisions, edges replicated.

    `push(decisions, scores)` returns the windows whose filtered decision is now final (it needs
    size//2 later windows); `finish()` returns the rest. Holds at most `size` windows."""

    def __init__(self, size: int = 1):
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ConfigError("detect.median", f"must be an odd positive integer, got {size!r}")
        self.r = size // 2
        self._raw: list[tuple[np.ndarray, np.ndarray]] = []
        self._base = 0  # window index of _raw[0]
        self._n = 0  # windows pushed
        self._next = 0  # next window to emit

    def push(self, decisions: np.ndarray, scores: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        self._raw.append((np.asarray(decisions, dtype=bool), np.asarray(scores)))
        self._n += 1
        out = []
        while self._next + self.r < self._n:
            out.append(self._emit())
        return out

    def finish(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        out = []
        while self._next < self._n:
            out.append(self._emit())
        return out

    def _emit(self) -> tuple[int, np.ndarray, np.ndarray]:
        k = self._next
        if self.r == 0:
            decided = self._raw[k - self._base][0]
        else:
            idx = [min(max(i, 0), self._n - 1) - self._base for i in range(k - self.r, k + self.r + 1)]
            votes = np.sum([self._raw[i][0] for i in idx], axis=0)
            decided = votes > self.r
        scores = self._raw[k - self._base][1]
        self._next += 1
        drop = max(0, self._next - self.r - self._base)
        if drop:
            del self._raw[:drop]
            self._base += drop
        return k, decided, scores


class EventTracker:
    """Turns filtered window decisions into events (module doc), emitting each event as soon as no
    later window can change it: its run has ended and no later run can start within min_gap."""

    def __init__(self, grid: WindowGrid, classes: Sequence[str], min_gap: float = 0.0, min_duration: float = 0.0):
        for name, value in (("min_gap", min_gap), ("min_duration", min_duration)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"detect.{name}", f"must be a number of seconds >= 0, got {value!r}")
        self.grid = grid
        self.classes = list(classes)
        self.min_gap = float(min_gap)
        self.min_duration = float(min_duration)
        self._run: list[list | None] = [None] * len(self.classes)  # [first, last, peak]
        self._pending: list[list | None] = [None] * len(self.classes)  # [onset, offset, peak]

    def _event(self, first: int, last: int) -> tuple[float, float]:
        g = self.grid
        t_f, t_l, T, H = g.window_start(first), g.window_start(last), g.window_seconds, g.hop_seconds
        return min(t_l, t_f + T - H), max(t_f + T, t_l + H)

    def _close(self, c: int, out: list) -> None:
        first, last, peak = self._run[c]
        self._run[c] = None
        self.add_run(c, first, last, peak, out)

    def add_run(self, c: int, first: int, last: int, peak: float, out: list) -> None:
        """A finished run of positive windows first..last of class c: merged into the pending event
        when within min_gap of it, else the pending event is emitted into `out` and this one waits."""
        onset, offset = self._event(first, last)
        pending = self._pending[c]
        if pending is not None and onset <= pending[1] + self.min_gap + _TIME_SLACK:
            pending[1] = max(pending[1], offset)
            pending[2] = max(pending[2], peak)
            return
        if pending is not None:
            self._emit(c, pending, out)
        self._pending[c] = [onset, offset, peak]

    def emit_if_final(self, c: int, earliest: int, out: list) -> None:
        """Emit class c's pending event if no run starting at window `earliest` or later can merge into it."""
        pending = self._pending[c]
        if pending is not None and self.grid.window_start(earliest) > pending[1] + self.min_gap + _TIME_SLACK:
            self._emit(c, pending, out)
            self._pending[c] = None

    def flush(self, c: int, duration: float, out: list) -> None:
        """Emit class c's pending event, its offset clipped to `duration` (end of the signal)."""
        if self._pending[c] is not None:
            self._emit(c, self._pending[c], out, duration)
            self._pending[c] = None

    def _emit(self, c: int, p: list, out: list, duration: float | None = None) -> None:
        offset = p[1] if duration is None else min(p[1], duration)
        if offset - p[0] + _TIME_SLACK >= self.min_duration:
            out.append(DetectedEvent(round(float(p[0]), TIME_DECIMALS), round(float(offset), TIME_DECIMALS),
                                     self.classes[c], float(p[2])))

    def push(self, k: int, decisions: np.ndarray, scores: np.ndarray) -> list[DetectedEvent]:
        out: list[DetectedEvent] = []
        for c in range(len(self.classes)):
            run = self._run[c]
            if decisions[c]:
                if run is None:
                    self._run[c] = [k, k, float(scores[c])]
                else:
                    run[1] = k
                    run[2] = max(run[2], float(scores[c]))
            elif run is not None:
                self._close(c, out)
            # Every later event starts no earlier than the first window of its run.
            run = self._run[c]
            self.emit_if_final(c, run[0] if run is not None else k + 1, out)
        return out

    def finish(self, duration: float) -> list[DetectedEvent]:
        out: list[DetectedEvent] = []
        for c in range(len(self.classes)):
            if self._run[c] is not None:
                self._close(c, out)
            self.flush(c, duration, out)
        return out


class DecisionEngine:
    """Scores of consecutive windows -> thresholds -> median filter -> events (shared by both paths)."""

    def __init__(self, grid: WindowGrid, classes: Sequence[str], thresholds: np.ndarray, median: int = 1,
                 min_gap: float = 0.0, min_duration: float = 0.0):
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.median = MedianFilter(median)
        self.tracker = EventTracker(grid, classes, min_gap, min_duration)
        self.n_windows = 0

    def push(self, scores: np.ndarray) -> list[DetectedEvent]:
        scores = np.asarray(scores, dtype=np.float64)
        self.n_windows += 1
        out = []
        for k, decided, s in self.median.push(scores >= self.thresholds, scores):
            out.extend(self.tracker.push(k, decided, s))
        return out

    def finish(self, duration: float) -> list[DetectedEvent]:
        out = []
        for k, decided, s in self.median.finish():
            out.extend(self.tracker.push(k, decided, s))
        return out + self.tracker.finish(duration)


def sort_events(events: Iterable[DetectedEvent]) -> list[DetectedEvent]:
    return sorted(events, key=lambda e: (e.onset, e.offset, e.event_label))


def resolve_thresholds(bundle: Bundle, override: float | Mapping[str, float] | None = None,
                       stored: Mapping[str, float] | None = None, default: float | None = None) -> np.ndarray:
    """Per-class thresholds [L]: the override (one number, or per class on top of the stored ones),
    else the stored ones (default: the bundle's calibrated clip thresholds), else `default`. A class
    with none of these raises DataError naming the bundle."""
    classes = list(bundle.classes)
    if isinstance(override, (int, float)):
        values = {c: float(override) for c in classes}
    else:
        values = {c: float(v) for c, v in dict(bundle.thresholds if stored is None else stored).items()}
        if default is not None:
            values = {**{c: float(default) for c in classes}, **values}
        if override:
            unknown = sorted(set(override) - set(classes))
            if unknown:
                raise ConfigError("thresholds", f"unknown class(es) {unknown}; the bundle has {classes}")
            values.update({k: float(v) for k, v in override.items()})
    missing = [c for c in classes if c not in values]
    if missing:
        raise DataError(f"{bundle.path or 'bundle'}: no decision threshold for {', '.join(missing)}; "
                        "run `raresound calibrate` on it or pass `thresholds`")
    out = np.array([values[c] for c in classes], dtype=np.float64)
    if not np.isfinite(out).all():
        raise ConfigError("thresholds", f"thresholds must be finite, got {out.tolist()}")
    return out
