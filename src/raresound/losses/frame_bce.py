"""Balanced binary cross-entropy over frames (steps), for frame-level heads.

    L = - mean over steps and classes of [ w_l t log sigma(y) + (1 - t) log(1 - sigma(y)) ] * 2 / (1 + w_l)

with w_l = N_neg,l / N_pos,l counted over the training steps: a class's positive steps weigh as much,
in total, as its negative steps. At frame level even a frequent event covers a few percent of the
steps (a 1-s event in a 10-s clip of a 1:6 data set: < 2 %), so the paper's clip-level weighting
(w_l ~ 1 / I_l, classes against each other) would leave every class dominated by its negatives; here
each class is balanced against its own background. The factor 2 / (1 + w_l) keeps the loss of a
constant 0.5 prediction at log 2 for every class. Per sample: the mean over its steps and classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from raresound.errors import DataError
from raresound.losses.base import Loss, as_float


class BalancedFrameBCE(Loss):
    """`BalancedFrameBCE(pos_steps, neg_steps)(logits [B, S, L], targets [B, S, L]) -> scalar`."""

    def __init__(self, pos_steps: Sequence[float] | Tensor, neg_steps: Sequence[float] | Tensor,
                 reduction: str = "mean"):
        super().__init__(reduction)
        pos = torch.as_tensor(pos_steps, dtype=torch.float64).flatten()
        neg = torch.as_tensor(neg_steps, dtype=torch.float64).flatten()
        if pos.shape != neg.shape or pos.numel() == 0:
            raise DataError(f"pos_steps and neg_steps must be equal-length per-class counts, got {pos.shape} and {neg.shape}")
        if bool((pos <= 0).any()) or bool((neg <= 0).any()):
            bad = torch.nonzero((pos <= 0) | (neg <= 0)).flatten().tolist()
            raise DataError(f"classes {bad} have no positive (or no negative) training steps; cannot balance them")
        w = neg / pos
        self.register_buffer("pos_weight", w.float())
        self.register_buffer("scale", (2.0 / (1.0 + w)).float())

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        logits = as_float(logits)
        targets = targets.to(logits.dtype)
        if logits.shape != targets.shape or logits.dim() != 3 or logits.shape[-1] != self.pos_weight.numel():
            raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must both be "
                             f"[batch, steps, {self.pos_weight.numel()}]")
        w, scale = self.pos_weight.to(logits.dtype), self.scale.to(logits.dtype)
        terms = w * targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)
        return -(scale * terms).mean(dim=(1, 2))
