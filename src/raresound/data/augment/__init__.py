"""Training-time augmentation: one transform per module, a tiny base class, a config builder.

Feature level, on batches (`base.Transform`; every call `t(features, targets, generator)`):

    TimeMask(n_masks=2, max_width=20, fill="zero", p=0.5)      SpecAugment time masks; targets untouched
    FreqMask(n_masks=2, max_width=8, fill="zero", p=0.5)       SpecAugment frequency masks
    Mixup(alpha=0.2, targets="max", p=0.5)                     within-batch mixup; targets max or linear
    RandomGain(std, min_gain_db=-6, max_gain_db=6, mean=None, log_offset=None, p=0.5)
                                                               a dB gain on normalised log-mel
    TimeShift(max_shift=100, mode="roll", p=0.5)               features and frame targets, whole steps
    Compose([...])                                             in order; Compose([]) = identity

    features [B, T, M] float (normalised log-mel), targets [B, S, L] (frame) or [B, L] (clip),
    generator: torch.Generator, seeded by the trainer per epoch (reproducible and resumable).
    Inputs are never modified in place; p is drawn per example.

Waveform level: `EventRemix(events, backgrounds, clip_seconds, sample_rate, ebr_db, p)(generator)` ->
`Remix(wave, label, onset, offset, ebr_db, start, stop)`, a fresh mixture per call.

From a config: `build_augmentation(cfg["augment"], normalizer, feature_config)` -> Compose (None/{} ->
identity; off by default), `build_remix(cfg["augment"], events, backgrounds, ...)` -> EventRemix | None.
Keys and order: `raresound.data.augment.config`.

In a training loop:

    augment = build_augmentation(cfg.get("augment"), normalizer, feature_config)
    for epoch in range(start_epoch, epochs):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)   # same epoch, same augmentation
        for x, y in loader:
            x, y = augment(x, y, g)
"""

from raresound.data.augment.base import ParameterError, Transform
from raresound.data.augment.compose import Compose
from raresound.data.augment.config import build_augmentation, build_remix, validate_augmentation
from raresound.data.augment.event_remix import EventRemix, Remix
from raresound.data.augment.freq_mask import FreqMask
from raresound.data.augment.gain import RandomGain
from raresound.data.augment.mixup import Mixup, mixup
from raresound.data.augment.time_mask import TimeMask
from raresound.data.augment.time_shift import TimeShift

__all__ = ["Compose", "EventRemix", "FreqMask", "Mixup", "ParameterError", "RandomGain", "Remix", "TimeMask",
           "TimeShift", "Transform", "build_augmentation", "build_remix", "mixup", "validate_augmentation"]
