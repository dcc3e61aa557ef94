"""Streaming detection: audio arrives in chunks of any size; events are reported once confirmed.

`StreamingDetector` runs the offline pipeline of `raresound.detect` incrementally, with the same
objects: feature block j (the shared `LogMel` on samples [j*B*hop - P, (j+1)*B*hop + P)) is computed
as soon as its last sample has arrived, a window is scored as soon as its frames exist, and window
decisions go through the same `DecisionEngine` (median filter + event tracker). Features are
therefore bit-identical to the offline ones; scores can differ from offline only by float rounding
of the network (windows are batched differently), so events are the same unless a score sits
within ~1e-6 of a threshold.

Memory is bounded and independent of the stream length: the samples of one feature block plus
2 * P context plus one input chunk; at most W + B frames (one window plus one block) of features;
the median filter's `median` windows; and per class one open run and one pending event.

Latency. An event is confirmed (printed) when the window after its last positive window has been
decided and no later window can merge into it (min_gap). In audio time it is printed at most

    min_gap + (median // 2) * hop + window + block + P + chunk

after its reported offset (block = B frames = the feature block, <= max(hop, 0.5 s) rounded up to a
whole hop; P = n_fft/2 rounded up to a frame = 20 ms by default), see `latency_bound`. Since the
reported offset lies within one hop after the true one (for the two limiting detector behaviours of
`raresound.detection.postprocess`), that is at most one more hop after the event really ends; with the defaults
(10 s window, 1 s hop, no median/min-gap, 0.5 s chunks) about 12.5 s. Events still open when the
stream ends are printed at its end.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Callable

import numpy as np
import torch

from raresound.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from raresound.detection.framing import FrameStream, WindowGrid
from raresound.detection.postprocess import DetectedEvent
from raresound.errors import ConfigError

if TYPE_CHECKING:  # annotations only: raresound.detect builds its detectors on this module
    from raresound.detect import WindowDetector


def latency_bound(grid: WindowGrid, median: int = 1, min_gap: float = 0.0, chunk_seconds: float = 0.0) -> float:
    """Upper bound (seconds of audio) between an event's reported offset and the moment the
    streaming detector reports it (for events confirmed before the stream ends)."""
    frame = grid.frame_hop / grid.sample_rate
    return (float(min_gap) + (median // 2) * grid.hop_seconds + grid.window_seconds + grid.block_frames * frame
            + grid.context / grid.sample_rate + float(chunk_seconds))


class StreamingDetector:
    """push(samples at the model rate) -> newly confirmed events; finish() -> the rest.

    `align` > 1 scores windows only in whole groups of `align` (until finish): with align = the
    detector's batch, every network batch holds the same windows as in `WindowDetector.detect_wave`,
    so scores are bit-identical to it (offline files use this). `keep_scores` keeps every window's
    scores in `scores` (n_windows x L floats: small next to the audio)."""

    def __init__(self, detector: WindowDetector, align: int = 1, keep_scores: bool = False):
        self.detector = detector
        self.align = align
        self.scores: list[np.ndarray] | None = [] if keep_scores else None
        self.timings = {"features": 0.0, "network": 0.0}
        self.grid = detector.grid
        self._engine = detector.engine()
        self._stream = FrameStream(detector.frontend)
        self._frames = torch.empty(0, detector.config.n_mels)
        self._frame_base = 0  # global frame index of _frames[0]
        self._next_window = 0
        self._finished = False
        self.peak_frames = 0

    @property
    def peak_samples(self) -> int:
        """Largest sample buffer held (for the memory bound)."""
        return self._stream.peak_samples

    @property
    def seconds(self) -> float:
        """Audio received so far, in seconds."""
        return self._stream.n_samples / self.grid.sample_rate

    @property
    def n_windows(self) -> int:
        return self._next_window

    def push(self, samples: np.ndarray) -> list[DetectedEvent]:
        if self._finished:
            raise RuntimeError("StreamingDetector.push after finish()")
        self._add_frames(self._stream.push(samples))
        return self._score_ready(limit=None)

    def finish(self) -> list[DetectedEvent]:
        if self._finished:
            return []
        self._finished = True
        n = self._stream.n_samples
        if n == 0:
            return []
        g = self.grid
        self._add_frames(self._stream.finish(g.frames_needed(n)))
        events = self._score_ready(limit=g.n_windows(n))
        return events + self._engine.finish(n / g.sample_rate)

    def _add_frames(self, blocks: list[torch.Tensor]) -> None:
        self.timings["features"] = self._stream.seconds_computing
        if blocks:
            self._frames = torch.cat([self._frames, *blocks])
            self.peak_frames = max(self.peak_frames, self._frames.shape[0])

    def _score_ready(self, limit: int | None) -> list[DetectedEvent]:
        g = self.grid
        available = self._frame_base + self._frames.shape[0]
        last = (available - g.window_frames) // g.hop_frames  # last window whose frames all exist
        if limit is not None:
            last = min(last, limit - 1)
        else:  # whole groups of `align` windows only
            last = self._next_window - 1 + (last + 1 - self._next_window) // self.align * self.align
        events: list[DetectedEvent] = []
        if last < self._next_window:
            return events
        lo = self._next_window * g.hop_frames - self._frame_base
        span = self._frames[lo : lo + (last - self._next_window) * g.hop_frames + g.window_frames]
        windows = span.unfold(0, g.window_frames, g.hop_frames).transpose(1, 2)
        started = time.perf_counter()
        scores = self.detector.score_windows(windows)
        self.timings["network"] += time.perf_counter() - started
        if self.scores is not None:
            self.scores.append(scores)
        for row in scores:
            events.extend(self._engine.push(row))
        self._next_window = last + 1
        drop = self._next_window * g.hop_frames - self._frame_base
        if drop > 0:
            self._frames = self._frames[drop:].clone()
            self._frame_base += drop
        return events


@dataclass
class StreamSummary:
    seconds: float  # audio received, at the input rate
    n_events: int
    n_windows: int
    wall_seconds: float
    trailing_bytes: int  # an odd byte at the end of the input (ignored)
    peak_samples: int
    peak_frames: int


# A chunk is read whole before it is processed: larger ones only add latency (and memory, 1e12 s
# asks for TBs); a minute is far beyond any useful read size.
MAX_CHUNK_SECONDS = 60.0


def check_stream_options(rate: int, chunk_seconds: float) -> None:
    if not isinstance(rate, int) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ConfigError("rate", f"must be an integer between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, got {rate!r}")
    if not (isinstance(chunk_seconds, (int, float)) and math.isfinite(chunk_seconds)
            and 0 < chunk_seconds <= MAX_CHUNK_SECONDS):
        raise ConfigError("chunk_seconds", f"must be a number in (0, {MAX_CHUNK_SECONDS:g}], got {chunk_seconds!r}")


def run_pcm_stream(detector: WindowDetector, stream: BinaryIO, rate: int = 16000, chunk_seconds: float = 0.5,
                   emit: Callable[[DetectedEvent, float], None] | None = None) -> StreamSummary:
    """Read raw 16-bit little-endian mono PCM at `rate` Hz from `stream` until EOF, resampling to the
    model rate with soxr's streaming resampler when needed, and call `emit(event, confirmed_at)`
    for every event as soon as it is confirmed (`confirmed_at` = seconds of audio received)."""
    import soxr

    check_stream_options(rate, chunk_seconds)
    sr = detector.grid.sample_rate
    resampler = soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="HQ") if rate != sr else None
    chunk_bytes = 2 * max(1, int(round(chunk_seconds * rate)))
    sd = detector.streamer()
    started = time.perf_counter()
    leftover = b""
    n_in = n_events = 0

    def handle(events):
        nonlocal n_events
        for event in events:
            n_events += 1
            if emit is not None:
                emit(event, n_in / rate)

    while True:
        data = stream.read(chunk_bytes)
        if not data:
            break
        data = leftover + data
        usable = len(data) - len(data) % 2
        leftover = data[usable:]
        x = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / np.float32(32768.0)
        n_in += x.size
        if resampler is not None:
            x = resampler.resample_chunk(x)
        handle(sd.push(x))
    if resampler is not None:
        handle(sd.push(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)))
    handle(sd.finish())
    return StreamSummary(n_in / rate, n_events, sd.n_windows, time.perf_counter() - started, len(leftover),
                         sd.peak_samples, sd.peak_frames)
