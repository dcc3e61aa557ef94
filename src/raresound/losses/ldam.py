"""LDAM loss with deferred re-weighting (Cao, Wei, Gaidon, Arechiga, Ma, "Learning Imbalanced
Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019, Eq. 10; official code
github.com/kaidic/LDAM-DRW, losses.py and cifar_train.py).

    L = CE(s * (z - Delta_y e_y), y),   Delta_c = C / n_c^{1/4},  C chosen so max_c Delta_c = max_margin

Softmax over L+1 classes (background last, see softmax_targets). The official code feeds cosine
logits (normalised features and weights) and scales by s = 30; the margin is subtracted before
scaling, as here. Reduction note: the official code uses F.cross_entropy(weight=w), whose mean
divides by the sum of weights; raresound's base divides by the batch size (see losses/base.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from raresound.errors import DataError
from raresound.losses.base import DetectionLoss
from raresound.losses.class_balanced import effective_number_weights
from raresound.losses.softmax_targets import softmax_inputs


def ldam_margins(class_counts, max_margin: float) -> Tensor:
    """Delta_c proportional to n_c^{-1/4}, scaled so the rarest class gets max_margin."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.dim() != 1 or counts.numel() < 2 or bool((counts <= 0).any()):
        raise DataError(f"class_counts must list >= 2 positive counts, got {counts.tolist()}")
    inv_fourth_root = counts.pow(-0.25)
    return (inv_fourth_root * (max_margin / inv_fourth_root.max())).float()


def drw_weights(class_counts, epoch: int, drw_start_epoch: int, beta: float = 0.9999) -> Tensor:
    """Deferred re-weighting: ones before `drw_start_epoch`, class-balanced weights from it on.

    Mirrors the official `--train_rule DRW` (betas = [0, 0.9999], switch at epoch 160 of 200):
    beta = 0 yields unit weights, so both phases use the same effective-number formula.
    """
    if epoch < drw_start_epoch:
        return torch.ones(len(class_counts))
    return effective_number_weights(class_counts, beta)


class LDAMLoss(DetectionLoss):
    """`LDAMLoss(class_counts [L+1], max_margin, scale, weight)(logits [B, L+1], targets) -> scalar`.

    targets: multi-hot [B, L] or class indices [B]. `weight` (per-class, [L+1]) may be reassigned
    each epoch, e.g. `loss.weight = drw_weights(counts, epoch, 160)`.
    """

    outputs = "softmax"

    def __init__(self, class_counts, max_margin: float = 0.5, scale: float = 30.0, weight: Tensor | None = None,
                 reduction: str = "mean"):
        super().__init__(reduction)
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        if max_margin < 0:
            raise ValueError(f"max_margin must be >= 0, got {max_margin}")
        self.scale = float(scale)
        self.register_buffer("margins", ldam_margins(class_counts, max_margin))
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        n_classes = self.margins.numel()
        logits, labels = softmax_inputs(logits, targets, n_classes)
        true_class = F.one_hot(labels, n_classes).to(logits.dtype)
        margin_logits = logits - true_class * self.margins.to(logits.dtype)[labels].unsqueeze(1)
        values = F.cross_entropy(self.scale * margin_logits, labels, reduction="none")
        if self.weight is not None:
            values = values * self.weight.to(values.dtype)[labels]
        return values
