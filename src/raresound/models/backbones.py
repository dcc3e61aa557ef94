"""Embedding backbones: features [B, F, M] (frames x mel bands) -> embedding [B, D].

The learned backbones (LSTM, CNN) L2-normalise their output by default because the clustered-embedding
loss (THCE) compares embeddings to unit-norm centroids by cosine similarity. `StatsPooling` learns
nothing: it is the reference probe's fixed front end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raresound.models.errors import ParameterError

LSTM_POOLINGS = ("max", "mean", "last")


def _windows(steps: Tensor, width: int, hop: int) -> Tensor:
    """Per-step outputs [S, ...] -> the windows of `width` steps every `hop` steps, [n, width, ...] (a view)."""
    return steps.unfold(0, width, hop).movedim(-1, 1)


def _check_features(x: Tensor, n_mels: int, who: str) -> None:
    if x.dim() != 3 or x.shape[-1] != n_mels:
        raise ParameterError(
            "n_mels",
            f"mismatch: {who} expects features [batch, frames, {n_mels}], got shape {tuple(x.shape)}",
        )


class LSTMBackbone(nn.Module):
    """One-layer LSTM over frames; the embedding pools its outputs over time.

    The paper says only "a single LSTM layer with 128 nodes". How the sequence becomes one vector
    decides whether it learns: with `pooling="last"` (the final hidden state) a rare 0.1-4 s event
    early in a 1000-frame clip must survive hundreds of recurrent steps, and measured here the
    detector stayed at chance (test EER 47-55 %) for 6 epochs where `"max"` (max over time of the
    outputs, as in max-pooled SED systems) reached 9 % (docs/learning.md). "max" is the default.

    `time_pool` > 1 averages that many consecutive frames before the LSTM (a 40-ms step for 4):
    a reduced-cost departure from the paper's 10-ms steps for CPU schedules, off (1) by default.
    """

    def __init__(self, n_mels: int = 64, hidden_size: int = 128, pooling: str = "max",
                 normalize: bool = True, time_pool: int = 1):
        super().__init__()
        if pooling not in LSTM_POOLINGS:
            raise ParameterError("pooling", f"must be one of {LSTM_POOLINGS}, got {pooling!r}")
        if not isinstance(time_pool, int) or time_pool < 1:
            raise ParameterError("time_pool", f"must be an integer >= 1, got {time_pool!r}")
        self.n_mels = n_mels
        self.pooling = pooling
        self.normalize = normalize
        self.time_pool = time_pool
        self.embedding_dim = hidden_size
        self.lstm = nn.LSTM(n_mels, hidden_size, num_layers=1, batch_first=True)

    @property
    def step_frames(self) -> int:
        """Feature frames per step of `sequence` (the time resolution of frame-level outputs)."""
        return self.time_pool

    def sequence(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Frames [B, F, M] -> (LSTM outputs per step [B, ceil(F / time_pool), H], final (h, c)).

        Passing the returned state with the next chunk of frames continues the sequence: a long
        signal fed chunk by chunk (each a whole number of steps) gives the outputs of one pass."""
        _check_features(x, self.n_mels, "LSTMBackbone")
        if self.time_pool > 1:
            # ceil_mode keeps a short trailing group instead of dropping its frames
            x = F.avg_pool1d(x.transpose(1, 2), self.time_pool, ceil_mode=True).transpose(1, 2)
        outputs, state = self.lstm(x, state)
        return outputs, state

    def pool(self, steps: Tensor) -> Tensor:
        """Per-step outputs [B, S, H] -> the clip embedding [B, H] (the backbone's pooling)."""
        if self.pooling == "last":
            e = steps[:, -1]  # one layer: the last output is the final hidden state
        elif self.pooling == "mean":
            e = steps.mean(dim=1)
        else:
            e = steps.amax(dim=1)
        return F.normalize(e, dim=1) if self.normalize else e

    def pool_windows(self, steps: Tensor, width: int, hop: int) -> Tensor:
        """Per-step outputs [S, H] -> clip embeddings [n, H] of the windows steps [k*hop, k*hop + width)
        that `steps` holds: `pool` of each window. With max pooling and hop dividing width, from the
        hop-blocks' maxima instead, so each step is read once, not width/hop times (exact: max is
        associative)."""
        if self.pooling != "max" or width % hop:
            return self.pool(_windows(steps, width, hop))
        n = (steps.shape[0] - width) // hop + 1
        blocks = steps[: (n - 1 + width // hop) * hop].reshape(-1, hop, steps.shape[-1]).amax(dim=1)
        e = blocks.unfold(0, width // hop, 1).amax(dim=-1)
        return F.normalize(e, dim=1) if self.normalize else e

    def step_embeddings(self, steps: Tensor) -> Tensor:
        """[B, S, H] -> [B, S, D]: each step embedded as a clip whose pooled output is that step's."""
        return F.normalize(steps, dim=-1) if self.normalize else steps

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.sequence(x)[0])


class PaperCNN(nn.Module):
    """The paper's two-block CNN. For 1000 x 64 input the flattened embedding has
    64 channels x (1000/5/100 = 2) x (64/4/4 = 4) = 512 dimensions.

    The flattened size depends on the frame count, so the network is built for one `n_frames`
    and rejects other lengths with a message naming the required count (crop/pad upstream).
    `channels_last=True` stores activations NHWC, which the oneDNN CPU convolutions prefer.
    """

    POOL1 = (5, 4)
    POOL2 = (100, 4)

    def __init__(self, n_mels: int = 64, n_frames: int = 1000, normalize: bool = True,
                 dropout: float = 0.3, channels_last: bool = False):
        super().__init__()
        out_frames = n_frames // self.POOL1[0] // self.POOL2[0]
        out_bands = n_mels // self.POOL1[1] // self.POOL2[1]
        if out_frames < 1:
            raise ParameterError("n_frames",
                                 f"too small: PaperCNN needs at least 500 frames (pools of 5 then 100), got {n_frames}")
        if out_bands < 1:
            raise ParameterError("n_mels",
                                 f"too small: PaperCNN needs at least 16 mel bands (pools of 4 then 4), got {n_mels}")
        self.n_mels = n_mels
        self.n_frames = n_frames
        self.normalize = normalize
        self.channels_last = channels_last
        self.embedding_dim = 64 * out_frames * out_bands
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=7, padding="same"),
            nn.ReLU(),
            nn.BatchNorm2d(32),
            nn.MaxPool2d(self.POOL1),
            nn.Dropout(dropout),
            nn.Conv2d(32, 64, kernel_size=7, padding="same"),
            nn.ReLU(),
            nn.BatchNorm2d(64),
            nn.MaxPool2d(self.POOL2),
            nn.Dropout(dropout),
        )
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        _check_features(x, self.n_mels, "PaperCNN")
        if x.shape[1] != self.n_frames:
            raise ParameterError(
                "n_frames",
                f"mismatch: PaperCNN was built for {self.n_frames} frames per clip but got {x.shape[1]}; "
                f"crop/pad clips to {self.n_frames} frames or build it with n_frames={x.shape[1]}",
            )
        x = x.unsqueeze(1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        # flatten via reshape: channels_last activations are not contiguous in NCHW order
        e = self.features(x).reshape(x.shape[0], -1)
        return F.normalize(e, dim=1) if self.normalize else e

    # -- frame-level view: the same network with its last time pooling postponed ----------------
    # The two conv blocks run over any number of frames (the convolutions are 'same'-padded); the
    # second max-pool is split into its frequency part (per step) and its time part (`pool`), and
    # max pooling is separable, so pool(sequence(x)) == forward(x) for a clip in eval mode.

    @property
    def step_frames(self) -> int:
        return self.POOL1[0]

    def sequence(self, x: Tensor, state=None) -> tuple[Tensor, None]:
        """Frames [B, F, M] (any F >= 5) -> (per-step features [B, F // 5, 64, M // 16], None).

        Convolutions see zeros beyond the given frames, as at a file's edges; streaming code
        (`detection.onepass`) feeds overlapping chunks so that interior steps are exact."""
        _check_features(x, self.n_mels, "PaperCNN")
        if x.shape[1] < self.POOL1[0]:
            raise ParameterError("n_frames", f"too small: PaperCNN steps need at least {self.POOL1[0]} frames, got {x.shape[1]}")
        x = x.unsqueeze(1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.features[:8](x)  # conv, ReLU, BN, pool, dropout, conv, ReLU, BN: [B, 64, F/5, M/4]
        y = F.max_pool2d(y, (1, self.POOL2[1]))  # the frequency half of the second pool
        return y.permute(0, 2, 1, 3), None  # [B, S, 64, M/16]

    def pool(self, steps: Tensor) -> Tensor:
        """Per-step features [B, n_frames // 5, 64, M // 16] -> the clip embedding (forward's)."""
        b, s, c, m = steps.shape
        t = s // self.POOL2[0]
        if t * self.POOL2[0] != s or t != self.n_frames // self.POOL1[0] // self.POOL2[0]:
            raise ParameterError("n_frames", f"mismatch: PaperCNN pools {self.n_frames // self.POOL1[0]} steps per clip, got {s}")
        e = steps.reshape(b, t, self.POOL2[0], c, m).amax(dim=2)  # [B, t, 64, M/16]
        e = e.permute(0, 2, 1, 3).reshape(b, -1)  # forward's (channel, time, band) order
        return F.normalize(e, dim=1) if self.normalize else e

    def pool_windows(self, steps: Tensor, width: int, hop: int) -> Tensor:
        """Per-step features [S, 64, M/16] -> clip embeddings of the windows steps [k*hop, k*hop + width)."""
        return self.pool(_windows(steps, width, hop))

    def step_embeddings(self, steps: Tensor) -> Tensor:
        """[B, S, 64, M/16] -> [B, S, D]: each step embedded as a clip made of that step repeated
        (both halves of the clip pool to it), so the embedding lives where clips' embeddings do."""
        b, s, c, m = steps.shape
        t = self.embedding_dim // (c * m)
        e = steps.unsqueeze(3).expand(b, s, c, t, m).reshape(b, s, -1)
        return F.normalize(e, dim=-1) if self.normalize else e


class StatsPooling(nn.Module):
    """Parameter-free clip statistics per mel band: [max - median, mean, std, 99th percentile] over
    frames -> embedding [B, 4 * n_mels] (statistic-major: all bands' first statistic, then the next).

    The reference probe's front end (training/probe.py): a linear model on these is a cheap, strong
    yardstick. Percentiles interpolate linearly between order statistics (numpy's default) and are
    taken from one sort, because `torch.quantile` does not export to ONNX. std is the population
    std (a one-frame clip gives 0, not NaN).
    """

    N_STATS = 4
    PEAK_QUANTILE = 0.99

    def __init__(self, n_mels: int = 64):
        super().__init__()
        self.n_mels = n_mels
        self.embedding_dim = self.N_STATS * n_mels

    @staticmethod
    def _quantile(ordered: Tensor, q: float) -> Tensor:
        """q-quantile along dim 1 of an ascending-sorted [B, F, M] tensor."""
        pos = q * (ordered.shape[1] - 1)
        lo = int(pos)
        hi = min(lo + 1, ordered.shape[1] - 1)
        frac = pos - lo
        return ordered[:, lo] * (1.0 - frac) + ordered[:, hi] * frac

    def forward(self, x: Tensor) -> Tensor:
        _check_features(x, self.n_mels, "StatsPooling")
        ordered = torch.sort(x, dim=1).values
        peak = ordered[:, -1] - self._quantile(ordered, 0.5)
        mean = x.mean(dim=1)
        std = (x - mean.unsqueeze(1)).pow(2).mean(dim=1).sqrt()
        return torch.cat([peak, mean, std, self._quantile(ordered, self.PEAK_QUANTILE)], dim=1)


from raresound.models.crnn import CRNN  # noqa: E402  (a module of its own: the SED model)

BACKBONES = {"lstm": LSTMBackbone, "cnn": PaperCNN, "stats": StatsPooling, "crnn": CRNN}


def build_backbone(name: str, **kwargs) -> nn.Module:
    """Build a backbone by name ("lstm", "cnn", or "stats" for the probe); kwargs go to its constructor."""
    if name not in BACKBONES:
        raise ParameterError("backbone", f"{name!r} is unknown; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)
