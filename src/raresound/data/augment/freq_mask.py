"""SpecAugment frequency masking: up to `n_masks` spans of <= `max_width` mel bands per example are
replaced by the fill value over all frames.

fill="zero" (default) writes 0 = the training set's mean of each band on normalised log-mel;
fill="mean" writes the example's own mean over all its frames and bands. Targets pass through: a
band mask removes part of the spectrum, and the event must be recognised from the rest.
"""

from __future__ import annotations

from raresound.data.augment._spans import SpanMask


class FreqMask(SpanMask):
    """FreqMask(n_masks=2, max_width=8, fill="zero", p=0.5): masks mel bands (axis 2 of [B, T, M])."""

    axis = 2

    def __init__(self, n_masks: int = 2, max_width: int = 8, fill: str = "zero", p: float = 0.5):
        super().__init__(n_masks, max_width, fill, p)
