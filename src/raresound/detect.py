"""Long-file sliding-window detection with a trained bundle: windows -> scores -> decisions -> events.

One pipeline serves offline files and live streams (`raresound.streaming` pushes the same objects
incrementally), so both give the same events on the same audio.

Framing (one convention for both paths)
---------------------------------------
The file is the signal x[n], 0 <= n < N, and zero outside. Feature frame i is the shared `LogMel`
of the n_fft samples centred on sample i*hop_length (exactly what `LogMel` computes for a whole
file, including its zero padding at the file edges); the file has F = N // hop_length frames.
Detection window k covers frames [k*h, k*h + W) (W = frames of one training clip, h = hop in
frames): it starts at t_k = k*hop seconds and lasts T = clip_seconds. Windows exist for
k = 0 .. ceil(max(0, F - W) / h), so the hop grid is never broken; the last window (and the only
window of a file shorter than T) runs past the end of the file and sees zeros there, as a training
clip padded by `audio.load(duration=...)` does. Short files are padded, never rejected.

Frames are computed in blocks of B frames (B = a multiple of h, at least MIN_BLOCK_FRAMES): block j
is `LogMel` applied to the samples [j*B*hop - P, (j+1)*B*hop + P) (P = n_fft/2 rounded up to a whole
hop; zeros outside the file), keeping its interior B frames, whose STFT support lies inside the
segment. `detect_wave` computes every block of an in-memory waveform once (the frame matrix), then
slices windows from it as views; the streaming path computes the same blocks, with the same call on
the same samples, as soon as their samples have arrived. `detect_file` feeds a file, decoded block
by block, through the streaming path (memory bounded whatever its length) and scores its windows in
the same batches as `detect_wave`, so its results are bit-identical to `detect_wave` on the file. Streaming features are
therefore bit-identical to offline ones. (Against `LogMel` on the whole file they agree to float
rounding; only the grouping of the GEMM differs.)

Decisions and events
--------------------
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
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from raresound.bundle import Bundle
from raresound.errors import ConfigError, DataError, RaresoundError
from raresound.features import FeatureConfig, LogMel
from raresound.models.factory import scores_from_logits

# Feature blocks hold at least this many frames (0.5 s at a 10 ms hop): fewer LogMel calls offline;
# in streaming a block is computed once its samples have arrived, so this bounds the added latency.
MIN_BLOCK_FRAMES = 50
_TIME_SLACK = 1e-9
# Offline files are decoded this many seconds at a time: memory stays bounded (one block plus the
# streaming buffers) whatever the file's length.
FILE_BLOCK_SECONDS = 20.0


# ---------------------------------------------------------------------------------------------
# Window grid and feature front end


@dataclass(frozen=True)
class WindowGrid:
    sample_rate: int
    frame_hop: int  # samples per feature frame
    window_frames: int  # W
    hop_frames: int  # h
    block_frames: int  # B (multiple of h)
    context: int  # P samples of STFT context each side of a block (multiple of frame_hop)

    @classmethod
    def for_config(cls, cfg: FeatureConfig, hop_seconds: float) -> "WindowGrid":
        W = cfg.n_frames()
        if not (isinstance(hop_seconds, (int, float)) and math.isfinite(hop_seconds) and hop_seconds > 0):
            raise ConfigError("detect.hop", f"must be a positive number of seconds, got {hop_seconds!r}")
        frames = hop_seconds * cfg.sample_rate / cfg.hop_length
        h = int(round(frames))
        if h < 1 or abs(frames - h) > 1e-6 * max(1.0, frames):
            raise ConfigError("detect.hop", f"{hop_seconds} s is not a whole number of {cfg.hop_ms} ms feature frames")
        if h > W:
            raise ConfigError("detect.hop", f"{hop_seconds} s is longer than the {W * cfg.hop_length / cfg.sample_rate} s window")
        block = h * math.ceil(MIN_BLOCK_FRAMES / h)
        context = cfg.hop_length * math.ceil((cfg.n_fft // 2) / cfg.hop_length)
        return cls(cfg.sample_rate, cfg.hop_length, W, h, block, context)

    @property
    def hop_seconds(self) -> float:
        return self.hop_frames * self.frame_hop / self.sample_rate

    @property
    def window_seconds(self) -> float:
        return self.window_frames * self.frame_hop / self.sample_rate

    @property
    def block_samples(self) -> int:
        return self.block_frames * self.frame_hop

    @property
    def segment_samples(self) -> int:
        return self.block_samples + 2 * self.context

    def window_start(self, k: int) -> float:
        return k * self.hop_frames * self.frame_hop / self.sample_rate

    def n_frames(self, n_samples: int) -> int:
        return int(n_samples) // self.frame_hop

    def n_windows(self, n_samples: int) -> int:
        extra = self.n_frames(n_samples) - self.window_frames
        return 1 + max(0, -(-extra // self.hop_frames))

    def frames_needed(self, n_samples: int) -> int:
        return (self.n_windows(n_samples) - 1) * self.hop_frames + self.window_frames


class FrontEnd:
    """Normalised log-mel frames, computed block by block with the shared `LogMel` (see module doc)."""

    def __init__(self, config: FeatureConfig, normalizer, grid: WindowGrid):
        self.config = config
        self.normalizer = normalizer
        self.grid = grid
        self.logmel = LogMel(config)
        self._skip = grid.context // grid.frame_hop

    @torch.inference_mode()
    def block(self, segment: np.ndarray) -> torch.Tensor:
        """Samples [j*B*hop - P, (j+1)*B*hop + P) -> normalised frames [B, M] of block j."""
        if segment.shape != (self.grid.segment_samples,):
            raise ValueError(f"block segment must have {self.grid.segment_samples} samples, got {segment.shape}")
        frames = self.logmel(torch.from_numpy(np.ascontiguousarray(segment, dtype=np.float32)))
        frames = frames[self._skip : self._skip + self.grid.block_frames]
        return self.normalizer.transform(frames)

    def frames(self, wave: np.ndarray, n_frames: int) -> torch.Tensor:
        """Frame matrix [n_blocks * B, M] (>= n_frames rows) of a whole waveform."""
        g = self.grid
        n_blocks = max(1, -(-int(n_frames) // g.block_frames))
        padded = np.zeros(n_blocks * g.block_samples + 2 * g.context, dtype=np.float32)
        n = min(wave.shape[0], padded.shape[0] - g.context)
        padded[g.context : g.context + n] = wave[:n]
        out = torch.empty(n_blocks * g.block_frames, self.config.n_mels)
        for j in range(n_blocks):
            start = j * g.block_samples
            out[j * g.block_frames : (j + 1) * g.block_frames] = self.block(padded[start : start + g.segment_samples])
        return out


# ---------------------------------------------------------------------------------------------
# Decisions -> events


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

    def __init__(self, grid: WindowGrid, classes: Sequence[str], min_gap: float = 0.0):
        if not (isinstance(min_gap, (int, float)) and math.isfinite(min_gap) and min_gap >= 0):
            raise ConfigError("detect.min_gap", f"must be a number of seconds >= 0, got {min_gap!r}")
        self.grid = grid
        self.classes = list(classes)
        self.min_gap = float(min_gap)
        self._run: list[list | None] = [None] * len(self.classes)  # [first, last, peak]
        self._pending: list[list | None] = [None] * len(self.classes)  # [onset, offset, peak]

    def _event(self, first: int, last: int) -> tuple[float, float]:
        g = self.grid
        t_f, t_l, T, H = g.window_start(first), g.window_start(last), g.window_seconds, g.hop_seconds
        return min(t_l, t_f + T - H), max(t_f + T, t_l + H)

    def _close(self, c: int, out: list) -> None:
        first, last, peak = self._run[c]
        self._run[c] = None
        onset, offset = self._event(first, last)
        pending = self._pending[c]
        if pending is not None and onset <= pending[1] + self.min_gap + _TIME_SLACK:
            pending[1] = max(pending[1], offset)
            pending[2] = max(pending[2], peak)
            return
        if pending is not None:
            out.append(self._make(c, pending))
        self._pending[c] = [onset, offset, peak]

    def _make(self, c: int, p: list, duration: float | None = None) -> DetectedEvent:
        offset = p[1] if duration is None else min(p[1], duration)
        return DetectedEvent(float(p[0]), float(offset), self.classes[c], float(p[2]))

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
            pending = self._pending[c]
            if pending is not None:
                # Every later event starts no earlier than the first window of its run.
                run = self._run[c]
                earliest = self.grid.window_start(run[0] if run is not None else k + 1)
                if earliest > pending[1] + self.min_gap + _TIME_SLACK:
                    out.append(self._make(c, pending))
                    self._pending[c] = None
        return out

    def finish(self, duration: float) -> list[DetectedEvent]:
        out: list[DetectedEvent] = []
        for c in range(len(self.classes)):
            if self._run[c] is not None:
                self._close(c, out)
            if self._pending[c] is not None:
                out.append(self._make(c, self._pending[c], duration))
                self._pending[c] = None
        return out


class DecisionEngine:
    """Scores of consecutive windows -> thresholds -> median filter -> events (shared by both paths)."""

    def __init__(self, grid: WindowGrid, classes: Sequence[str], thresholds: np.ndarray, median: int = 1,
                 min_gap: float = 0.0):
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.median = MedianFilter(median)
        self.tracker = EventTracker(grid, classes, min_gap)
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


# ---------------------------------------------------------------------------------------------
# Thresholds


def parse_threshold_args(values: Sequence[str] | None) -> float | dict[str, float] | None:
    """CLI `--threshold` values: one number for every class, or CLASS=VALUE items (repeatable)."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        try:
            return float(values[0])
        except ValueError:
            raise ConfigError("--threshold", f"expected a number or CLASS=VALUE, got {values[0]!r}") from None
    out: dict[str, float] = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = float(value)
        except ValueError:
            raise ConfigError("--threshold", f"expected CLASS=VALUE, got {item!r}") from None
    return out


