"""Frame scores -> events, a block of steps at a time (vectorised over steps).

The rules are `postprocess.DecisionEngine`'s on a grid whose windows are the steps (step k covers
[k * step, (k + 1) * step)): a step is positive for class c when its score >= the class threshold;
an optional median filter (odd `median`) replaces each decision by the majority of the `median`
decisions centred on it, edges replicated; a run of positive steps f..l is the event
[f * step, (l + 1) * step) scored by its highest step score; events of a class whose gap is
<= min_gap merge; offsets are clipped to the signal's duration; events shorter than min_duration are
dropped. Per-class settings (each class its own median, min_gap, min_duration: what
`detection.tuning` picks on validation events) run one decoder per class (`frame_decoder`). `DecisionEngine` does this step by
step in Python, which at 100 steps per second of audio costs more than the network (a one-pass
LSTM scores a second of audio in ~0.5 ms); this does it per block with numpy, with the same events
(tests/test_frame_events.py checks them against each other).

Streaming: a step's decision is final once median // 2 later steps exist; an event is emitted once
no later run can merge into it (the decided steps have passed its offset + min_gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from raresound.detection.postprocess import DetectedEvent, EventTracker, MedianFilter


@dataclass(frozen=True)
class StepGrid:
    """Steps as the event tracker's "windows": step k covers [k * step, (k + 1) * step)."""

    step_seconds: float

    @property
    def window_seconds(self) -> float:
        return self.step_seconds

    @property
    def hop_seconds(self) -> float:
        return self.step_seconds

    def window_start(self, k: int) -> float:
        return k * self.step_seconds


class FrameEventDecoder:
    def __init__(self, step_seconds: float, classes: Sequence[str], thresholds: np.ndarray, median: int = 1,
                 min_gap: float = 0.0, min_duration: float = 0.0):
        MedianFilter(median)  # the same validation (odd, >= 1)
        # runs -> events (merging, emission, clipping): window detection's tracker on a grid of steps
        self._tracker = EventTracker(StepGrid(float(step_seconds)), classes, min_gap, min_duration)
        self.classes = list(classes)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.radius = median // 2
        L = len(self.classes)
        self._decisions = np.zeros((0, L), bool)  # raw decisions from step _base on
        self._scores = np.zeros((0, L), np.float64)
        self._base = 0  # global step of _decisions[0]
        self._next = 0  # next step whose filtered decision is not yet made
        self._run: list[list | None] = [None] * L  # [first step, peak] of an open run

    def push(self, scores: np.ndarray) -> list[DetectedEvent]:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(self.classes))
        self._decisions = np.concatenate([self._decisions, scores >= self.thresholds])
        self._scores = np.concatenate([self._scores, scores])
        final = self._base + self._decisions.shape[0] - self.radius  # steps < final can be decided
        return self._decide(final, at_end=False)

    def finish(self, duration: float) -> list[DetectedEvent]:
        out = self._decide(self._base + self._decisions.shape[0], at_end=True)
        for c in range(len(self.classes)):
            if self._run[c] is not None:
                first, peak = self._run[c]
                self._run[c] = None
                self._tracker.add_run(c, first, self._next - 1, peak, out)
            self._tracker.flush(c, duration, out)
        return out

    def _filtered(self, end: int, at_end: bool) -> np.ndarray:
        """Median-filtered decisions of steps [_next, end)."""
        r = self.radius
        raw = self._decisions
        if r == 0:
            return raw[self._next - self._base : end - self._base]
        # edges replicated: before step 0 (only while _base == 0) and, at the end, after the last step
        left = raw[:1].repeat(r, axis=0) if self._base == 0 else np.zeros((0, raw.shape[1]), bool)
        right = raw[-1:].repeat(r, axis=0) if at_end else np.zeros((0, raw.shape[1]), bool)
        padded = np.concatenate([left, raw, right]).astype(np.int32)
        offset = left.shape[0] - self._base  # padded index of global step k = k + offset
        sums = np.concatenate([np.zeros((1, raw.shape[1]), np.int64), np.cumsum(padded, axis=0)])
        ks = np.arange(self._next, end) + offset
        votes = sums[ks + r + 1] - sums[ks - r]
        return votes > r

    def _decide(self, end: int, at_end: bool) -> list[DetectedEvent]:
        out: list[DetectedEvent] = []
        if end <= self._next:
            return out
        decided = self._filtered(end, at_end)
        scores = self._scores[self._next - self._base : end - self._base]
        for c in range(len(self.classes)):
            self._runs(c, decided[:, c], scores[:, c], out)
        self._next = end
        for c in range(len(self.classes)):  # pending events no later run can reach
            run = self._run[c]
            self._tracker.emit_if_final(c, run[0] if run is not None else self._next, out)
        keep = max(0, self._next - self.radius - self._base)  # left context of the next decisions
        self._decisions, self._scores = self._decisions[keep:], self._scores[keep:]
        self._base += keep
        return out

    def _runs(self, c: int, positive: np.ndarray, scores: np.ndarray, out: list) -> None:
        k0 = self._next
        edges = np.flatnonzero(np.diff(np.concatenate([[False], positive, [False]]).astype(np.int8)))
        starts, stops = edges[::2], edges[1::2]  # runs [start, stop) within this block
        if positive.size and not positive[0] and self._run[c] is not None:  # the open run ended at k0 - 1
            first, peak = self._run[c]
            self._run[c] = None
            self._tracker.add_run(c, first, k0 - 1, peak, out)
        for start, stop in zip(starts, stops):
            peak = float(scores[start:stop].max())
            if start == 0 and self._run[c] is not None:  # continues the open run
                first, peak = self._run[c][0], max(peak, self._run[c][1])
            else:
                first = k0 + start
            self._run[c] = None
            if stop == positive.size:  # still open at the block's end
                self._run[c] = [first, peak]
            else:
                self._tracker.add_run(c, first, k0 + stop - 1, peak, out)


