"""Log-mel features and their train-only normalisation.

`LogMel` is a batched torch module (CPU or GPU): STFT by `torch.stft`, power spectrogram, a Slaney
mel filterbank built once by `librosa.filters.mel`, then `log(mel + log_offset)`.

Framing: the STFT is centred (each frame's centre sits on a multiple of the hop, the signal is
zero-padded by n_fft/2 at both ends, as `librosa.feature.melspectrogram(center=True,
pad_mode='constant')` does), and only the first ``n_samples // hop_length`` frames are kept. The
dropped last frame is centred exactly on the end of the clip and is half padding; dropping it gives
the round count 1000 frames for 10 s at a 10 ms hop.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from raresound.errors import ConfigError, DataError
from raresound.io import read_json, write_json


# A clip is one training example held whole in memory (in the store, a batch, a detection window):
# minutes are already far beyond any event-detection clip; 1e9 s would ask for TiBs per clip.
MAX_CLIP_SECONDS = 600.0


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    fmin: float = 0.0
    fmax: float | None = None
    clip_seconds: float = 10.0
    log_offset: float = 1e-6

    def __post_init__(self) -> None:
        def positive(name: str, value: Any, integer: bool = False) -> None:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and (not integer or float(value).is_integer()) and math.isfinite(value) and value > 0
            if not ok:
                kind = "a positive integer" if integer else "a positive number"
                raise ConfigError(f"feature_config.{name}", f"must be {kind}, got {value!r}")

        for name in ("sample_rate", "n_mels", "n_fft"):
            positive(name, getattr(self, name), integer=True)
            # 16000.0 from a YAML/JSON config means 16000; downstream APIs need a real int.
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("win_ms", "hop_ms", "clip_seconds", "log_offset"):
            positive(name, getattr(self, name))
        nyquist = self.sample_rate / 2
        if not isinstance(self.fmin, (int, float)) or not 0 <= self.fmin < nyquist:
            raise ConfigError("feature_config.fmin", f"must be in [0, {nyquist}), got {self.fmin!r}")
        if self.fmax is not None and not (isinstance(self.fmax, (int, float)) and self.fmin < self.fmax <= nyquist):
            raise ConfigError("feature_config.fmax", f"must be in ({self.fmin}, {nyquist}] or null, got {self.fmax!r}")
        if self.hop_length < 1:
            raise ConfigError("feature_config.hop_ms", f"gives a hop of {self.hop_length} samples")
        if not 1 <= self.win_length <= self.n_fft:
            raise ConfigError(
                "feature_config.win_ms", f"gives {self.win_length} samples, must be between 1 and n_fft={self.n_fft}"
            )
        if self.n_frames() < 1:
            raise ConfigError("feature_config.clip_seconds",
                              f"{self.clip_seconds} s gives no feature frame; must be at least one hop ({self.hop_ms} ms)")
        if self.clip_seconds > MAX_CLIP_SECONDS:
            raise ConfigError("feature_config.clip_seconds",
                              f"must be at most {MAX_CLIP_SECONDS} s (a clip is one training example), got {self.clip_seconds}")

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    def n_frames(self, n_samples: int | None = None) -> int:
        """Frames for a wave of `n_samples` (default: one clip of `clip_seconds`)."""
        if n_samples is None:
            n_samples = self.clip_samples
        return int(n_samples) // self.hop_length

    def seconds(self, frames: float) -> float:
        """How long `frames` feature frames last (hop_length samples each): the one frame -> time
        conversion; a backbone step of k frames lasts seconds(k)."""
        return frames * self.hop_length / self.sample_rate

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        if not isinstance(d, dict):
            raise ConfigError("feature_config", f"must be a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ConfigError(f"feature_config.{key}", f"unknown key (known: {', '.join(sorted(known))})")
        return cls(**d)


@functools.lru_cache(maxsize=64)
def empty_mel_bands(config: FeatureConfig, source_rate: int) -> int:
    """How many of the config's mel bands audio recorded at `source_rate` Hz leaves empty: the bands
    whose lower edge lies at or above its Nyquist frequency (resampling to `config.sample_rate`
    adds no content there)."""
    import librosa

    nyquist = source_rate / 2
    fmax = config.fmax if config.fmax is not None else config.sample_rate / 2
    edges = librosa.mel_frequencies(n_mels=config.n_mels + 2, fmin=config.fmin, fmax=fmax, htk=False)
    return int(np.count_nonzero(edges[:-2] >= nyquist))


def low_rate_note(config: FeatureConfig):
    """The `mel_note` for `audio.load` / `audio.read_blocks`: what a low source rate empties."""
    return lambda rate: f"{empty_mel_bands(config, rate)} of {config.n_mels} mel bands (above its {rate / 2:g} Hz Nyquist) are empty"


class LogMel(torch.nn.Module):
    """Batched log-mel spectrogram: [T] -> [F, M] or [B, T] -> [B, F, M], F = T // hop_length.

    Accepts torch tensors or numpy arrays; computes in float32 on the module's device (move it with
    `.to(device)`; the window and filterbank are buffers).
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        super().__init__()
        self.config = config
        # Imported here, not at module level: librosa pulls in scipy.signal (seconds of start-up),
        # which every spawned store worker would otherwise pay just to import this module.
        import librosa

        fb = librosa.filters.mel(
            sr=config.sample_rate,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.fmin,
            fmax=config.fmax,
            htk=False,
            norm="slaney",
        )  # [M, n_fft//2+1]
        # Stored transposed so the projection is one [.., K] @ [K, M] matmul.
        self.register_buffer("mel_basis", torch.from_numpy(np.ascontiguousarray(fb.T, dtype=np.float32)))
        # The same filterbank with each row repeated for the real and imaginary parts, so
        # |X|^2 -> mel is one GEMM over the squared interleaved (re, im) STFT: measured ~2x faster on
        # CPU than forming |X|^2 first (a strided reduction over the size-2 axis).
        self.register_buffer("_mel_basis_ri", self.mel_basis.repeat_interleave(2, dim=0), persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length, periodic=True, dtype=torch.float32))

    def forward(self, wave: torch.Tensor | np.ndarray) -> torch.Tensor:
        cfg = self.config
        if isinstance(wave, np.ndarray):
            wave = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        wave = wave.to(device=self.window.device, dtype=torch.float32)
        single = wave.dim() == 1
        if single:
            wave = wave.unsqueeze(0)
        if wave.dim() != 2:
            raise ValueError(f"LogMel expects [T] or [B, T], got shape {tuple(wave.shape)}")
        n_frames = cfg.n_frames(wave.shape[-1])
        if n_frames < 1:
            raise ValueError(f"LogMel needs at least {cfg.hop_length} samples, got {wave.shape[-1]}")
        spec = torch.stft(
            wave,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # [B, K, n_frames + 1]; memory is frame-major, so the transpose below is contiguous
        frames = spec.transpose(1, 2)[:, :n_frames]  # [B, F, K]
        ri_squared = torch.view_as_real(frames).square().reshape(frames.shape[0], n_frames, -1)  # [B, F, 2K]
        mel = torch.matmul(ri_squared, self._mel_basis_ri)  # [B, F, M] = sum_k |X_k|^2 fb_k
        out = torch.log(mel + cfg.log_offset)
        return out[0] if single else out


class Normalizer:
    """Per-mel-band mean/std, fitted on TRAINING features only, then applied to every split.

    `fit` streams: it accepts an iterable of arrays ([F, M] or [N, F, M]; numpy, memmap or torch)
    or one big array/memmap, which it walks in row chunks, and merges per-chunk float64 moments
    (Chan et al.), so the data never has to fit in RAM at once.
    """

    # Floor on std so a constant band (e.g. above fmax) maps to 0 rather than inf/NaN.
    MIN_STD = 1e-5
    _CHUNK_ROWS = 256

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None, count: int = 0):
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)
        self.count = int(count)

    @property
    def fitted(self) -> bool:
        return self.mean is not None and self.std is not None

    def fit(self, features: Iterable | np.ndarray | torch.Tensor) -> "Normalizer":
        n_total = 0
        mean = m2 = None
        for block in self._blocks(features):
            block = block.reshape(-1, block.shape[-1])
            n = block.shape[0]
            if n == 0:
                continue
            b_mean = block.mean(axis=0)
            b_m2 = np.square(block - b_mean).sum(axis=0)
            if mean is None:
                n_total, mean, m2 = n, b_mean, b_m2
                continue
            if b_mean.shape != mean.shape:
                raise DataError(f"Normalizer.fit: feature blocks have {b_mean.shape[0]} and {mean.shape[0]} bands")
            delta = b_mean - mean
            combined = n_total + n
            mean = mean + delta * (n / combined)
            m2 = m2 + b_m2 + np.square(delta) * (n_total * n / combined)
            n_total = combined
        if mean is None:
            raise DataError("Normalizer.fit: no feature frames given")
        if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
            raise DataError("Normalizer.fit: features contain NaN or inf")
        self.mean = mean
        self.std = np.maximum(np.sqrt(m2 / n_total), self.MIN_STD)
        self.count = n_total
        return self

    @classmethod
    def _blocks(cls, features: Any) -> Iterable[np.ndarray]:
        """Yield float64 chunks; big arrays are sliced so only one chunk is in memory."""
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().numpy()
        if isinstance(features, np.ndarray):
            if features.ndim <= 2:
                yield np.asarray(features, dtype=np.float64)
                return
            for start in range(0, features.shape[0], cls._CHUNK_ROWS):
                yield np.asarray(features[start : start + cls._CHUNK_ROWS], dtype=np.float64)
            return
        for item in features:
            yield from cls._blocks(item)

    def transform(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(x - mean) / std over the last (mel) axis; float32, same type and device as `x`."""
        if not self.fitted:
            raise DataError("Normalizer.transform: normaliser is not fitted")
        if x.shape[-1] != self.mean.shape[0]:
            raise DataError(f"Normalizer.transform: features have {x.shape[-1]} bands, normaliser {self.mean.shape[0]}")
        if isinstance(x, torch.Tensor):
            mean = torch.as_tensor(self.mean, dtype=torch.float32, device=x.device)
            std = torch.as_tensor(self.std, dtype=torch.float32, device=x.device)
            return (x.float() - mean) / std
        mean32, std32 = self.mean.astype(np.float32), self.std.astype(np.float32)
        return (np.asarray(x, dtype=np.float32) - mean32) / std32

    def to_dict(self) -> dict:
        if not self.fitted:
            raise DataError("Normalizer.to_dict: normaliser is not fitted")
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "count": self.count}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
            count = int(d.get("count", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"normaliser: malformed dict ({exc})") from None
        if mean.ndim != 1 or mean.shape != std.shape or not mean.size:
            raise DataError(f"normaliser: mean/std must be equal-length 1-D lists, got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise DataError("normaliser: mean/std must be finite and std > 0")
        return cls(mean, std, count)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Normalizer":
        path = Path(path)
        try:
            d = read_json(path)
        except FileNotFoundError:
            raise DataError(f"{path}: normaliser file not found") from None
        except ValueError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
        try:
            return cls.from_dict(d)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None
