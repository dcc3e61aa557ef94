"""The one base class every loss shares (pytorch-metric-learning style: small classes, one base).

A loss computes a per-sample value; the base turns it into a scalar with optional per-sample
weights and a reduction. Normalisation convention used throughout raresound: `mean` divides the
(weighted) sum by the number of samples in the batch, NOT by the sum of weights, so that a weight
of 1/w_k really down-weights a sample as in the paper's equations (sum over samples) and the scale is
independent of batch size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

REDUCTIONS = ("mean", "sum", "none")


class Loss(nn.Module):
    """Base of all raresound losses. Subclasses implement `per_sample(...) -> Tensor[B]`."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def per_sample(self, *args, **kwargs) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def reduce(self, values: Tensor, weight: Tensor | None = None) -> Tensor:
        if weight is not None:
            values = values * weight
        if self.reduction == "none":
            return values
        if self.reduction == "sum":
            return values.sum()
        return values.sum() / max(values.shape[0], 1)

    def forward(self, *args, **kwargs) -> Tensor:
        return self.reduce(self.per_sample(*args, **kwargs))


def as_float(t: Tensor) -> Tensor:
    """Losses are computed in float32 even under autocast, for numerical stability."""
    return t.float() if t.dtype != torch.float64 else t
