"""Post-processing chosen on validation *events*: per class, the decision threshold, median filter
length, minimum gap and minimum event duration that maximise event-based F1 (onset criterion,
0.5-s collar: DCASE 2017 Task 2's metric, the one users are scored on) on the validation files.

Why events, not frames: the frame-F1 threshold of `training/frames.py` is optimal for steps, but one
spurious 40-ms blip is an insertion, and one gap inside an event splits it into a hit plus an
insertion; only the event metric sees either. A grid search is cheap: per class and median length
the filtered decisions for every threshold are computed at once (cumulative sums), the runs of
positive steps found once per threshold, and min_gap / min_duration applied to the run lists.

The decoding is exactly `frame_events.FrameEventDecoder`'s (tests/test_tuning.py checks them
against each other): step k covers [k * step, (k + 1) * step); median filter = majority of the
`median` decisions centred on a step, edges replicated; a run f..l is [f * step, (l + 1) * step);
runs whose gap is <= min_gap merge; offsets are clipped to the file; events shorter than
min_duration are dropped. Matching for the count of hits is greedy by onset, which on a line is a
maximum matching (as sed_eval's for onset-only criteria).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from raresound.detection.postprocess import TIME_DECIMALS
from raresound.errors import DataError

_SLACK = 1e-9
DEFAULT_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2))
DEFAULT_MEDIAN_SECONDS = (0.0, 0.12, 0.2, 0.36, 0.6)
DEFAULT_MIN_GAPS = (0.0, 0.1, 0.2, 0.5, 1.0)
DEFAULT_MIN_DURATIONS = (0.0, 0.08, 0.16, 0.3)


@dataclass(frozen=True)
class PostProcessing:
    threshold: float
    median: int  # steps (odd)
    min_gap: float  # seconds
    min_duration: float  # seconds
    val_f1: float = float("nan")

    def to_dict(self, step_seconds: float) -> dict:
        return {"threshold": round(float(self.threshold), 4), "median_steps": int(self.median),
                "median": round(self.median * step_seconds, 4),
                "min_gap": float(self.min_gap), "min_duration": float(self.min_duration),
                "val_event_f1": round(float(self.val_f1), 4)}


def median_steps(seconds: float, step_seconds: float) -> int:
    """`seconds` as an odd number of steps: seconds / step if odd, else the next odd number (0 -> 1:
    no filtering)."""
    return 2 * int(np.floor(float(seconds) / step_seconds / 2 + 1e-6)) + 1


def filtered_decisions(scores: np.ndarray, thresholds: np.ndarray, median: int) -> np.ndarray:
    """Scores [S] -> median-filtered decisions [n_thresholds, S] (edges replicated)."""
    raw = scores[None, :] >= np.asarray(thresholds, dtype=np.float64)[:, None]
    r = median // 2
    if r == 0 or raw.shape[1] == 0:
        return raw
    padded = np.concatenate([raw[:, :1].repeat(r, 1), raw, raw[:, -1:].repeat(r, 1)], axis=1).astype(np.int32)
    sums = np.concatenate([np.zeros((raw.shape[0], 1), np.int64), np.cumsum(padded, axis=1)], axis=1)
    k = np.arange(raw.shape[1]) + r
    return (sums[:, k + r + 1] - sums[:, k - r]) > r


def runs(decisions: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decisions [n, S] -> per row the runs of positive steps as (starts, stops) arrays, stops exclusive."""
    n, S = decisions.shape
    edges = np.diff(np.concatenate([np.zeros((n, 1), bool), decisions, np.zeros((n, 1), bool)], axis=1).astype(np.int8), axis=1)
    rows_up, cols_up = np.nonzero(edges == 1)
    rows_down, cols_down = np.nonzero(edges == -1)
    bounds = np.searchsorted(rows_up, np.arange(n + 1))
    return [(cols_up[bounds[i]:bounds[i + 1]], cols_down[bounds[i]:bounds[i + 1]]) for i in range(n)]


def runs_to_events(starts: np.ndarray, stops: np.ndarray, step_seconds: float, min_gap: float,
                   min_duration: float, duration: float) -> list[tuple[float, float]]:
    """Runs of steps -> events (onset, offset) in seconds: merged across gaps <= min_gap, offsets
    clipped to `duration`, events shorter than min_duration dropped."""
    events: list[list[float]] = []
    for a, b in zip(starts, stops):
        onset, offset = a * step_seconds, b * step_seconds
        if events and onset <= events[-1][1] + min_gap + _SLACK:
            events[-1][1] = max(events[-1][1], offset)
        else:
            events.append([onset, offset])
    out = []
    for onset, offset in events:
        offset = min(offset, duration)
        if offset - onset + _SLACK >= min_duration:
            out.append((round(onset, TIME_DECIMALS), round(offset, TIME_DECIMALS)))  # as the decoder emits them
    return out


