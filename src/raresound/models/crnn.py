"""CRNN backbone for sound event detection on strong labels: conv blocks with frequency pooling, a
(bi)directional GRU over time, one output vector per step.

The design of the systems that won DCASE 2017 Task 2 (Lim et al.; Cakir et al.'s CRNN): a few 3x3
conv blocks (conv, max-pool, batch norm, ReLU) that pool the mel axis away and the time axis down
to the frame hop of the outputs, then a GRU that sees the whole sequence, then a per-step sigmoid
head (the detector's frame head). Defaults: 16/32/64 channels, time pools 2, 2, 1 (a 40-ms step
from 10-ms frames) and mel pools 4, 4, 4 (64 bands -> 1), GRU of 64 units per direction.

`bidirectional=False` is the causal variant for streaming: the GRU runs forward only, so its state
is carried from chunk to chunk (`sequence(x, state)`), and the convolutions look ahead only their
receptive field (`lookahead_frames`), which `detection.onepass.CRNNSteps` supplies as context. The
bidirectional GRU needs the whole signal: offline detection runs it once over all steps.

The clip view (`forward`, `pool`) max-pools the per-step outputs over time, so a CRNN bundle also
gives clip scores (the hop grid's windows in `detect`), like the paper's backbones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raresound.models.errors import ParameterError


def _check_ints(name: str, values, low: int) -> tuple[int, ...]:
    values = tuple(values)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in values):
        raise ParameterError(name, f"must be a non-empty list of integers >= {low}, got {list(values)!r}")
    return values


class CRNN(nn.Module):
    def __init__(self, n_mels: int = 64, channels=(16, 32, 64), time_pools=(2, 2, 1), freq_pools=(4, 4, 4),
                 hidden_size: int = 64, bidirectional: bool = True, dropout: float = 0.2,
                 normalize: bool = False):
        super().__init__()
        channels = _check_ints("channels", channels, 1)
        time_pools = _check_ints("time_pools", time_pools, 1)
        freq_pools = _check_ints("freq_pools", freq_pools, 1)
        if not len(channels) == len(time_pools) == len(freq_pools):
            raise ParameterError("channels", "channels, time_pools and freq_pools need one entry per conv block")
        bands = n_mels
        for p in freq_pools:
            bands //= p
        if bands < 1:
            raise ParameterError("freq_pools", f"pool {n_mels} mel bands below one band: {list(freq_pools)}")
        if not isinstance(hidden_size, int) or hidden_size < 1:
            raise ParameterError("hidden_size", f"must be an integer >= 1, got {hidden_size!r}")
        if not 0 <= float(dropout) < 1:
            raise ParameterError("dropout", f"must be in [0, 1), got {dropout!r}")
        self.n_mels = n_mels
        self.bidirectional = bool(bidirectional)
        self.normalize = normalize
        self.time_pools = time_pools
        blocks, c_in = [], 1
        for c, tp, fp in zip(channels, time_pools, freq_pools):
            # pool before batch norm and ReLU: the same receptive field and step, and BN + ReLU (and
            # their backward passes) run on 1/(tp*fp) of the values, which halves a CPU training step
            blocks += [nn.Conv2d(c_in, c, 3, padding=1), nn.MaxPool2d((tp, fp)), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        # Channels-last conv weights: oneDNN then keeps the activations channels-last, the same values
        # at half the CPU time of the conv front (benchmarks/detect.py). Saved weights are contiguous
        # (the bundle and checkpoints write .contiguous()); loading copies into this layout.
        self.conv = nn.Sequential(*blocks).to(memory_format=torch.channels_last)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(c_in * bands, hidden_size, batch_first=True, bidirectional=self.bidirectional)
        self.embedding_dim = hidden_size * (2 if self.bidirectional else 1)

    @property
    def step_frames(self) -> int:
        """Feature frames per output step (the product of the time pools)."""
        s = 1
        for p in self.time_pools:
            s *= p
        return s

    @property
    def lookahead_frames(self) -> int:
        """A bound on how many frames beyond a step's own frames its conv output depends on, on either
        side: block i (input scale s_i frames per position, pool p_i) reaches one input position by
        its 3x3 conv and p_i - 1 more by its pooling, i.e. at most p_i * s_i = s_{i+1} frames. A chunk
        extended by this much real context computes its interior steps exactly as one convolution over
        the whole signal (tests/test_crnn.py)."""
        reach, scale = 0, 1
        for p in self.time_pools:
            scale *= p
            reach += scale
        return reach

    def conv_steps(self, x: Tensor) -> Tensor:
        """Frames [B, F, M] -> conv features per step [B, F // step_frames, C * bands]."""
        if x.dim() != 3 or x.shape[-1] != self.n_mels:
            raise ParameterError("n_mels", f"mismatch: CRNN expects features [batch, frames, {self.n_mels}], "
                                           f"got shape {tuple(x.shape)}")
        if x.shape[1] < self.step_frames:
            raise ParameterError("n_frames", f"too small: CRNN steps need at least {self.step_frames} frames, "
                                             f"got {x.shape[1]}")
        y = self.conv(x.unsqueeze(1))  # [B, C, S, bands]
        return y.permute(0, 2, 1, 3).flatten(2)

    def recur(self, steps: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Conv features per step [B, S, D_conv] -> (GRU outputs [B, S, embedding_dim], final state)."""
        return self.gru(self.dropout(steps), state)

    def sequence(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Frames [B, F, M] -> (per-step outputs [B, F // step_frames, embedding_dim], GRU state)."""
        return self.recur(self.conv_steps(x), state)

    def pool(self, steps: Tensor) -> Tensor:
        """Per-step outputs [B, S, D] -> the clip embedding [B, D] (max over time)."""
        e = steps.amax(dim=1)
        return F.normalize(e, dim=1) if self.normalize else e

    def pool_windows(self, steps: Tensor, width: int, hop: int) -> Tensor:
        """One signal's per-step outputs [S, D] -> clip embeddings [n, D] of its windows."""
        return self.pool(steps.unfold(0, width, hop).movedim(-1, 1))

    def step_embeddings(self, steps: Tensor) -> Tensor:
        return F.normalize(steps, dim=-1) if self.normalize else steps

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.sequence(x)[0])