def resolve_thresholds(bundle: Bundle, override: float | Mapping[str, float] | None = None) -> np.ndarray:
    """Per-class thresholds [L]: the override (one number, or per class on top of the bundle's), else
    the bundle's calibrated ones. A class with neither raises DataError naming the bundle."""
    classes = list(bundle.classes)
    if isinstance(override, (int, float)):
        values = {c: float(override) for c in classes}
    else:
        values = dict(bundle.thresholds)
        if override:
            unknown = sorted(set(override) - set(classes))
            if unknown:
                raise ConfigError("--threshold", f"unknown class(es) {unknown}; the bundle has {classes}")
            values.update({k: float(v) for k, v in override.items()})
    missing = [c for c in classes if c not in values]
    if missing:
        raise DataError(f"{bundle.path or 'bundle'}: no decision threshold for {', '.join(missing)}; "
                        "run `raresound calibrate` on it or pass --threshold")
    out = np.array([values[c] for c in classes], dtype=np.float64)
    if not np.isfinite(out).all():
        raise ConfigError("--threshold", f"thresholds must be finite, got {out.tolist()}")
    return out


# ---------------------------------------------------------------------------------------------
# Offline detection


@dataclass
class FileDetection:
    filename: str
    path: str
    duration: float
    events: list[DetectedEvent]
    window_starts: np.ndarray  # [n_windows] seconds
    scores: np.ndarray  # [n_windows, L]
    timings: dict = field(default_factory=dict)  # seconds: decode, features, network, events

    def to_dict(self, with_scores: bool = False) -> dict:
        d = {"filename": self.filename, "path": self.path, "duration": self.duration,
             "n_windows": int(self.scores.shape[0]), "events": [e.to_dict() for e in self.events]}
        if with_scores:
            d["window_starts"] = self.window_starts.tolist()
            d["scores"] = self.scores.tolist()
        return d


