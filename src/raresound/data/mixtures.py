"""DCASE 2017 Task 2 style mixtures: one isolated event added to a background clip at a chosen
event-to-background ratio (EBR), plus background-only clips.

Recipe (as in the DCASE 2017 Task 2 generator):
* EBR is measured as RMS over the event's span: event RMS over its active span versus the
  background's RMS over the same samples of the mixture;
* the onset is uniform such that the whole event fits in the clip;
* the mixture is never clipped: if its peak exceeds 1 the whole clip is scaled down, which keeps
  the EBR;
* events and backgrounds are split by source recording, and a mixture only draws material from its
  own split, so no recording crosses train/val/test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from raresound.errors import DataError
from raresound.io import atomic_path

# Peak after anti-clipping rescale; a hair under full scale so 16-bit rounding never hits the rail.
PEAK_LIMIT = 0.99
AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC"}


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def mix_at_ebr(background: np.ndarray, event: np.ndarray, start: int, ebr_db: float) -> np.ndarray:
    """Add `event` to `background` at sample `start`, scaled so that
    20*log10(rms(event part) / rms(background[start:start+len(event)])) == ebr_db, then scale the
    whole mixture down if its peak exceeds PEAK_LIMIT. Returns a new float32 array."""
    end = start + event.size
    if start < 0 or end > background.size:
        raise DataError(f"event of {event.size} samples at {start} does not fit a {background.size}-sample clip")
    event_rms = rms(event)
    if event_rms == 0.0:
        raise DataError("event is silent; cannot set an event-to-background ratio")
    background_rms = rms(background[start:end])
    # A digitally silent background span makes EBR undefined; keep the event at its own level.
    gain = 1.0 if background_rms == 0.0 else background_rms / event_rms * 10.0 ** (ebr_db / 20.0)
    mixture = background.astype(np.float32, copy=True)
    mixture[start:end] += (gain * event).astype(np.float32)
    peak = float(np.max(np.abs(mixture)))
    if peak > PEAK_LIMIT:
        mixture *= np.float32(PEAK_LIMIT / peak)
    return mixture


def measured_ebr_db(mixture: np.ndarray, background: np.ndarray, start: int, stop: int) -> float:
    """EBR of a written mixture given the background it was built on (up to a common scale):
    the event is mixture - k*background, k fitted by least squares outside the event span."""
    outside = np.ones(mixture.size, dtype=bool)
    outside[start:stop] = False
    b, m = background[outside].astype(np.float64), mixture[outside].astype(np.float64)
    k = float(b @ m / (b @ b)) if outside.any() and b @ b > 0 else 1.0
    event = mixture[start:stop].astype(np.float64) - k * background[start:stop]
    return 20.0 * np.log10(rms(event) / (k * rms(background[start:stop])))


def write_clip(path: str | Path, wave: np.ndarray, sample_rate: int, audio_format: str = "wav") -> None:
    """Write mono 16-bit PCM WAV or FLAC atomically."""
    fmt = AUDIO_FORMATS.get(audio_format.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported audio format {audio_format!r} (use wav or flac)")
    # Quantise here (round-to-nearest) rather than in libsndfile: faster and the same everywhere.
    pcm = np.round(np.clip(wave, -1.0, 32766 / 32767) * 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), pcm, sample_rate, subtype="PCM_16", format=fmt)
