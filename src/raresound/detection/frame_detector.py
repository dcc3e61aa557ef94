"""Frame-level detection in one pass: audio -> frames -> backbone steps -> frame scores -> events.

For a bundle with a frame head (`raresound train-frames`). The signal is framed block by block
(`framing.FrameStream`), the backbone runs over it once (`onepass.OnePassScorer`), every step gets
per-class scores from the frame head, and the clip scores of the hop grid's windows come out of the
same pass. Events are runs of steps whose score is >= the class's frame threshold (after an optional
median filter over `median` steps), merged across gaps <= min_gap: step s covers
[s * step, (s + 1) * step), so an event is [first step's start, last step's end), clipped to the
file: window detection's rules on a grid whose "windows" are steps, vectorised per block
(`frame_events.FrameEventDecoder`).

Offline and streaming share one `FrameStreamer`; offline files are framed in long blocks (fewer
LogMel calls), streams in short ones (latency). Frames then agree to float rounding (the GEMMs group
differently), not bit for bit.

Streaming latency: an event is printed at most `latency_bound` seconds of audio after its offset:
block + P (framing) + the backbone's look-ahead (CNN: 5 steps = 0.25 s; LSTM: one step) + the median
filter's median // 2 steps + min_gap + the read chunk.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from raresound.bundle import Bundle
from raresound.detection.framing import FrameStream, FrontEnd, WindowGrid
from raresound.detection.onepass import OnePassScorer, steps_runner
from raresound.detection.frame_events import frame_decoder
from raresound.detection.postprocess import DetectedEvent, MedianFilter, resolve_thresholds, sort_events
from raresound.errors import AudioError, DataError
from raresound.features import low_rate_note
from raresound.models.factory import frame_scores_from_logits, scores_from_logits

OFFLINE_BLOCK_FRAMES = 2000  # 20 s per LogMel call for files (= the decode block)
STREAM_BLOCK_FRAMES = 10  # 0.1 s for live streams: bounds the framing latency
DEFAULT_FRAME_THRESHOLD = 0.5


def frame_thresholds(bundle: Bundle, override: float | Mapping[str, float] | None = None) -> np.ndarray:
    """Per-class frame thresholds: the override, else those chosen when the frame head was trained
    (`info.frame_thresholds`), else 0.5."""
    return resolve_thresholds(bundle, override, stored=bundle.info.get("frame_thresholds") or {},
                              default=DEFAULT_FRAME_THRESHOLD)


class FrameDetector:
    """A bundle with a frame head applied to long audio in one pass (module doc)."""

    def __init__(self, bundle: Bundle, hop: float = 1.0, thresholds: float | Mapping[str, float] | None = None,
                 median: int | None = None, min_gap: float | None = None, min_duration: float | None = None):
        if not bundle.model.has_frame_head:
            raise DataError(f"{bundle.path or 'bundle'}: has no frame-level head; train one with "
                            "`raresound train-frames` or detect with sliding windows")
        self.bundle = bundle
        self.classes = list(bundle.classes)
        self.config = bundle.feature_config
        self.grid = WindowGrid.for_config(self.config, hop)
        self.model = bundle.model.eval()
        self.step_frames = self.model.step_frames
        self.step_seconds = self.config.seconds(self.step_frames)
        self.thresholds = frame_thresholds(bundle, thresholds)
        # None: the post-processing stored with the frame head: per class when it was tuned on
        # validation events (detection/tuning.py), else one setting (training/frames.py); medians in steps
        stored = dict(bundle.info.get("frames") or {})
        per_class = stored.get("postprocessing") or {}

        def stored_value(c: str, name: str):
            return per_class.get(c, {}).get(name, stored.get(name, 0.0))

        n = len(self.classes)
        if median is not None:
            self.medians = [median] * n
        else:  # tuned medians are kept in steps (exact); the frame-head default in seconds
            self.medians = [int(per_class[c]["median_steps"]) if "median_steps" in per_class.get(c, {})
                            else 2 * int(round(float(stored_value(c, "median")) / self.step_seconds / 2)) + 1
                            for c in self.classes]
        self.min_gaps = [float(min_gap)] * n if min_gap is not None else \
            [float(stored_value(c, "min_gap")) for c in self.classes]
        self.min_durations = [float(min_duration)] * n if min_duration is not None else \
            [float(stored_value(c, "min_duration")) for c in self.classes]
        for m in self.medians:
            MedianFilter(m)  # validate now
        self.median = max(self.medians)
        self.min_gap = max(self.min_gaps)
        self.decoder()  # validates min_gap / min_duration now
        OnePassScorer(self.model, self.grid)  # checks the hop against the step

    def decoder(self):
        return frame_decoder(self.step_seconds, self.classes, self.thresholds, self.medians, self.min_gaps,
                             self.min_durations)

    def streamer(self, block_frames: int = STREAM_BLOCK_FRAMES, keep_scores: bool = False) -> "FrameStreamer":
        return FrameStreamer(self, block_frames, keep_scores)

    def latency_bound(self, chunk_seconds: float = 0.0, block_frames: int = STREAM_BLOCK_FRAMES) -> float:
        frame = self.config.seconds(1)
        grid = self._grid(block_frames)
        ahead = steps_runner(self.model.backbone).LOOKAHEAD_STEPS * self.step_seconds
        return (block_frames * frame + grid.context / grid.sample_rate + ahead
                + (self.median // 2) * self.step_seconds + self.min_gap + float(chunk_seconds))

    def _grid(self, block_frames: int) -> WindowGrid:
        return dataclasses.replace(self.grid, block_frames=int(block_frames))

    def detect_wave(self, wave: np.ndarray, sr: int, filename: str = "", path: str = ""):
        from raresound.audio import waveform

        started = time.perf_counter()
        wave = waveform(wave, sr, self.grid.sample_rate, path or filename or "audio",
                        mel_note=low_rate_note(self.config))
        s = self.streamer(OFFLINE_BLOCK_FRAMES, keep_scores=True)
        events = s.push(wave) + s.finish()
        return s.result(filename, path, events, time.perf_counter() - started)

    def detect_file(self, path: str | Path, filename: str | None = None):
        from raresound.audio import read_blocks
        from raresound.detect import FILE_BLOCK_SECONDS

        started = time.perf_counter()
        s = self.streamer(OFFLINE_BLOCK_FRAMES, keep_scores=True)
        events: list[DetectedEvent] = []
        for block in read_blocks(path, sr=self.config.sample_rate, block_seconds=FILE_BLOCK_SECONDS,
                                 mel_note=low_rate_note(self.config)):
            events.extend(s.push(block))
        events.extend(s.finish())
        name = filename if filename is not None else Path(path).name
        return s.result(name, str(path), events, time.perf_counter() - started)


class FrameStreamer:
    """push(samples at the model rate) -> newly confirmed events; finish() -> the rest."""

    def __init__(self, detector: FrameDetector, block_frames: int, keep_scores: bool):
        self.detector = d = detector
        self.grid = d._grid(block_frames)
        self._frames = FrameStream(FrontEnd(d.config, d.bundle.normalizer, self.grid))
        self._scorer = OnePassScorer(d.model, self.grid)
        self._engine = d.decoder()
        self.frame_scores: list[np.ndarray] | None = [] if keep_scores else None
        self.window_scores: list[np.ndarray] | None = [] if keep_scores else None
        self.n_steps = 0  # steps scored (and decided)
        self._finished = False

    @property
    def seconds(self) -> float:
        return self._frames.n_samples / self.grid.sample_rate

    @property
    def n_windows(self) -> int:
        return self._scorer.n_windows

    @property
    def peak_samples(self) -> int:
        return self._frames.peak_samples

    @property
    def peak_frames(self) -> int:
        return self.grid.block_frames

    @property
    def timings(self) -> dict:
        return {"features": self._frames.seconds_computing, "network": self._scorer.timings["network"]}

    def push(self, samples: np.ndarray) -> list[DetectedEvent]:
        if self._finished:
            raise RuntimeError("FrameStreamer.push after finish()")
        events: list[DetectedEvent] = []
        for block in self._frames.push(samples):
            events += self._take(*self._scorer.push(block), limit_steps=None)
        return events

    def finish(self) -> list[DetectedEvent]:
        if self._finished:
            return []
        self._finished = True
        n = self._frames.n_samples
        if n == 0:
            return []
        g = self.grid
        file_steps = -(-g.n_frames(n) // self.detector.step_frames)
        events: list[DetectedEvent] = []
        pushed = self._frames.n_frames  # every block so far went to the scorer
        blocks = self._frames.finish(g.frames_needed(n))
        if blocks:  # the last block may run past the frames the windows need: not scored
            tail = torch.cat(blocks)[: max(0, g.frames_needed(n) - pushed)]
            events += self._take(*self._scorer.push(tail), limit_steps=file_steps)
        events += self._take(*self._scorer.finish(g.n_windows(n)), limit_steps=file_steps)
        return events + self._engine.finish(n / g.sample_rate)

    def _take(self, frame_logits, window_logits, limit_steps: int | None) -> list[DetectedEvent]:
        events: list[DetectedEvent] = []
        if window_logits is not None and self.window_scores is not None:
            self.window_scores.append(scores_from_logits(window_logits, self.detector.bundle.spec).numpy())
        if frame_logits is None:
            return events
        scores = frame_scores_from_logits(frame_logits).numpy()
        if limit_steps is not None:  # steps that start after the file's last frame are padding
            scores = scores[: max(0, limit_steps - self.n_steps)]
        self.n_steps += scores.shape[0]
        if self.frame_scores is not None:
            self.frame_scores.append(scores)
        return self._engine.push(scores)

    def _check_scored(self, where: str) -> None:
        """An AudioError for audio shorter than one feature frame (a 1-sample file): it has no step to
        score, and a batch must skip and list it (its score file would have no rows), not fail at the
        end after writing the other files' outputs."""
        if self.n_steps == 0:
            hop_ms = 1000 * self.grid.frame_hop / self.grid.sample_rate
            raise AudioError(where, f"{self._frames.n_samples} sample(s) at {self.grid.sample_rate} Hz is shorter "
                                    f"than one {hop_ms:g}-ms feature frame: nothing to score")

    def result(self, filename: str, path: str, events: list[DetectedEvent], seconds: float):
        from raresound.detect import FileDetection

        self._check_scored(path or filename or "audio")
        L = len(self.detector.classes)
        windows = np.concatenate(self.window_scores) if self.window_scores else np.zeros((0, L), np.float32)
        frames = np.concatenate(self.frame_scores) if self.frame_scores else np.zeros((0, L), np.float32)
        starts = np.array([self.grid.window_start(k) for k in range(windows.shape[0])])
        t = self.timings
        return FileDetection(filename, path, self.seconds, sort_events(events), starts, windows,
                             {"decode": max(0.0, seconds - t["features"] - t["network"]), **t, "events": 0.0},
                             frame_scores=frames, step_seconds=self.detector.step_seconds)
