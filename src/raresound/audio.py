"""Audio decoding: any file libsndfile reads -> mono float32 at a target rate.

Policy (documented here because every caller inherits it):

* Accepted: every container/codec libsndfile decodes (WAV/WAVEX/RF64/W64, FLAC, OGG/Vorbis, AIFF,
  CAF, MP3 where libsndfile has it, ...), integer (8/16/24/32-bit) or float samples, any number of
  channels. Multichannel audio is downmixed by averaging channels.
* Source sample rates from ``MIN_SAMPLE_RATE`` (8 kHz) to ``MAX_SAMPLE_RATE`` (96 kHz) inclusive are
  resampled to the target rate with soxr ('HQ'). Outside that range the file is rejected: below 8 kHz
  the content cannot fill the 0-8 kHz band the 16 kHz features expect (upper mel bands would be
  empty, silently biasing the model); above 96 kHz is no recording rate used by sound-event corpora
  and more likely a mis-tagged header than real audio.
* Audio recorded below the target rate (8-16 kHz for the 16 kHz features) is resampled but has
  nothing above its own Nyquist frequency, so the upper mel bands are empty: an ``AudioWarning``
  naming the file, its rate and (when the caller passes ``mel_note``, e.g.
  ``features.low_rate_note(config)``) how many mel bands are empty.
* Silent or clipped audio is valid (real recordings contain both); it raises an ``AudioWarning``
  rather than an error so batch jobs can log it.
* Float samples beyond ``MAX_SAMPLE_MAGNITUDE`` are rejected: that is above the full scale of every
  integer format (so integer-scaled float files still load, as "clipped"), and near 1e17 the float32
  power spectrum overflows, which would put inf into features and NaN into scores.
* Everything else that makes a file unusable raises ``AudioError(path, reason)``: missing, directory,
  unreadable, not audio, empty, truncated (a data chunk shorter than declared, fewer frames decoded
  than the header claims, an Ogg stream without its final page) or corrupt, NaN/inf samples, rate
  out of range, or nothing left after cropping/resampling.

``load`` decodes a whole clip; ``read_blocks`` decodes a long file block by block with the same
checks and the same samples, so memory stays bounded whatever the file's length.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf
import soxr

from raresound.errors import AudioError, DataError

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 96_000
RESAMPLE_QUALITY = "HQ"
# Samples at or above this magnitude count as clipped (full scale of every integer format).
CLIP_LEVEL = 0.999
# Clipping is only reported when it is more than an isolated peak.
CLIP_FRACTION = 1e-3
# Extra source audio decoded past a crop point, so the resampler's filter sees the same context it
# would see if the whole file were decoded (soxr HQ needs far less than this).
_CROP_MARGIN_SECONDS = 0.05

# libsndfile reports a data chunk whose declared size exceeds the bytes present as
# "data : 64000 (should be 31978)" (WAV/W64/RF64) or "SSND : ..." (AIFF). That is a truncated file.
_SHORT_CHUNK = re.compile(r"^\s*(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# A streaming writer that never finalised its header leaves 0 or 0xFFFFFFFF; that is not truncation.
_UNFINALISED_SIZES = {0, 0xFFFFFFFF}
# libsndfile's notes on an Ogg file that was cut: a partial last page, or no end-of-stream page.
# Its frame count then comes from the last complete page, so the short decode is not noticed otherwise.
_OGG_TRUNCATED = ("Junk after the last page", "lacks an end-of-stream bit")
MAX_SAMPLE_MAGNITUDE = 1e10


class AudioWarning(UserWarning):
    """Audio that is usable but suspicious (silent, clipped)."""


def load(path: str | os.PathLike, sr: int = 16000, duration: float | None = None,
         mel_note: Callable[[int], str] | None = None) -> np.ndarray:
    """Decode `path` to a 1-D float32 mono array at `sr` Hz.

    With `duration` (seconds) the result is cropped or zero-padded to exactly
    ``round(duration * sr)`` samples. Raises ``AudioError(path, reason)`` for unusable files.
    A source rate below `sr` is warned about (`mel_note(rate)` adds what it empties).
    """
    path = Path(path)
    _check_rate(path, sr)
    n_target = None
    if duration is not None:
        if not math.isfinite(duration) or duration <= 0:
            raise AudioError(path, f"duration must be a positive number of seconds, got {duration!r}")
        n_target = int(round(duration * sr))
        if n_target == 0:
            raise AudioError(path, f"duration {duration} s gives zero samples at {sr} Hz")

    wave, source_rate = _decode(path, duration)
    _warn_low_rate(path, source_rate, sr, mel_note)
    wave = resample(wave, source_rate, sr)
    if wave.size == 0:
        raise AudioError(path, f"no samples left after resampling {source_rate} Hz to {sr} Hz")

    if n_target is not None and wave.size >= n_target:
        wave = wave[:n_target]
    _Findings(wave).warn(path)  # before padding: judge the recording, not the added zeros
    if n_target is not None and wave.size < n_target:
        wave = np.pad(wave, (0, n_target - wave.size))
    return wave


def resample(wave: np.ndarray, rate: int, sr: int) -> np.ndarray:
    """Mono float32 samples at `rate` Hz -> at `sr` Hz, as every file is resampled (soxr HQ)."""
    if rate == sr:
        return wave
    return np.ascontiguousarray(soxr.resample(wave, rate, sr, quality=RESAMPLE_QUALITY), dtype=np.float32)


def waveform(wave, rate: int, sr: int, where: str = "audio", mel_note: Callable[[int], str] | None = None) -> np.ndarray:
    """An in-memory mono waveform sampled at `rate` Hz -> float32 at `sr` Hz, resampled as files are
    (a rate below `sr` warned about as in `load`). DataError naming `where` for anything but a
    non-empty 1-D array, or a rate outside the accepted range."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise DataError(f"{where}: expected a non-empty mono waveform, got shape {wave.shape}")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DataError(f"{where}: sample rate must be an integer between {MIN_SAMPLE_RATE} and "
                        f"{MAX_SAMPLE_RATE} Hz, got {rate!r}")
    _warn_low_rate(Path(where), int(rate), sr, mel_note)
    return resample(wave, int(rate), sr)


