"""Random gain on normalised log-mel features.

A gain of g dB multiplies the waveform by 10^(g/20) and every mel power by G = 10^(g/10). LogMel
gives y = ln(P + log_offset), the Normalizer x = (y - mean) / std per band, so:

* where P >> log_offset (any real recording): y shifts by g/10 * ln(10), i.e. x shifts by
  g/10 * ln(10) / std[band]. This is what the transform does when given only `std`;
* exactly, for every value: x' = (ln(G * (e^y - log_offset) + log_offset) - mean) / std, y = x*std + mean.
  Given `mean` and `log_offset` as well, the transform applies this, so digital silence (zero padding
  of short clips, at ln(log_offset)) stays where a waveform gain would leave it.

Doing it here instead of on the waveform keeps augmentation on the feature store (no re-featurising);
with `mean` and `log_offset` both ways agree to float rounding (tests/test_augment_gain.py).
`RandomGain.for_normalizer(normalizer, feature_config, ...)` fills the statistics in.
Targets pass through (a louder or quieter event is the same event).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from raresound.data.augment.base import ParameterError, Transform

LN10_OVER_10 = math.log(10.0) / 10.0


def _bands(value, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ParameterError(name, f"must be a finite per-band 1-D array, got shape {arr.shape}")
    return arr


class RandomGain(Transform):
    """RandomGain(std, min_gain_db=-6.0, max_gain_db=6.0, mean=None, log_offset=None, p=0.5): per selected
    example a gain g ~ U[min_gain_db, max_gain_db] dB (module doc for the formula)."""

    def __init__(self, std, min_gain_db: float = -6.0, max_gain_db: float = 6.0, mean=None,
                 log_offset: float | None = None, p: float = 0.5):
        super().__init__(p)
        self.std = _bands(std, "std")
        if np.any(self.std <= 0):
            raise ParameterError("std", "must be > 0 in every band")
        for name, v in (("min_gain_db", min_gain_db), ("max_gain_db", max_gain_db)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParameterError(name, f"must be a finite number, got {v!r}")
        if min_gain_db > max_gain_db:
            raise ParameterError("max_gain_db", f"must be >= min_gain_db ({min_gain_db}), got {max_gain_db}")
        self.min_gain_db, self.max_gain_db = float(min_gain_db), float(max_gain_db)
        if (mean is None) != (log_offset is None):
            raise ParameterError("mean" if mean is None else "log_offset",
                                 "give mean and log_offset together (the exact mapping needs both)")
        self.mean = None if mean is None else _bands(mean, "mean")
        if self.mean is not None and self.mean.shape != self.std.shape:
            raise ParameterError("mean", f"has {self.mean.size} bands, std {self.std.size}")
        if log_offset is not None and not (isinstance(log_offset, (int, float)) and log_offset > 0):
            raise ParameterError("log_offset", f"must be > 0, got {log_offset!r}")
        self.log_offset = None if log_offset is None else float(log_offset)

    @classmethod
    def for_normalizer(cls, normalizer, feature_config=None, **kwargs) -> "RandomGain":
        """The transform for features normalised by `normalizer` (exact when `feature_config` is given)."""
        exact = {} if feature_config is None else {"mean": normalizer.mean, "log_offset": feature_config.log_offset}
        return cls(normalizer.std, **exact, **kwargs)

    def shift(self, features: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
        """Features [B, T, M] with gain_db[B] dB applied to each row (the pure function)."""
        if features.shape[-1] != self.std.size:
            raise ParameterError("features", f"have {features.shape[-1]} bands, std {self.std.size}")
        dev = features.device
        std = torch.as_tensor(self.std, dtype=torch.float64, device=dev)
        g = gain_db.to(device=dev, dtype=torch.float64)[:, None, None]
        x = features.to(torch.float64)
        if self.mean is None:
            out = x + g * LN10_OVER_10 / std
        else:
            mean = torch.as_tensor(self.mean, dtype=torch.float64, device=dev)
            power = torch.clamp(torch.exp(x * std + mean) - self.log_offset, min=0.0)
            out = (torch.log(power * torch.pow(10.0, g / 10.0) + self.log_offset) - mean) / std
        return out.to(features.dtype)

    def apply(self, features, targets, selected, generator):
        u = torch.rand(features.shape[0], generator=generator, dtype=torch.float64)
        gain = self.min_gain_db + u * (self.max_gain_db - self.min_gain_db)
        gain = torch.where(selected.cpu(), gain, torch.zeros_like(gain))
        return self.shift(features, gain), targets
