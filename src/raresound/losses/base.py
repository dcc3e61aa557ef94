"""The one base class every loss shares (pytorch-metric-learning style: small classes, one base),
and one base per loss family, each with a fixed call contract:

- `DetectionLoss`: `loss(logits [B, C], targets) -> scalar`; targets multi-hot [B, L] (softmax
  losses also take class indices [B]); `outputs` says whether C = L ("sigmoid") or L+1 ("softmax",
  background last). Baseline and every competitor; `ClassBalanced` wraps any of them.
- `ClusterLoss`: `loss(cluster logits h [B, K], assignments [B]) -> scalar`, with an optional
  per-sample weight (`sample_weight`). THCE.
- `EmbeddingLoss`: `loss(anchor [B, D], *partners [B, D], term_mask=None) -> scalar` on embeddings
  of mined tuples (see raresound.miners). LMLE's triple-header hinge.

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


class DetectionLoss(Loss):
    """Family of losses on detector logits: `per_sample(logits, targets) -> Tensor[B]`."""

    outputs = "sigmoid"  # "sigmoid": L logit columns; "softmax": L+1, background last

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return self.reduce(self.per_sample(logits, targets))


class ClusterLoss(Loss):
    """Family of losses on cluster logits: `per_sample(h, assignments) -> Tensor[B]`, weighted by
    `sample_weight(h, assignments)` (None: unweighted)."""

    def per_sample(self, h: Tensor, assignments: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_weight(self, h: Tensor, assignments: Tensor) -> Tensor | None:
        return None

    def forward(self, h: Tensor, assignments: Tensor) -> Tensor:
        assignments = assignments.to(device=h.device, dtype=torch.long)
        return self.reduce(self.per_sample(h, assignments), self.sample_weight(h, assignments))


class EmbeddingLoss(Loss):
    """Family of losses on embeddings of an anchor and its mined partners:
    `per_sample(anchor, *partners, term_mask=None) -> Tensor[B]`."""

    def per_sample(self, anchor: Tensor, *partners: Tensor, term_mask: Tensor | None = None) -> Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def forward(self, anchor: Tensor, *partners: Tensor, term_mask: Tensor | None = None) -> Tensor:
        return self.reduce(self.per_sample(anchor, *partners, term_mask=term_mask))


def as_float(t: Tensor) -> Tensor:
    """Losses are computed in float32 even under autocast, for numerical stability."""
    return t.float() if t.dtype != torch.float64 else t