def _decode(path: Path, duration: float | None) -> tuple[np.ndarray, int]:
    """Read `path` (only as much as `duration` needs) -> (mono float32, source rate)."""
    with _open(path) as fh:
        rate, declared = fh.samplerate, fh.frames
        wanted = declared
        if duration is not None:
            wanted = min(declared, math.ceil((duration + _CROP_MARGIN_SECONDS) * rate))
        mono = _read(path, fh, wanted)
    if mono.size < wanted:
        raise AudioError(path, f"truncated: header declares {declared} frames, only {mono.size} decoded")
    return mono, rate


def read_blocks(path: str | os.PathLike, sr: int = 16000, block_seconds: float = 30.0,
                mel_note: Callable[[int], str] | None = None) -> Iterator[np.ndarray]:
    """Decode `path` like ``load(path, sr)`` (same checks, bit-identical samples: soxr's streaming
    resampler equals its one-shot one) as consecutive mono float32 blocks at `sr` Hz, reading about
    `block_seconds` of source audio at a time. A fault found late (truncation) raises at the end."""
    path = Path(path)
    _check_rate(path, sr)
    found = _Findings()
    with _open(path) as fh:
        rate, declared = fh.samplerate, fh.frames
        _warn_low_rate(path, rate, sr, mel_note)
        resampler = soxr.ResampleStream(rate, sr, 1, dtype="float32", quality=RESAMPLE_QUALITY) if rate != sr else None
        step = max(1, int(block_seconds * rate))
        done = 0
        while done < declared:
            mono = _read(path, fh, min(step, declared - done))
            if mono.size == 0:
                break
            done += mono.size
            out = resampler.resample_chunk(mono) if resampler is not None else mono
            if out.size:
                found.add(out)
                yield out
        if done < declared:
            raise AudioError(path, f"truncated: header declares {declared} frames, only {done} decoded")
        if resampler is not None:
            out = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if out.size:
                found.add(out)
                yield out
    if found.n == 0:
        raise AudioError(path, f"no samples left after resampling {rate} Hz to {sr} Hz")
    found.warn(path)


