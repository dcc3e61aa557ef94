"""Framing: the window grid and the block-wise log-mel front end shared by offline detection
(`raresound.detect`) and streaming (`raresound.streaming`).

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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from raresound.errors import ConfigError
from raresound.features import FeatureConfig, LogMel

# Feature blocks hold at least this many frames (0.5 s at a 10 ms hop): fewer LogMel calls offline;
# in streaming a block is computed once its samples have arrived, so this bounds the added latency.
MIN_BLOCK_FRAMES = 50


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
            raise ConfigError("detect.hop", f"{hop_seconds} s is longer than the {cfg.seconds(W)} s window")
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


class FrameStream:
    """Samples in (any chunk sizes), normalised frames out, one feature block at a time: block j is
    computed, with `FrontEnd.block`, as soon as its last sample (plus P of context) has arrived, so
    the frames are bit-identical to `FrontEnd.frames` on the whole signal. Holds at most one block's
    samples plus 2 * P plus the pushed chunk (`peak_samples`)."""

    def __init__(self, frontend: FrontEnd):
        self.frontend = frontend
        self.grid = g = frontend.grid
        # _wave[0] is global sample _wave_base; the signal is zero before sample 0.
        self._wave = np.zeros(g.context, dtype=np.float32)
        self._wave_base = -g.context
        self.n_samples = 0  # received
        self.n_blocks = 0  # computed
        self.peak_samples = 0
        self.seconds_computing = 0.0

    @property
    def n_frames(self) -> int:
        """Frames computed so far (whole blocks)."""
        return self.n_blocks * self.grid.block_frames

    def push(self, samples: np.ndarray) -> list[torch.Tensor]:
        """Append samples at the model rate; returns the newly computed blocks ([B, M] each)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if samples.size:
            self._wave = np.concatenate([self._wave, samples])
            self.n_samples += samples.size
            self.peak_samples = max(self.peak_samples, self._wave.size)
        g = self.grid
        blocks = []
        while (self.n_blocks + 1) * g.block_samples + g.context <= self.n_samples:
            blocks.append(self._compute_block())
        self._drop_used_samples()
        return blocks

    def finish(self, n_frames: int) -> list[torch.Tensor]:
        """The blocks still missing for the first `n_frames` frames (zeros after the last sample)."""
        blocks = []
        while self.n_blocks * self.grid.block_frames < n_frames:
            blocks.append(self._compute_block())
        return blocks

    def _compute_block(self) -> torch.Tensor:
        g = self.grid
        start = self.n_blocks * g.block_samples - g.context - self._wave_base
        segment = self._wave[start : start + g.segment_samples]
        if segment.size < g.segment_samples:  # only at the end of the stream: zeros after it
            segment = np.pad(segment, (0, g.segment_samples - segment.size))
        started = time.perf_counter()
        block = self.frontend.block(segment)
        self.seconds_computing += time.perf_counter() - started
        self.n_blocks += 1
        return block

    def _drop_used_samples(self) -> None:
        # Once per push, not per block: a long pushed chunk is then copied once, not once per block.
        keep_from = self.n_blocks * self.grid.block_samples - self.grid.context  # first sample still needed
        drop = keep_from - self._wave_base
        if drop > 0:
            self._wave = self._wave[drop:].copy()
            self._wave_base = keep_from
