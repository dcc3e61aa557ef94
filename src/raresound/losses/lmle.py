"""Large Margin Local Embedding (LMLE; Huang, Li, Loy, Tang, "Learning Deep Representation for
Imbalanced Classification", CVPR 2016): the triple-header hinge loss on an anchor and its four
mined partners (p+, p-, p--, n; mined by `raresound.miners.quintuplets`), enforcing
D(a,p+) < D(a,p-) < D(a,p--) < D(a,n) with margins g1, g2, g3, where D is the squared Euclidean
distance between L2-normalised features. Hinge terms whose partners are missing are masked out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from raresound.losses.base import EmbeddingLoss, as_float


def squared_distance(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).pow(2).sum(dim=1)


class TripleHeaderHingeLoss(EmbeddingLoss):
    """`TripleHeaderHingeLoss(margins=(g1, g2, g3))(anchor, p_plus, p_minus, p_minus2, negative,
    term_mask=None) -> scalar`; each embedding argument is [B, D], term_mask [B, 3] bool.

    per sample: max(0, g1 + D(a,p+) - D(a,p-)) + max(0, g2 + D(a,p-) - D(a,p--))
              + max(0, g3 + D(a,p--) - D(a,n)),  D = squared Euclidean distance (Huang et al. 2016).
    The margins are required: the paper tunes them per task and raresound has no default to cite.
    """

    def __init__(self, margins: tuple[float, float, float], reduction: str = "mean"):
        super().__init__(reduction)
        if len(margins) != 3 or any(g < 0 for g in margins):
            raise ValueError(f"margins must be three non-negative numbers, got {margins}")
        self.margins = tuple(float(g) for g in margins)

    def per_sample(self, anchor: Tensor, p_plus: Tensor, p_minus: Tensor, p_minus2: Tensor, negative: Tensor,
                   term_mask: Tensor | None = None) -> Tensor:
        a = as_float(anchor)
        d_plus, d_minus = squared_distance(a, as_float(p_plus)), squared_distance(a, as_float(p_minus))
        d_minus2, d_neg = squared_distance(a, as_float(p_minus2)), squared_distance(a, as_float(negative))
        g1, g2, g3 = self.margins
        terms = torch.stack([torch.relu(g1 + d_plus - d_minus),
                             torch.relu(g2 + d_minus - d_minus2),
                             torch.relu(g3 + d_minus2 - d_neg)], dim=1)
        if term_mask is not None:
            terms = terms * term_mask.to(terms.dtype)
        return terms.sum(dim=1)
