"""Long-file sliding-window detection with a trained bundle: windows -> scores -> decisions -> events.

One pipeline serves offline files and live streams (`raresound.streaming` pushes the same objects
incrementally), so both give the same events on the same audio.

The framing convention (window grid, feature blocks) and how `detect_wave` / `detect_file` use it
are documented in `raresound.detection.framing`, decisions and the event formula in
`raresound.detection.postprocess`, output formats in `raresound.detection.outputs`; every name
they define is re-exported here.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from raresound.bundle import Bundle
from raresound.detection.framing import MIN_BLOCK_FRAMES, FrontEnd, WindowGrid
from raresound.detection.outputs import (output_names, parse_threshold_args, write_events, write_json_report,
                                         write_scores_csv)
from raresound.detection.postprocess import (DecisionEngine, DetectedEvent, EventTracker, MedianFilter,
                                             resolve_thresholds, sort_events)
from raresound.errors import ConfigError, DataError, RaresoundError
from raresound.features import low_rate_note
from raresound.models.factory import scores_from_logits
from raresound.streaming import StreamingDetector

# Offline files are decoded this many seconds at a time: memory stays bounded (one block plus the
# streaming buffers) whatever the file's length.
FILE_BLOCK_SECONDS = 20.0
WINDOW_BATCH = 64  # windows per network call


@dataclass
class FileDetection:
    filename: str
    path: str
    duration: float
    events: list[DetectedEvent]
    window_starts: np.ndarray  # [n_windows] seconds
    scores: np.ndarray  # [n_windows, L]
    timings: dict = field(default_factory=dict)  # seconds: decode, features, network, events
    frame_scores: np.ndarray | None = None  # [n_steps, L] from a frame head (detection.frame_detector)
    step_seconds: float | None = None  # step k of frame_scores covers [k * step, (k + 1) * step)

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
                 median: int = 1, min_gap: float = 0.0, batch: int = WINDOW_BATCH):
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

    def streamer(self, chunk_seconds: float = 0.0):
        return StreamingDetector(self)

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
        wave = waveform(wave, sr, g.sample_rate, path or filename or "audio", mel_note=low_rate_note(self.config))
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

        started = time.perf_counter()
        sd = StreamingDetector(self, align=self.batch, keep_scores=True)
        events: list[DetectedEvent] = []
        for block in read_blocks(path, sr=self.config.sample_rate, block_seconds=FILE_BLOCK_SECONDS,
                                 mel_note=low_rate_note(self.config)):
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


__all__ = [
    "MIN_BLOCK_FRAMES", "BatchReport", "DecisionEngine", "DetectedEvent", "EventTracker", "FileDetection", "FrontEnd",
    "MedianFilter", "WindowDetector", "WindowGrid", "detect_files", "output_names", "parse_threshold_args",
    "resolve_thresholds", "sort_events", "write_events", "write_json_report", "write_scores_csv",
]
