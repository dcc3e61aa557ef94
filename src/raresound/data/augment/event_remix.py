"""On-the-fly remixing (waveform level), for training on few real event sources: every call builds a
fresh DCASE 2017 Task 2-style mixture from isolated events and backgrounds, so each epoch sees the
events at new offsets, EBRs and over new background stretches.

    remix = EventRemix(events=[(wave, "dog"), ...], backgrounds=[wave, ...], clip_seconds=10.0)
    clip = remix(generator)   # Remix(wave, label, onset, offset, ebr_db, start, stop)

Per call: a background (a random clip_seconds window of a random background recording; zero-padded
when shorter); with probability `p` (the event presence; DCASE 2017 Task 2 used 0.5) a random event,
cropped to the clip, at a uniform offset such that it fits, scaled to an EBR drawn from `ebr_db`
(default -6, 0, +6 dB) by the project's mixer (`raresound.data.mixtures.mix_at_ebr`: EBR over the
event's span, the whole clip scaled down instead of clipped). Without an event: label, onset and offset
are None and ebr_db is nan.

Events should be trimmed to their sound already (`mixtures.active_span` / `loudest_occurrence`), since
onset/offset are the event waveform's first and last sample. Featurising (`raresound.features.LogMel`,
then the Normalizer) and frame targets (`training.frames.frame_targets`) stay with the caller.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
import torch

from raresound.data.augment.base import ParameterError, check_probability, uniform_int
from raresound.data.mixtures import DEFAULT_EBRS_DB, SILENT_RMS, limit_peak, mix_at_ebr, rms


class Remix(NamedTuple):
    wave: np.ndarray  # float32 [n] at sample_rate
    label: str | None
    onset: float | None  # seconds
    offset: float | None
    ebr_db: float  # the target EBR (nan without an event)
    start: int | None  # samples: the event occupies wave[start:stop]
    stop: int | None


class EventRemix:
    """EventRemix(events, backgrounds, clip_seconds=10.0, sample_rate=16000, ebr_db=(-6, 0, 6), p=1.0)."""

    def __init__(self, events: Sequence[tuple[np.ndarray, str]], backgrounds: Sequence[np.ndarray],
                 clip_seconds: float = 10.0, sample_rate: int = 16000, ebr_db: Sequence[float] = DEFAULT_EBRS_DB,
                 p: float = 1.0):
        self.p = check_probability(p)
        if not (isinstance(clip_seconds, (int, float)) and clip_seconds > 0 and math.isfinite(clip_seconds)):
            raise ParameterError("clip_seconds", f"must be a finite number > 0, got {clip_seconds!r}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ParameterError("sample_rate", f"must be a positive integer, got {sample_rate!r}")
        self.clip_seconds, self.sample_rate = float(clip_seconds), sample_rate
        self.n_samples = int(round(clip_seconds * sample_rate))
        self.ebr_db = [float(v) for v in ebr_db]
        if not self.ebr_db or not all(math.isfinite(v) for v in self.ebr_db):
            raise ParameterError("ebr_db", f"must be a non-empty list of finite dB values, got {list(ebr_db)}")
        self.events = []
        for i, item in enumerate(events):
            try:
                wave, label = item
            except (TypeError, ValueError):
                raise ParameterError("events", f"item {i} must be a (waveform, label) pair") from None
            wave = np.asarray(wave, dtype=np.float32)
            if wave.ndim != 1 or rms(wave) == 0.0:
                raise ParameterError("events", f"item {i} ({label}) must be a non-silent 1-D waveform")
            self.events.append((wave, str(label)))
        self.backgrounds = [np.asarray(b, dtype=np.float32) for b in backgrounds]
        if not self.backgrounds or any(b.ndim != 1 or b.size == 0 for b in self.backgrounds):
            raise ParameterError("backgrounds", "must be a non-empty list of non-empty 1-D waveforms")
        if self.p > 0 and not self.events:
            raise ParameterError("events", "is empty but p > 0")

    @property
    def labels(self) -> list[str]:
        return sorted({label for _, label in self.events})

    def _pick(self, n: int, generator: torch.Generator) -> int:
        return int(torch.randint(0, n, (1,), generator=generator))

    def __call__(self, generator: torch.Generator) -> Remix:
        n, sr = self.n_samples, self.sample_rate
        bg = self.backgrounds[self._pick(len(self.backgrounds), generator)]
        offset = int(uniform_int(0, max(0, bg.size - n), (1,), generator))
        background = np.pad(bg[offset:offset + n], (0, max(0, n - (bg.size - offset))))
        present = float(torch.rand(1, generator=generator)) < self.p
        if not present:
            return Remix(limit_peak(background.copy()), None, None, None, math.nan, None, None)
        wave, label = self.events[self._pick(len(self.events), generator)]
        event = wave[:n]
        start = int(uniform_int(0, n - event.size, (1,), generator))
        ebr = self.ebr_db[self._pick(len(self.ebr_db), generator)]
        reference = None
        if rms(background[start:start + event.size]) < SILENT_RMS and rms(background) >= SILENT_RMS:
            reference = rms(background)  # a silent span (padding): EBR against the clip, as mix_dataset does
        mixture = mix_at_ebr(background, event, start, ebr, reference)
        stop = start + event.size
        return Remix(mixture, label, start / sr, stop / sr, ebr, start, stop)
