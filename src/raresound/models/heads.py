"""Detection head: one linear layer from the head input (e, z or v) to per-class logits."""

from __future__ import annotations

from torch import Tensor, nn


class DetectorHead(nn.Module):
    """Linear map to detection logits [B, L]; the sigmoid lives in the loss / at scoring time so
    that losses can use the numerically stable log-sigmoid."""

    def __init__(self, in_dim: int, n_classes: int):
        super().__init__()
        self.in_dim = in_dim
        self.n_classes = n_classes
        self.linear = nn.Linear(in_dim, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)
