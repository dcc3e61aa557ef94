"""Class-balanced loss (Cui, Jia, Lin, Song, Belongie, "Class-Balanced Loss Based on Effective
Number of Samples", CVPR 2019, Eq. 5 / Sec. 4):

    CB(p, y) = (1 - beta) / (1 - beta^{n_y}) * L(p, y)

The weight of a sample is that of its ground-truth class y (effective number E_n = (1-beta^n)/(1-beta)),
normalised so the weights sum to the number of classes C (as in the paper's released code).
beta = 0 gives unit weights; beta -> 1 approaches inverse-frequency weighting.

Detection setting: classes are the L events plus background at index L (see softmax_targets), so
`class_counts` has L+1 entries for every base loss. For the sigmoid bases ("bce", "focal") the
sample weight multiplies the summed per-class loss of that clip, as in Cui et al.'s sigmoid CB
variant; giving background its own class keeps background clips from getting zero weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from raresound.errors import DataError
from raresound.losses.base import Loss, as_float
from raresound.losses.focal import sigmoid_focal_terms
from raresound.losses.softmax_targets import as_class_index, to_single_label

BASES = ("bce", "focal", "softmax")


def effective_number_weights(class_counts, beta: float) -> Tensor:
    """Per-class weights (1 - beta) / (1 - beta^n_c), normalised to sum to the number of classes."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.dim() != 1 or counts.numel() == 0:
        raise DataError(f"class_counts must be a non-empty 1-D list, got shape {tuple(counts.shape)}")
    if bool((counts <= 0).any()):
        # 1 - beta^0 = 0 would make the weight infinite; an absent class has no effective number.
        raise DataError(f"class_counts must all be positive, got {counts.tolist()}")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    weights = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts))
    return (weights / weights.sum() * counts.numel()).float()


class ClassBalancedLoss(Loss):
    """`ClassBalancedLoss(class_counts [L+1], beta, base, gamma)(logits, targets) -> scalar`.

    base "bce"/"focal": logits [B, L] (sigmoid); base "softmax": logits [B, L+1].
    targets: multi-hot [B, L] (or class indices [B] for "softmax").
    gamma is the focal exponent (base "focal" only; the CB weight replaces focal's alpha, as in Cui et al.).
    """

    def __init__(self, class_counts, beta: float = 0.999, base: str = "bce", gamma: float = 2.0,
                 reduction: str = "mean"):
        super().__init__(reduction)
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        self.base = base
        self.gamma = float(gamma)
        self.beta = float(beta)
        self.register_buffer("class_weights", effective_number_weights(class_counts, beta))

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        logits = as_float(logits)
        n_classes = self.class_weights.numel()
        if self.base == "softmax":
            labels = as_class_index(targets, n_classes)
            values = F.cross_entropy(logits, labels, reduction="none")
        else:
            if logits.shape[1] != n_classes - 1:
                raise DataError(f"sigmoid logits have {logits.shape[1]} columns, expected L = {n_classes - 1}")
            labels = to_single_label(targets)
            gamma = self.gamma if self.base == "focal" else 0.0
            values = sigmoid_focal_terms(logits, targets, gamma, None).sum(dim=1)
        return values * self.class_weights.to(values.dtype)[labels]