class ClassWiseDecoder:
    """One `FrameEventDecoder` per class, each with its own median, min_gap and min_duration; the
    same push/finish contract over [n, L] score blocks."""

    def __init__(self, step_seconds: float, classes: Sequence[str], thresholds: np.ndarray,
                 median: Sequence[int], min_gap: Sequence[float], min_duration: Sequence[float]):
        self.classes = list(classes)
        self._decoders = [FrameEventDecoder(step_seconds, [c], np.asarray(thresholds, np.float64)[i:i + 1],
                                            int(median[i]), float(min_gap[i]), float(min_duration[i]))
                          for i, c in enumerate(self.classes)]

    def push(self, scores: np.ndarray) -> list[DetectedEvent]:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(self.classes))
        return [e for i, d in enumerate(self._decoders) for e in d.push(scores[:, i:i + 1])]

    def finish(self, duration: float) -> list[DetectedEvent]:
        return [e for d in self._decoders for e in d.finish(duration)]


def _per_class(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * n


def frame_decoder(step_seconds: float, classes: Sequence[str], thresholds: np.ndarray, median=1, min_gap=0.0,
                  min_duration=0.0):
    """A decoder for scalar settings (one vectorised `FrameEventDecoder`) or per-class ones
    (sequences of length L: `ClassWiseDecoder`)."""
    n = len(classes)
    medians, gaps, durations = (_per_class(v, n) for v in (median, min_gap, min_duration))
    if len({*map(int, medians)}) == 1 and len({*map(float, gaps)}) == 1 and len({*map(float, durations)}) == 1:
        return FrameEventDecoder(step_seconds, classes, thresholds, int(medians[0]), float(gaps[0]), float(durations[0]))
    return ClassWiseDecoder(step_seconds, classes, thresholds, medians, gaps, durations)