def onset_hits(reference: Sequence[float], estimated: Sequence[float], collar: float) -> int:
    """Number of reference onsets matched one-to-one by estimated onsets within +-collar."""
    ref, est = sorted(reference), sorted(estimated)
    i = j = hits = 0
    while i < len(ref) and j < len(est):
        if est[j] < ref[i] - collar - _SLACK:
            j += 1
        elif est[j] > ref[i] + collar + _SLACK:
            i += 1
        else:
            hits, i, j = hits + 1, i + 1, j + 1
    return hits


# The threshold of a class no setting detects on validation: just above 1, so it never fires (a
# sigmoid score is at most 1), where the grid's lowest threshold would fire on every other step.
SWITCHED_OFF = float(np.nextafter(1.0, 2.0))


def plateau(f1: np.ndarray, axis: int = 1) -> np.ndarray:
    """F1 averaged with its two neighbours along the threshold axis (edges repeated). A threshold
    whose neighbours score as well sits on a plateau: on unseen audio, whose scores shift a little,
    it keeps its F1, where an isolated peak of a few validation files does not."""
    padded = np.concatenate([np.take(f1, [0], axis), f1, np.take(f1, [-1], axis)], axis=axis)
    n = f1.shape[axis]
    return (np.take(padded, range(0, n), axis) + np.take(padded, range(1, n + 1), axis)
            + np.take(padded, range(2, n + 2), axis)) / 3.0


def tune_class(scores: Sequence[np.ndarray], reference_onsets: Sequence[Sequence[float]], durations: Sequence[float],
               step_seconds: float, collar: float = 0.5, thresholds=DEFAULT_THRESHOLDS,
               median_seconds=DEFAULT_MEDIAN_SECONDS, min_gaps=DEFAULT_MIN_GAPS,
               min_durations=DEFAULT_MIN_DURATIONS) -> PostProcessing:
    """One class: per-file step scores [S_i], reference onsets and durations -> the setting with
    the best event F1 over all files, read on the `plateau` of F1 over neighbouring thresholds
    (ties: the first in grid order, i.e. least post-processing); val_f1 is F1 at that setting.
    When no setting hits a single validation event, the class is switched off (`SWITCHED_OFF`)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    n_ref = sum(len(r) for r in reference_onsets)
    medians = sorted({median_steps(s, step_seconds) for s in median_seconds})
    n_t, n_g, n_d = len(thresholds), len(min_gaps), len(min_durations)
    hits = np.zeros((len(medians), n_t, n_g, n_d), np.int64)
    n_est = np.zeros_like(hits)
    for s, refs, duration in zip(scores, reference_onsets, durations):
        s = np.asarray(s, dtype=np.float64)
        for mi, m in enumerate(medians):
            for ti, (starts, stops) in enumerate(runs(filtered_decisions(s, thresholds, m))):
                if len(starts) == 0:
                    continue
                for gi, gap in enumerate(min_gaps):
                    for di, min_dur in enumerate(min_durations):
                        events = runs_to_events(starts, stops, step_seconds, gap, min_dur, duration)
                        n_est[mi, ti, gi, di] += len(events)
                        if refs and events:
                            hits[mi, ti, gi, di] += onset_hits(refs, [e[0] for e in events], collar)
    f1 = 2 * hits / np.maximum(n_ref + n_est, 1)
    if not f1.any():  # no setting finds a single validation event: every event it fires is a false alarm
        return PostProcessing(SWITCHED_OFF, 1, 0.0, 0.0, 0.0)
    mi, ti, gi, di = np.unravel_index(int(np.argmax(plateau(f1))), f1.shape)
    return PostProcessing(float(thresholds[ti]), int(medians[mi]), float(min_gaps[gi]), float(min_durations[di]),
                          float(f1[mi, ti, gi, di]))


def tune_postprocessing(scores: Sequence[np.ndarray], references: Sequence[Sequence[tuple[float, float, str]]],
                        durations: Sequence[float], classes: Sequence[str], step_seconds: float,
                        collar: float = 0.5, **grid) -> dict[str, PostProcessing]:
    """Per-file frame scores [S_i, L], per-file reference events (onset, offset, label) and file
    durations -> per class the post-processing with the best validation event F1."""
    if not len(scores) == len(references) == len(durations) or not len(scores):
        raise DataError("post-processing tuning needs the same number (> 0) of score arrays, reference lists "
                        "and durations")
    out = {}
    for c, name in enumerate(classes):
        onsets = [[on for on, _, label in refs if label == name] for refs in references]
        if not any(onsets):
            raise DataError(f"validation files hold no {name!r} event: cannot tune its post-processing")
        out[name] = tune_class([np.asarray(s)[:, c] for s in scores], onsets, durations, step_seconds, collar, **grid)
    return out


def postprocessing_info(tuned: Mapping[str, PostProcessing], step_seconds: float) -> dict:
    """What a bundle stores (`info.frames.postprocessing`, read by `FrameDetector`)."""
    return {c: p.to_dict(step_seconds) for c, p in tuned.items()}