class WindowDetector:
    """A bundle applied to long audio with sliding windows (see the module docstring)."""

    def __init__(self, bundle: Bundle, hop: float = 1.0, thresholds: float | Mapping[str, float] | None = None,
                 median: int = 1, min_gap: float = 0.0, batch: int = 64):
        if not isinstance(batch, int) or batch < 1:
            raise ConfigError("detect.batch", f"must be a positive integer, got {batch!r}")
        self.bundle = bundle
        self.classes = list(bundle.classes)
        self.config = bundle.feature_config
        self.grid = WindowGrid.for_config(self.config, hop)
        self.thresholds = resolve_thresholds(bundle, thresholds)
        MedianFilter(median)  # validate now, not at the first file
        EventTracker(self.grid, self.classes, min_gap)
        self.median = median
        self.min_gap = float(min_gap)
        self.batch = batch
        self.frontend = FrontEnd(self.config, bundle.normalizer, self.grid)
        self.model = bundle.model.eval()
        self.device = next(self.model.parameters()).device

    def engine(self) -> DecisionEngine:
        return DecisionEngine(self.grid, self.classes, self.thresholds, self.median, self.min_gap)

    @torch.inference_mode()
    def score_windows(self, windows: torch.Tensor) -> np.ndarray:
        """Normalised windows [n, W, M] (any strides) -> scores [n, L], in batches of `batch`."""
        out = []
        for start in range(0, windows.shape[0], self.batch):
            x = windows[start : start + self.batch].contiguous().to(self.device)
            out.append(scores_from_logits(self.model(x), self.bundle.spec).cpu().numpy())
        if not out:
            return np.zeros((0, len(self.classes)), np.float32)
        return np.concatenate(out)

    def detect_wave(self, wave: np.ndarray, sr: int, filename: str = "", path: str = "") -> FileDetection:
        """Detect on a mono waveform sampled at `sr` Hz (resampled to the model's rate as files are)."""
        from raresound.audio import waveform

        g = self.grid
        t0 = time.perf_counter()
        wave = waveform(wave, sr, g.sample_rate, path or filename or "audio")
        n_windows = g.n_windows(wave.size)
        frames = self.frontend.frames(wave, g.frames_needed(wave.size))
        t1 = time.perf_counter()
        windows = frames.unfold(0, g.window_frames, g.hop_frames)[:n_windows].transpose(1, 2)  # [n, W, M] view
        scores = self.score_windows(windows)
        t2 = time.perf_counter()
        engine = self.engine()
        events: list[DetectedEvent] = []
        for row in scores:
            events.extend(engine.push(row))
        duration = wave.size / g.sample_rate
        events.extend(engine.finish(duration))
        t3 = time.perf_counter()
        starts = np.array([g.window_start(k) for k in range(n_windows)])
        return FileDetection(filename, path, duration, sort_events(events), starts, scores,
                             {"features": t1 - t0, "network": t2 - t1, "events": t3 - t2})

    def detect_file(self, path: str | Path, filename: str | None = None) -> FileDetection:
        """`detect_wave(audio.load(path), sample_rate)` in memory bounded whatever the file's length: the file is
        decoded block by block (`audio.read_blocks`, same samples) into the streaming pipeline, whose
        windows are scored in the same batches as `detect_wave` (align = batch), so features, scores
        and events are bit-identical to it."""
        from raresound.audio import read_blocks
        from raresound.streaming import StreamingDetector

        started = time.perf_counter()
        sd = StreamingDetector(self, align=self.batch, keep_scores=True)
        events: list[DetectedEvent] = []
        for block in read_blocks(path, sr=self.config.sample_rate, block_seconds=FILE_BLOCK_SECONDS):
            events.extend(sd.push(block))
        events.extend(sd.finish())
        g = self.grid
        scores = np.concatenate(sd.scores) if sd.scores else np.zeros((0, len(self.classes)), np.float32)
        starts = np.array([g.window_start(k) for k in range(scores.shape[0])])
        # decode and event bookkeeping interleave with the rest: reported together as "decode"
        other = time.perf_counter() - started - sd.timings["features"] - sd.timings["network"]
        return FileDetection(filename if filename is not None else Path(path).name, str(path), sd.seconds,
                             sort_events(events), starts, scores, {"decode": other, **sd.timings, "events": 0.0})


