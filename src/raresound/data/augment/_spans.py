"""Random spans along one axis, shared by TimeMask and FreqMask (SpecAugment, Park et al. 2019)."""

from __future__ import annotations

import torch
from torch import Tensor

from raresound.data.augment.base import Transform, check_choice, check_int, uniform_int

FILLS = ("zero", "mean")


def random_spans(rows: int, length: int, n_masks: int, max_width: int, generator: torch.Generator) -> Tensor:
    """Bool mask [rows, length]: per row, n_masks spans, each of width w ~ U{0..min(max_width, length)}
    starting at s ~ U{0..length - w} (spans may overlap; width 0 masks nothing)."""
    top = min(max_width, length)
    widths = uniform_int(0, top, (rows, n_masks), generator)
    starts = uniform_int(0, length - widths, (rows, n_masks), generator)
    pos = torch.arange(length)
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])  # [rows, n_masks, length]
    return inside.any(dim=1)


class SpanMask(Transform):
    """Masks spans along `axis` of the features (1: frames, 2: mel bands); targets pass through."""

    axis = 1

    def __init__(self, n_masks: int = 2, max_width: int = 20, fill: str = "zero", p: float = 0.5):
        super().__init__(p)
        self.n_masks = check_int(n_masks, "n_masks")
        self.max_width = check_int(max_width, "max_width")
        self.fill = check_choice(fill, "fill", FILLS)

    def apply(self, features, targets, selected, generator):
        B, T, M = features.shape
        length = features.shape[self.axis]
        spans = random_spans(B, length, self.n_masks, self.max_width, generator).to(features.device)
        spans &= selected[:, None]
        mask = spans[:, :, None] if self.axis == 1 else spans[:, None, :]  # broadcast over the other axis
        if self.fill == "zero":
            value = torch.zeros((), dtype=features.dtype, device=features.device)
        else:
            value = features.mean(dim=(1, 2), keepdim=True)
        return torch.where(mask, value, features), targets
