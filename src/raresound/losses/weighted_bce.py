"""Class-weighted binary cross-entropy (paper Eq 2).

    L = - sum_i sum_l [ w_l t_il log sigma(y_il) + (1 - t_il) log(1 - sigma(y_il)) ]

Only the positive term is weighted, w_l proportional to 1 / I_l (I_l = positive training
examples of class l). Normalisation used here:

    w_l = mean_l'(I_l') / I_l

so a class with the average count gets weight 1, equal counts give plain BCE, and
sum_l w_l I_l = sum_l I_l: over the training set the total positive weight is unchanged, only
redistributed from frequent to rare classes (the positive/negative balance is not altered).
Per sample the terms are summed over classes; the batch is reduced by `Loss.reduce`
("mean" = sum over samples / batch size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from raresound.errors import DataError
from raresound.losses.base import DetectionLoss, as_float


def class_weights(class_counts: Sequence[float] | Tensor) -> Tensor:
    """w_l = mean(I) / I_l (float32 tensor [L])."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
    if counts.numel() == 0:
        raise DataError("class_counts is empty")
    if bool((counts <= 0).any()):
        missing = torch.nonzero(counts <= 0).flatten().tolist()
        raise DataError(f"classes {missing} have no positive training examples; cannot weight them")
    return (counts.mean() / counts).float()


class ClassWeightedBCE(DetectionLoss):
    """`ClassWeightedBCE(class_counts)(logits [B, L], targets [B, L]) -> scalar`, from logits."""

    def __init__(self, class_counts: Sequence[float] | Tensor, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", class_weights(class_counts))

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        logits = as_float(logits)
        targets = targets.to(logits.dtype)
        if logits.shape != targets.shape or logits.shape[-1] != self.weight.numel():
            raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must both "
                             f"be [batch, {self.weight.numel()}]")
        w = self.weight.to(logits.dtype)
        # log(1 - sigma(y)) = logsigmoid(-y): stable for large |y|
        terms = w * targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)
        return -terms.sum(dim=1)
