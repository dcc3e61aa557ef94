"""SpecAugment time masking: up to `n_masks` spans of <= `max_width` frames per example are replaced by
the fill value.

fill="zero" (default) writes 0, which on normalised log-mel is the training set's mean of each band
(the Normalizer subtracts it): a masked frame looks like an average frame, not like silence.
fill="mean" writes the example's own mean over all its frames and bands.

Targets are left untouched, as in SpecAugment and the DCASE baselines: the mask hides evidence, it does
not remove the event from the recording, so an event's frames stay positive and the (recurrent) model
learns to bridge short gaps from context. Keep `max_width` well below the shortest event (e.g. 20
frames = 0.2 s at a 10-ms hop), so that a mask never hides a whole event.
"""

from __future__ import annotations

from raresound.data.augment._spans import SpanMask


class TimeMask(SpanMask):
    """TimeMask(n_masks=2, max_width=20, fill="zero", p=0.5): masks frames (axis 1 of [B, T, M])."""

    axis = 1
