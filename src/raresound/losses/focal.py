"""Sigmoid focal loss (Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object Detection",
ICCV 2017, Eq. 5):  FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t),
with p_t = p if y = 1 else 1 - p and alpha_t = alpha if y = 1 else 1 - alpha.

Applied independently to each of the L event outputs; the per-sample value is the SUM over the L
classes (each clip is one "sample" of the raresound base-class convention), so `mean` divides by
the batch size. gamma = 0, alpha = None gives exactly BCE summed over classes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from raresound.losses.base import DetectionLoss, as_float


def sigmoid_focal_terms(logits: Tensor, targets: Tensor, gamma: float, alpha: float | None) -> Tensor:
    """Elementwise focal loss [B, L] (shared with ClassBalancedLoss)."""
    logits, targets = as_float(logits), targets.to(as_float(logits).dtype)
    # BCE-with-logits is the numerically stable -log(p_t); p_t is then recovered from it.
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if gamma != 0.0:
        p = logits.sigmoid()
        one_minus_pt = p * (1 - targets) + (1 - p) * targets
        ce = ce * one_minus_pt.pow(gamma)
    if alpha is not None:
        ce = ce * (alpha * targets + (1 - alpha) * (1 - targets))
    return ce


class FocalLoss(DetectionLoss):
    """`FocalLoss(gamma, alpha)(logits [B, L], targets [B, L] multi-hot) -> scalar`.

    alpha = 0.25, gamma = 2 are the defaults of Lin et al. (Sec. 5.1 / Table 1a).
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25, reduction: str = "mean"):
        super().__init__(reduction)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] or None, got {alpha}")
        self.gamma = float(gamma)
        self.alpha = alpha

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        return sigmoid_focal_terms(logits, targets, self.gamma, self.alpha).sum(dim=1)
