"""The timeline a practitioner looks at: one figure, one time axis, three panels.

1. the log-mel spectrogram (dB, unnormalised: what the microphone heard);
2. the detector's scores per class over time, each class's decision threshold dashed in its colour.
   Frame scores for a bundle with a frame head (step k covers [k * step, (k + 1) * step)); otherwise
   the clip scores of the sliding windows, each drawn over the hop-wide interval around its window's
   centre (the windows overlap, so that is the only span a window score can be given alone);
3. events as bars, one lane pair per class: the reference (hatched, when given) above the detections
   (solid), so a miss, an insertion or a late onset shows at a glance.

`timeline_figure` is arrays in, matplotlib Figure out (artists carry gids: "spectrogram",
"scores:<class>", "threshold:<class>", "detected:<class>", "reference:<class>", for tests and
callers); `plot_timeline` writes it as a PNG (Agg canvas, atomic write). `score_track` turns a
`detect.FileDetection` into the scores panel's arrays. The CLI (`raresound plot`) only wires files in.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from raresound.errors import DataError

DB_PER_NEPER = 10.0 / math.log(10.0)  # ln(power) -> dB


def score_track(result, window_seconds: float | None = None, hop_seconds: float | None = None):
    """(scores [N, L], interval edges [N + 1] in seconds, kind) of a FileDetection: its frame scores
    when it has them (kind "frame"), else its window scores over the hop around each window centre
    (kind "window"; needs the grid's window and hop seconds)."""
    if result.frame_scores is not None:
        scores = np.asarray(result.frame_scores, np.float64)
        edges = np.minimum(np.arange(scores.shape[0] + 1) * result.step_seconds, result.duration)
        return scores, edges, "frame"
    if window_seconds is None or hop_seconds is None:
        raise DataError("window scores need the window and hop lengths to be placed in time")
    scores = np.asarray(result.scores, np.float64)
    centres = np.asarray(result.window_starts, np.float64) + window_seconds / 2
    edges = np.concatenate([centres - hop_seconds / 2, centres[-1:] + hop_seconds / 2]) if centres.size else \
        np.zeros(1)
    return scores, edges, "window"


def _spans(events, label: str) -> list[tuple[float, float]]:
    return [(float(e.onset), float(e.offset) - float(e.onset)) for e in events if e.event_label == label]


def timeline_figure(spectrogram: np.ndarray, frame_seconds: float, scores: np.ndarray, score_edges: np.ndarray,
                    classes: Sequence[str], thresholds: Sequence[float] | None = None, detected: Sequence = (),
                    reference: Sequence | None = None, start: float = 0.0, end: float | None = None,
                    spectrogram_start: float = 0.0, score_kind: str = "frame", title: str | None = None) -> Figure:
    """The timeline (module doc). `spectrogram` [F, M] is natural-log mel power (LogMel's output)
    whose frame f covers [spectrogram_start + f * frame_seconds, + frame_seconds); `scores` [N, L]
    hold the scores over the intervals score_edges[n]..score_edges[n + 1]; `detected` and `reference`
    are events (onset, offset, event_label); the axis shows [start, end] (default: the whole
    spectrogram)."""
    spectrogram = np.asarray(spectrogram, np.float64)
    scores = np.asarray(scores, np.float64)
    score_edges = np.asarray(score_edges, np.float64)
    classes = list(classes)
    if spectrogram.ndim != 2:
        raise DataError(f"timeline: spectrogram must be [frames, bands], got shape {spectrogram.shape}")
    if scores.ndim != 2 or scores.shape[1] != len(classes) or score_edges.shape != (scores.shape[0] + 1,):
        raise DataError(f"timeline: scores {scores.shape} and edges {score_edges.shape} do not fit {len(classes)} "
                        "classes ([N, L] scores, N + 1 edges)")
    if end is None:
        end = spectrogram_start + spectrogram.shape[0] * frame_seconds
    colors = {c: f"C{i % 10}" for i, c in enumerate(classes)}
    n_lanes = len(classes) * (2 if reference is not None else 1)
    fig = Figure(figsize=(12.0, 6.0 + 0.25 * n_lanes), dpi=100, layout="constrained")
    spec_ax, score_ax, event_ax = fig.subplots(3, 1, sharex=True,
                                               gridspec_kw={"height_ratios": [3.0, 2.0, 0.6 + 0.35 * n_lanes]})
    # 1. spectrogram, in dB, low bands at the bottom
    t1 = spectrogram_start + spectrogram.shape[0] * frame_seconds
    db = DB_PER_NEPER * spectrogram.T
    finite = db[np.isfinite(db)]
    vmax = float(finite.max()) if finite.size else 0.0
    spec_ax.imshow(db, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                   extent=(spectrogram_start, t1, 0, spectrogram.shape[1]), vmin=vmax - 80.0, vmax=vmax,
                   gid="spectrogram")
    spec_ax.set_ylabel("mel band")
    spec_ax.set_title(title or "log-mel spectrogram (dB; 80 dB range)", fontsize="medium", loc="left")
    # 2. scores and thresholds
    for i, cls in enumerate(classes):
        score_ax.stairs(scores[:, i], score_edges, color=colors[cls], linewidth=1.2, label=cls, gid=f"scores:{cls}",
                        baseline=None)
        if thresholds is not None:
            # interleaved dashes: equal thresholds of several classes all stay visible
            dashes = (3.0 * i, (3.0, 3.0 * max(len(classes) - 1, 1)))
            score_ax.axhline(float(thresholds[i]), color=colors[cls], linestyle=dashes, linewidth=1.0,
                             gid=f"threshold:{cls}")
    score_ax.set_ylim(-0.02, 1.02)
    score_ax.set_ylabel("frame score" if score_kind == "frame" else "window score")
    score_ax.grid(True, linestyle=":", linewidth=0.6)
    score_ax.legend(loc="upper right", fontsize="small", ncols=min(len(classes), 6),
                    title="dashed: thresholds", title_fontsize="x-small")
    # 3. events: per class a reference lane (hatched) above a detection lane (solid)
    ticks, labels = [], []
    lane = 0
    for cls in reversed(classes):
        event_ax.broken_barh(_spans(detected, cls), (lane + 0.15, 0.7), facecolors=colors[cls], edgecolor="black",
                             linewidth=0.5, gid=f"detected:{cls}")
        ticks.append(lane + 0.5)
        labels.append(f"{cls} detected")
        lane += 1
        if reference is not None:
            event_ax.broken_barh(_spans(reference, cls), (lane + 0.15, 0.7), facecolors="none",
                                 edgecolor=colors[cls], hatch="///", linewidth=1.0, gid=f"reference:{cls}")
            ticks.append(lane + 0.5)
            labels.append(f"{cls} reference")
            lane += 1
    event_ax.set_ylim(0, max(lane, 1))
    event_ax.set_yticks(ticks, labels, fontsize="small")
    event_ax.set_xlabel("time (s)")
    event_ax.grid(True, axis="x", linestyle=":", linewidth=0.6)
    event_ax.set_xlim(float(start), float(end))
    return fig


def plot_timeline(path: str | Path, *args, **kwargs) -> Path:
    """Write `timeline_figure(*args, **kwargs)` as a PNG at `path`; returns the path."""
    from raresound.evaluation.plots import save_figure

    save_figure(timeline_figure(*args, **kwargs), path)
    return Path(path)
