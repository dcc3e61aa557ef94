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
from raresound.losses.base import DetectionLoss, as_float
from raresound.losses.focal import FocalLoss
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


class SoftmaxCrossEntropy(DetectionLoss):
    """Plain softmax cross-entropy over L+1 outputs (background last): the "softmax" base of CB."""

    outputs = "softmax"

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(as_float(logits), as_class_index(targets, logits.shape[1]), reduction="none")


class ClassBalanced(DetectionLoss):
    """`ClassBalanced(loss, class_counts [L+1], beta)(logits, targets) -> scalar`: any detection
    loss, each sample's value weighted by its class's effective-number weight (background = L).

    e.g. `ClassBalanced(FocalLoss(gamma=2.0, alpha=None), counts, beta=0.999)`. The wrapped loss's
    own reduction is not used (this wrapper reduces).
    """

    def __init__(self, loss: DetectionLoss, class_counts, beta: float = 0.999, reduction: str = "mean"):
        super().__init__(reduction)
        if not isinstance(loss, DetectionLoss):
            raise ValueError(f"ClassBalanced wraps a detection loss, got {type(loss).__name__}")
        self.loss = loss
        self.outputs = loss.outputs
        self.beta = float(beta)
        self.register_buffer("class_weights", effective_number_weights(class_counts, beta))

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        n_classes = self.class_weights.numel()
        if self.outputs == "softmax":
            labels = as_class_index(targets, n_classes)
        else:
            if logits.shape[1] != n_classes - 1:
                raise DataError(f"sigmoid logits have {logits.shape[1]} columns, expected L = {n_classes - 1}")
            labels = to_single_label(targets)
        values = self.loss.per_sample(logits, targets)
        return values * self.class_weights.to(values.dtype)[labels]


class ClassBalancedLoss(ClassBalanced):
    """`ClassBalancedLoss(class_counts [L+1], beta, base, gamma)(logits, targets) -> scalar`: the
    config form of `ClassBalanced`, naming its base loss by `loss.cb_base`.

    base "bce"/"focal": logits [B, L] (sigmoid); base "softmax": logits [B, L+1].
    targets: multi-hot [B, L] (or class indices [B] for "softmax").
    gamma is the focal exponent (base "focal" only; the CB weight replaces focal's alpha, as in Cui et al.).
    """

    def __init__(self, class_counts, beta: float = 0.999, base: str = "bce", gamma: float = 2.0,
                 reduction: str = "mean"):
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        # "bce" is focal with gamma 0 and no alpha: exactly BCE summed over the classes
        loss = SoftmaxCrossEntropy() if base == "softmax" else FocalLoss(gamma=gamma if base == "focal" else 0.0,
                                                                        alpha=None)
        super().__init__(loss, class_counts, beta=beta, reduction=reduction)
        self.base = base
        self.gamma = float(gamma)