def _open(path: Path) -> sf.SoundFile:
    """An open, header-checked SoundFile (a context manager); AudioError for unusable files."""
    if not path.exists():
        raise AudioError(path, "file not found")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(path, "file is not readable (permission denied)")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        fh = sf.SoundFile(str(path))
    except sf.LibsndfileError as exc:
        raise AudioError(path, f"not a readable audio file or corrupt ({_one_line(exc)})") from None
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioError(path, f"cannot decode audio ({_one_line(exc)})") from None
    try:
        _check_header(path, fh, fh.samplerate, fh.frames)
    except BaseException:
        fh.close()
        raise
    return fh


def _read(path: Path, fh: sf.SoundFile, frames: int) -> np.ndarray:
    """Up to `frames` frames from the current position -> checked mono float32."""
    try:
        data = fh.read(frames=frames, dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise AudioError(path, f"not a readable audio file or corrupt ({_one_line(exc)})") from None
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioError(path, f"cannot decode audio ({_one_line(exc)})") from None
    # Integer PCM (incl. FLAC) cannot hold NaN/inf or huge values; float and lossy-decoded data can.
    if not fh.subtype.startswith(("PCM_", "ULAW", "ALAW")) and data.size:
        if not np.isfinite(data).all():
            raise AudioError(path, "contains non-finite samples (NaN or inf)")
        peak = float(np.abs(data).max())
        if peak > MAX_SAMPLE_MAGNITUDE:
            raise AudioError(path, f"sample magnitude {peak:.3g} is beyond any real recording "
                                   f"(limit {MAX_SAMPLE_MAGNITUDE:.0e}; full scale is 1.0)")
    # [N, 1] is contiguous, so reshape is a free view; downmix only when there are channels to mix.
    return data.reshape(-1) if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)


def _check_header(path: Path, fh: sf.SoundFile, rate: int, frames: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            path, f"unsupported sample rate {rate} Hz (accepted {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
        )
    if fh.channels < 1:
        raise AudioError(path, f"has {fh.channels} channels")
    info = fh.extra_info or ""
    for match in _SHORT_CHUNK.finditer(info):
        declared_bytes, present_bytes = int(match.group(2)), int(match.group(3))
        if declared_bytes not in _UNFINALISED_SIZES and present_bytes < declared_bytes:
            raise AudioError(
                path, f"truncated: {match.group(1)} chunk declares {declared_bytes} bytes, only {present_bytes} present"
            )
    if "ended unexpectedly" in info:
        raise AudioError(path, "truncated: stream ended unexpectedly")
    if any(note in info for note in _OGG_TRUNCATED):
        raise AudioError(path, "truncated: the Ogg stream ends without its final page")
    if frames <= 0:
        raise AudioError(path, "contains no audio frames (empty)")


def _check_rate(path: Path, sr) -> None:
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioError(path, f"target sample rate must be a positive integer, got {sr!r}")


class _Findings:
    """Silence / clipping counts over one or more blocks of a recording, warned about once."""

    def __init__(self, wave: np.ndarray | None = None):
        self.n = self.clipped = 0
        self.sound = False
        if wave is not None:
            self.add(wave)

    def add(self, wave: np.ndarray) -> None:
        magnitude = np.abs(wave)
        self.n += wave.size
        self.sound = self.sound or bool(magnitude.any())
        self.clipped += int(np.count_nonzero(magnitude >= CLIP_LEVEL))

    def warn(self, path: Path) -> None:
        if not self.sound:
            warnings.warn(f"{path}: audio is silent (all zeros)", AudioWarning, stacklevel=3)
        elif self.clipped > CLIP_FRACTION * self.n:
            warnings.warn(f"{path}: audio looks clipped ({self.clipped} of {self.n} samples at full scale)",
                          AudioWarning, stacklevel=3)


def _warn_low_rate(path: Path, rate: int, sr: int, mel_note: Callable[[int], str] | None) -> None:
    if rate < sr:
        note = f": {mel_note(rate)}" if mel_note is not None else f"; nothing above its {rate / 2:g} Hz Nyquist"
        warnings.warn(f"{path}: sampled at {rate} Hz, below the {sr} Hz the features use{note}",
                      AudioWarning, stacklevel=3)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
