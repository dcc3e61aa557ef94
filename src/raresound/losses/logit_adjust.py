"""Logit-adjusted softmax cross-entropy (Menon, Jayasumana, Rawat, Jain, Veit, Kumar,
"Long-tail learning via logit adjustment", ICLR 2021, Eq. 10):

    L = CE(z + tau * log(pi), y)

applied during training only; at test time the raw logits are used (then e.g.
`softmax_event_scores(logits)`), which is what makes the rare-class decision balanced.
Softmax over L+1 classes, background last (see softmax_targets). tau = 1 is the paper's default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from raresound.errors import DataError
from raresound.losses.base import DetectionLoss
from raresound.losses.softmax_targets import softmax_inputs


class LogitAdjustedLoss(DetectionLoss):
    """`LogitAdjustedLoss(class_priors [L+1], tau)(logits [B, L+1], targets) -> scalar`.

    class_priors are normalised to sum to 1, so raw class counts are accepted too.
    targets: multi-hot [B, L] or class indices [B].
    """

    outputs = "softmax"

    def __init__(self, class_priors, tau: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        priors = torch.as_tensor(class_priors, dtype=torch.float64)
        if priors.dim() != 1 or priors.numel() < 2 or bool((priors <= 0).any()):
            raise DataError(f"class_priors must list >= 2 positive values, got {priors.tolist()}")
        self.tau = float(tau)
        self.register_buffer("log_priors", (priors / priors.sum()).log().float())

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        n_classes = self.log_priors.numel()
        logits, labels = softmax_inputs(logits, targets, n_classes)
        adjusted = logits + self.tau * self.log_priors.to(logits.dtype)
        return F.cross_entropy(adjusted, labels, reduction="none")