@dataclass
class BatchReport:
    results: list[FileDetection]
    failures: list[tuple[str, str]]  # (path, reason)
    warnings: list[tuple[str, str]]
    seconds: float

    @property
    def audio_seconds(self) -> float:
        return sum(r.duration for r in self.results)

    def summary(self) -> str:
        n_events = sum(len(r.events) for r in self.results)
        rtf = self.audio_seconds / self.seconds if self.seconds > 0 else float("inf")
        return (f"detected {n_events} events in {len(self.results)} file(s) ({self.audio_seconds:.1f} s of audio, "
                f"{rtf:.0f}x real time); skipped {len(self.failures)}")


def output_names(paths: Sequence[str | Path], full_paths: bool = False) -> list[str]:
    """Event-list filenames: basenames (DCASE style) unless they collide or `full_paths`."""
    names = [str(p) if full_paths else Path(p).name for p in paths]
    if not full_paths:
        seen: dict[str, str] = {}
        for p, name in zip(paths, names):
            if name in seen and seen[name] != str(p):
                raise ConfigError("--full-paths", f"{seen[name]} and {p} share the name {name!r}; pass --full-paths")
            seen[name] = str(p)
    return names


def detect_files(detector: WindowDetector, paths: Sequence[str | Path], full_paths: bool = False,
                 on_result=None) -> BatchReport:
    """Detect in every file; unreadable files are skipped and reported, never fatal."""
    from raresound.audio import AudioWarning

    start = time.perf_counter()
    results, failures, warned = [], [], []
    for path, name in zip(paths, output_names(paths, full_paths)):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", AudioWarning)
                result = detector.detect_file(path, name)
            warned.extend((str(path), " ".join(str(w.message).split())) for w in caught
                          if issubclass(w.category, AudioWarning))
        except RaresoundError as exc:
            failures.append((str(path), getattr(exc, "reason", None) or str(exc)))
            continue
        results.append(result)
        if on_result is not None:
            on_result(result)
    return BatchReport(results, failures, warned, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Outputs


def write_events(results: Sequence[FileDetection], path: str | Path) -> Path:
    """DCASE event list (tab-separated filename, onset, offset, event_label; no header)."""
    from raresound.evaluation.events import Event, write_event_list

    events = [Event(r.filename, e.onset, e.offset, e.event_label) for r in results for e in r.events]
    return write_event_list(events, path)


def write_json_report(results: Sequence[FileDetection], path: str | Path, detector: WindowDetector,
                      failures: Sequence[tuple[str, str]] = (), with_scores: bool = True) -> Path:
    from raresound.io import write_json

    g = detector.grid
    write_json(path, {
        "bundle": str(detector.bundle.path) if detector.bundle.path else None,
        "classes": detector.classes,
        "thresholds": dict(zip(detector.classes, detector.thresholds.tolist())),
        "window_seconds": g.window_seconds, "hop_seconds": g.hop_seconds,
        "median": detector.median, "min_gap": detector.min_gap,
        "files": [r.to_dict(with_scores) for r in results],
        "skipped": [{"path": p, "reason": reason} for p, reason in failures],
    })
    return Path(path)


def write_scores_csv(results: Sequence[FileDetection], path: str | Path, detector: WindowDetector) -> Path:
    """Per-window scores: filename, window, start, end, one column per class."""
    from raresound.io import write_text

    T = detector.grid.window_seconds
    lines = [",".join(["filename", "window", "start", "end", *detector.classes])]
    for r in results:
        for k, (t, row) in enumerate(zip(r.window_starts, r.scores)):
            lines.append(",".join([r.filename, str(k), repr(float(t)), repr(float(t + T)),
                                   *(f"{float(v):.6g}" for v in row)]))
    write_text(path, "\n".join(lines) + "\n")
    return Path(path)


__all__ = [
    "BatchReport", "DecisionEngine", "DetectedEvent", "EventTracker", "FileDetection", "FrontEnd",
    "MedianFilter", "WindowDetector", "WindowGrid", "detect_files", "output_names", "parse_threshold_args",
    "resolve_thresholds", "sort_events", "write_events", "write_json_report", "write_scores_csv",
]
