"""Embedded default data set: seeded procedural dog barks, baby cries and gunshots mixed into
varied 10-s backgrounds, written as 16-bit audio + a manifest. No download needed.

Every "source recording" is a parameter family (a dog's pitch and formants, a room's reverb, a
background's noise colour and hum); clips drawn from one family vary around it. Splits are made by
family, so train/val/test never share a source, as with real recordings.

Events are placed with the DCASE 2017 Task 2 recipe (see mixtures.py): one event of 0.1-4 s per
positive clip at a uniform onset, at an event-to-background ratio drawn from the recipe's set
{-6, 0, +6} dB (`ebr_db`), or uniformly from a range (`ebr_db_range`, e.g. (-15, 5) for a harder set).

The whole plan (families, splits, per-clip seeds and EBRs) is made up front from the seed; clips are
then rendered independently, so the files are identical for any number of workers.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from raresound.data.manifest import ClipRecord, write_manifest
from raresound.data.mixtures import AUDIO_FORMATS, limit_peak, mix_at_ebr, write_clip
from raresound.data.ratio import BACKGROUND, DEFAULT_FRACTIONS, allocate, parse_ratio, split_by_source, stable_seed
from raresound.errors import ConfigError
from raresound.io import write_json
from raresound.workers import cap_workers, die_with_parent, usable_cores

EVENT_CLASSES = ("dog", "baby", "gunshot")
CLASSES = (*EVENT_CLASSES, BACKGROUND)
DEFAULT_RATIO = "6:1:2:16"
DEFAULT_EBR_DB = (-6.0, 0.0, 6.0)  # DCASE 2017 Task 2 mixing recipe
SAMPLE_RATE = 16000
CLIP_SECONDS = 10.0
# Clips drawn per source family on average; a class with >= 3 clips gets >= 3 families so each
# split can have one.
CLIPS_PER_SOURCE = 4
MANIFEST_NAME = "manifest.csv"


# ---------------------------------------------------------------------------------------------
# Source families: the fixed character of one "recording"
# ---------------------------------------------------------------------------------------------

def _family(cls: str, rng: np.random.Generator) -> dict:
    u = rng.uniform
    if cls == "dog":
        return {"f0": u(250, 650), "formants": [u(500, 1100), u(1300, 2600), u(2800, 4000)],
                "bark_s": u(0.1, 0.28), "noise": u(0.1, 0.6), "tilt": u(3, 9)}
    if cls == "baby":
        return {"f0": u(330, 570), "formants": [u(700, 1200), u(1500, 3000), u(3200, 4500)],
                "vib_rate": u(4, 8), "vib_depth": u(0.01, 0.05), "noise": u(0.02, 0.2), "tilt": u(3, 8)}
    if cls == "gunshot":
        return {"blast_tau": u(0.004, 0.02), "tail_tau": u(0.08, 0.5), "tail_level": u(0.05, 0.3),
                "cutoff": u(2000, 7000), "thump_hz": u(50, 150), "echo_s": u(0.03, 0.15)}
    # Coloured noise is always there (a faint floor when not prominent), so no background is a
    # pure tone over digital silence, which would make any event trivially detectable.
    prominent = {"noise": rng.random() < 0.7, "hum": rng.random() < 0.4,
                 "babble": rng.random() < 0.4, "crackle": rng.random() < 0.35}
    if not any(prominent.values()):
        prominent[("noise", "hum", "babble", "crackle")[int(rng.integers(4))]] = True
    levels = {p: u(-18, 0) for p in prominent}
    if not prominent["noise"]:
        levels["noise"] = u(-35, -20)
    return {"parts": [p for p, on in prominent.items() if on or p == "noise"],
            "levels_db": levels,
            "alpha": float(rng.choice([0.0, 1.0, 2.0])),
            "mains": float(rng.choice([50.0, 60.0])), "hum_harm": list(u(0.05, 1.0, 8) / np.arange(1, 9)),
            "talkers": int(rng.integers(3, 8)), "syllable_hz": u(3, 6),
            "crackle_rate": u(30, 400), "crackle_hz": u(1500, 6000),
            "level_dbfs": u(-36, -22)}


# ---------------------------------------------------------------------------------------------
# Signal building blocks
# ---------------------------------------------------------------------------------------------

def _formant_gain(freqs: np.ndarray, formants: Sequence[float], tilt_db_oct: float) -> np.ndarray:
    """Lorentzian resonances (bandwidth ~ 10 % of the formant) on a spectral tilt."""
    gain = np.full_like(freqs, 0.05, dtype=np.float64)
    for f in formants:
        bw = 0.1 * f + 60.0
        gain += 1.0 / (1.0 + ((freqs - f) / bw) ** 2)
    return gain * (np.maximum(freqs, 100.0) / 100.0) ** (-tilt_db_oct / 6.02)


def _harmonic_sum(phase: np.ndarray, amps: np.ndarray, rng) -> np.ndarray:
    """sum_k amps[k-1] * sin(k * phase + random offset_k), by the recurrence z^k = z^(k-1) * z on
    complex64 (float64 sin over 10^6 samples x harmonics dominated synthesis time)."""
    z = np.exp(1j * np.mod(phase, 2 * np.pi).astype(np.float32))
    zk = np.ones_like(z)
    out = np.zeros(phase.size, dtype=np.float32)
    for k, amp in enumerate(amps):
        zk *= z
        c = amp * np.exp(1j * rng.uniform(0, 2 * np.pi))
        out += np.float32(c.real) * zk.imag + np.float32(c.imag) * zk.real
    return out


def _harmonic(f0: np.ndarray, formants, tilt: float, sr: int, rng) -> np.ndarray:
    """Sum of harmonics of the pitch track `f0` (Hz per sample) below 7 kHz, weighted by formants."""
    k = np.arange(1, max(2, int(7000 / f0.max())) + 1)
    wave = _harmonic_sum(2 * np.pi * np.cumsum(f0) / sr, _formant_gain(k * float(f0.mean()), formants, tilt), rng)
    return wave / (np.abs(wave).max() + 1e-12)


def _shaped_noise(n: int, gain_of_freq, sr: int, rng) -> np.ndarray:
    """White noise filtered in the frequency domain by gain_of_freq(freqs) (RMS-normalised)."""
    # The spectrum of white Gaussian noise is itself white complex Gaussian: draw it directly.
    m = n // 2 + 1
    spec = np.empty(m, dtype=np.complex64)
    spec.real = rng.standard_normal(m, dtype=np.float32)
    spec.imag = rng.standard_normal(m, dtype=np.float32)
    spec *= gain_of_freq(np.fft.rfftfreq(n, 1 / sr)).astype(np.float32)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)  # complex64 in -> float32 out (numpy >= 2)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


_HOLD = 16


def _smooth_random(n: int, rate_hz: float, sr: int, rng) -> np.ndarray:
    """A slowly varying random curve (about `rate_hz` changes/s) in [0, 1], upsampled by interp."""
    knots = max(4, int(n / sr * rate_hz * 2) + 2)
    values = rng.random(knots)
    # Interpolate at 1 ms steps and hold: the curve moves at a few Hz, and a full-rate interp of
    # every envelope was a large share of synthesis time.
    coarse = -(-n // _HOLD)
    curve = np.interp(np.linspace(0, knots - 1, coarse), np.arange(knots), values).astype(np.float32)
    return np.repeat(curve, _HOLD)[:n]


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------

def _dog(fam: dict, sr: int, rng) -> np.ndarray:
    barks = []
    for b in range(int(rng.integers(1, 4))):
        dur = fam["bark_s"] * rng.uniform(0.75, 1.3)
        n = int(dur * sr)
        t = np.arange(n) / n
        f0 = fam["f0"] * rng.uniform(0.85, 1.15) * (1 + rng.uniform(0.1, 0.4) * 4 * t * (1 - t) - 0.2 * t)
        formants = [f * rng.uniform(0.93, 1.07) for f in fam["formants"]]
        voiced = _harmonic(f0, formants, fam["tilt"], sr, rng)
        breath = _shaped_noise(n, lambda f: _formant_gain(f, formants, fam["tilt"]), sr, rng)
        breath /= np.abs(breath).max() + 1e-12
        attack = np.minimum(1.0, np.arange(n) / (rng.uniform(0.004, 0.015) * sr))
        env = attack * np.exp(-t * rng.uniform(2.0, 4.0))
        barks.append(env * ((1 - fam["noise"]) * voiced + fam["noise"] * breath))
        barks.append(np.zeros(int(rng.uniform(0.08, 0.35) * sr)))
    return np.concatenate(barks[:-1])


def _baby(fam: dict, sr: int, rng) -> np.ndarray:
    n = int(rng.uniform(1.0, 4.0) * sr)
    t = np.arange(n) / sr
    tt = t / t[-1]
    base = fam["f0"] * rng.uniform(0.92, 1.08)
    vib = fam["vib_depth"] * rng.uniform(0.7, 1.3) * np.sin(2 * np.pi * fam["vib_rate"] * rng.uniform(0.9, 1.1) * t)
    contour = rng.uniform(0.0, 0.15) * np.sin(np.pi * tt) - rng.uniform(0.0, 0.1) * tt ** 3
    f0 = base * (1 + contour + vib)
    # Keep the whole track, vibrato included, inside 300-600 Hz (its span is well under 2x).
    f0 *= max(1.0, 300.0 / f0.min()) * min(1.0, 600.0 / f0.max())
    formants = [f * rng.uniform(0.93, 1.07) for f in fam["formants"]]
    voiced = _harmonic(f0, formants, fam["tilt"], sr, rng)
    breath = _shaped_noise(n, lambda f: _formant_gain(f, formants, fam["tilt"]), sr, rng)
    breath /= np.abs(breath).max() + 1e-12
    ramp_in, ramp_out = rng.uniform(0.05, 0.15) * sr, rng.uniform(0.1, 0.3) * sr
    idx = np.arange(n)
    env = np.minimum(1.0, np.minimum(idx / ramp_in, (n - idx) / ramp_out))
    env *= 1 - 0.25 * _smooth_random(n, 3.0, sr, rng)
    return env * ((1 - fam["noise"]) * voiced + fam["noise"] * breath)


def _gunshot(fam: dict, sr: int, rng) -> np.ndarray:
    tail_tau = fam["tail_tau"] * rng.uniform(0.8, 1.25)
    n = int(min(2.0, 0.05 + 5 * tail_tau) * sr)
    t = np.arange(n) / sr
    cutoff = fam["cutoff"] * rng.uniform(0.8, 1.2)
    lowpass = lambda f: 1.0 / np.sqrt(1.0 + (f / cutoff) ** 4)  # noqa: E731
    blast = _shaped_noise(n, lowpass, sr, rng) * np.exp(-t / (fam["blast_tau"] * rng.uniform(0.8, 1.25)))
    tail = _shaped_noise(n, lambda f: lowpass(f * 2.5), sr, rng) * np.exp(-t / tail_tau)
    thump = np.sin(2 * np.pi * fam["thump_hz"] * rng.uniform(0.9, 1.1) * t) * np.exp(-t / 0.03)
    wave = blast + fam["tail_level"] * rng.uniform(0.7, 1.4) * tail + 0.5 * thump
    for _ in range(int(rng.integers(1, 3))):  # early reflections off nearby walls
        d = int(fam["echo_s"] * rng.uniform(0.7, 2.0) * sr)
        if d < n:
            wave[d:] += rng.uniform(0.15, 0.45) * wave[: n - d]
    wave *= np.minimum(1.0, np.arange(n) / (0.0005 * sr))  # sub-ms attack, no click at sample 0
    return wave


EVENT_SYNTHS = {"dog": _dog, "baby": _baby, "gunshot": _gunshot}


# ---------------------------------------------------------------------------------------------
# Backgrounds
# ---------------------------------------------------------------------------------------------

def _coloured_noise(fam, n, sr, rng):
    alpha = max(0.0, fam["alpha"] + rng.uniform(-0.2, 0.2))  # 0 white, 1 pink, 2 brown
    return _shaped_noise(n, lambda f: np.maximum(f, 20.0) ** (-alpha / 2), sr, rng)


def _hum(fam, n, sr, rng):
    f = fam["mains"] + rng.uniform(-0.1, 0.1)
    x = _harmonic_sum(2 * np.pi * f * np.arange(n) / sr, np.asarray(fam["hum_harm"]), rng)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _babble(fam, n, sr, rng):
    speech_band = lambda f: np.exp(-0.5 * (np.log(np.maximum(f, 1.0) / 700.0) / 0.7) ** 2)  # noqa: E731
    carrier = _shaped_noise(n, speech_band, sr, rng)
    x = np.zeros(n, dtype=np.float32)
    for _ in range(fam["talkers"]):
        syllables = _smooth_random(n, fam["syllable_hz"] * rng.uniform(0.8, 1.2), sr, rng) ** 3
        x += np.roll(carrier, int(rng.integers(n))) * syllables  # shifted copies decorrelate talkers
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _crackle(fam, n, sr, rng):
    count = rng.poisson(fam["crackle_rate"] * n / sr)
    klen = 96
    kt = np.arange(klen) / sr
    kernel = np.sin(2 * np.pi * fam["crackle_hz"] * rng.uniform(0.8, 1.2) * kt) * np.exp(-kt / rng.uniform(0.0005, 0.002))
    pos = rng.integers(0, n - klen, count)
    amp = rng.lognormal(0.0, 0.7, count)
    x = np.bincount((pos[:, None] + np.arange(klen)).ravel(), (amp[:, None] * kernel).ravel(), minlength=n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


BACKGROUND_PARTS = {"noise": _coloured_noise, "hum": _hum, "babble": _babble, "crackle": _crackle}


def _background(fam: dict, n: int, sr: int, rng) -> np.ndarray:
    x = np.zeros(n, dtype=np.float32)
    for part in fam["parts"]:
        level = 10 ** ((fam["levels_db"][part] + rng.uniform(-3, 3)) / 20)
        x += level * BACKGROUND_PARTS[part](fam, n, sr, rng)
    target = 10 ** ((fam["level_dbfs"] + rng.uniform(-4, 4)) / 20)
    return x * (target / (np.sqrt(np.mean(x ** 2)) + 1e-12))


# ---------------------------------------------------------------------------------------------
# Rendering one clip (runs in worker processes)
# ---------------------------------------------------------------------------------------------

def _render(job: dict) -> tuple[float | None, float | None]:
    """Synthesise and write one clip; returns (onset, offset) in seconds, None for background."""
    rng = np.random.default_rng(job["seed"])
    sr, n = job["sr"], job["n"]
    wave = _background(job["background_family"], n, sr, rng)
    onset = offset = None
    if job["cls"] != BACKGROUND:
        event = EVENT_SYNTHS[job["cls"]](job["event_family"], sr, rng)[:n]
        start = int(rng.integers(0, n - event.size + 1))
        wave = mix_at_ebr(wave.astype(np.float32), event.astype(np.float32), start, job["ebr_db"])
        onset, offset = start / sr, (start + event.size) / sr
    # Loud background families can exceed full scale on their own: scale down, never clip.
    write_clip(job["path"], limit_peak(wave.astype(np.float32)), sr, job["format"])
    return onset, offset


# ---------------------------------------------------------------------------------------------
# Planning + public entry point
# ---------------------------------------------------------------------------------------------

def resolve_counts(counts: Mapping[str, int] | None = None, ratio: str | Mapping[str, int] | None = None,
                   n_clips: int | None = None) -> dict[str, int]:
    """Clip counts per class from explicit `counts`, or `ratio` (named, or positional over
    dog,baby,gunshot,background) and `n_clips` total (defaults 6:1:2:16 and 500)."""
    if counts is not None:
        if ratio is not None or n_clips is not None:
            raise ConfigError("counts", "give either counts or ratio/n_clips, not both")
        out = dict(counts)
    else:
        total = 500 if n_clips is None else n_clips
        if not isinstance(total, int) or total <= 0:
            raise ConfigError("n_clips", f"must be a positive integer, got {total!r}")
        out = allocate(total, parse_ratio(DEFAULT_RATIO if ratio is None else ratio, CLASSES))
    unknown = set(out) - set(CLASSES)
    if unknown:
        raise ConfigError("counts", f"unknown class(es) {sorted(unknown)}; synthetic classes are {', '.join(CLASSES)}")
    for cls, c in out.items():
        if not isinstance(c, (int, np.integer)) or c < 0:
            raise ConfigError("counts", f"count for '{cls}' must be a non-negative integer, got {c!r}")
    if sum(out.values()) == 0:
        raise ConfigError("counts", "no clips requested")
    return {cls: int(out.get(cls, 0)) for cls in CLASSES}


def _ebr_sampler(choices: Sequence[float], value_range: tuple[float, float] | None):
    """rng -> one EBR in dB: uniform over `value_range` if given, else one of `choices`."""
    if value_range is not None:
        low, high = (float(v) for v in value_range)
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ConfigError("ebr_db_range", f"expected finite LOW <= HIGH, got {value_range}")
        return lambda rng: float(rng.uniform(low, high))
    values = [float(v) for v in choices]
    if not values or not all(math.isfinite(v) for v in values):
        raise ConfigError("ebr_db", f"expected one or more finite dB values, got {choices}")
    return lambda rng: values[int(rng.integers(len(values)))]


def _n_sources(count: int) -> int:
    return max(min(count, 3), math.ceil(count / CLIPS_PER_SOURCE))


def synthesize_dataset(out_dir: str | Path, counts: Mapping[str, int] | None = None, *,
                       ratio: str | Mapping[str, int] | None = None, n_clips: int | None = None,
                       seed: int = 0, ebr_db: Sequence[float] = DEFAULT_EBR_DB,
                       ebr_db_range: tuple[float, float] | None = None,
                       fractions: Sequence[float] = DEFAULT_FRACTIONS, clip_seconds: float = CLIP_SECONDS,
                       sample_rate: int = SAMPLE_RATE, audio_format: str = "wav",
                       workers: int | None = None,
                       check: Callable[[list[ClipRecord]], None] | None = None) -> Path:
    """Write a synthetic data set under `out_dir` (audio/<class>/*.wav, manifest.csv,
    synthesis.json with the settings and each clip's EBR) and return the manifest path.

    counts: clips per class, e.g. {"dog": 144, "baby": 24, "gunshot": 48, "background": 384};
    or ratio ("dog=6,baby=1,gunshot=2,background=16", or "6:1:2:16" in that order) + n_clips.
    ebr_db: the EBR values (dB) each event clip draws one of (default: DCASE 2017 Task 2's -6, 0,
    +6); ebr_db_range: (low, high) dB drawn uniformly per clip instead. fractions: train/val/test
    shares, assigned by source family.
    workers: processes (default: CPU count, at most 8); output does not depend on it.
    check: called with the planned records (labels, splits) before any audio is written; it may
    raise to stop, e.g. when a split would hold no clip of a class (data.checks)."""
    counts = resolve_counts(counts, ratio, n_clips)
    draw_ebr = _ebr_sampler(ebr_db, ebr_db_range)
    if audio_format.lower() not in AUDIO_FORMATS:
        raise ConfigError("audio_format", f"{audio_format!r} is not one of {', '.join(AUDIO_FORMATS)}")
    if not 2.0 < clip_seconds <= 3600.0 or not sample_rate >= 16000:
        raise ConfigError("clip_seconds", "clips must be > 2 s (and at most 3600 s) and sample_rate >= 16000 Hz (events are up to 4 s, 7 kHz)")
    out_dir = Path(out_dir)
    n = int(round(clip_seconds * sample_rate))

    families: dict[str, list[dict]] = {}
    split_of: dict[str, str] = {}
    for cls in CLASSES:
        k = max(_n_sources(counts[cls]), 3 if cls == BACKGROUND else 0)
        families[cls] = [_family(cls, np.random.default_rng(stable_seed(seed, "family", cls, str(j))))
                         for j in range(k)]
        ids = [f"synth-{cls}-{j:03d}" for j in range(k)]
        clip_ids = [ids[i % k] for i in range(counts[cls])]  # weight families by clips drawn
        clip_ids += ids[len(set(clip_ids)):]  # unused families still need a split
        split_of.update(split_by_source(clip_ids, fractions, stable_seed(seed, "split", cls)))
    bg_ids = [f"synth-{BACKGROUND}-{j:03d}" for j in range(len(families[BACKGROUND]))]
    bg_by_split = {s: [j for j, i in enumerate(bg_ids) if split_of[i] == s] for s in set(split_of.values())}

    jobs, records = [], []
    plan_rng = np.random.default_rng(stable_seed(seed, "plan"))
    for cls in CLASSES:
        for i in range(counts[cls]):
            j = i % len(families[cls])
            source = f"synth-{cls}-{j:03d}"
            split = split_of[source]
            # Backgrounds under events come from background families of the same split.
            pool = bg_by_split.get(split) or range(len(bg_ids))
            bg_j = j if cls == BACKGROUND else int(plan_rng.choice(list(pool)))
            path = out_dir / "audio" / cls / f"{cls}-{i:05d}.{audio_format.lower()}"
            jobs.append({"seed": stable_seed(seed, "clip", cls, str(i)), "cls": cls, "sr": sample_rate, "n": n,
                         "event_family": families[cls][j] if cls != BACKGROUND else None,
                         "background_family": families[BACKGROUND][bg_j],
                         "ebr_db": draw_ebr(plan_rng) if cls != BACKGROUND else None,
                         "path": str(path), "format": audio_format.lower()})
            records.append(ClipRecord(str(path), () if cls == BACKGROUND else (cls,), split, source, clip_seconds))

    if check is not None:
        check(records)
    workers = min(8, usable_cores()) if workers is None else cap_workers(max(1, int(workers)), "workers")
    if workers == 1 or len(jobs) < 16:
        spans = [_render(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
            spans = list(pool.map(_render, jobs, chunksize=max(1, len(jobs) // (8 * workers))))
    records = [ClipRecord(r.path, r.labels, r.split, r.source_id, r.duration, on, off)
               for r, (on, off) in zip(records, spans)]
    manifest = out_dir / MANIFEST_NAME
    write_json(out_dir / "synthesis.json", {
        "seed": seed, "counts": counts, "fractions": list(fractions),
        **({"ebr_db_range": [float(v) for v in ebr_db_range]} if ebr_db_range is not None
           else {"ebr_db_choices": [float(v) for v in ebr_db]}),
        "clip_seconds": clip_seconds, "sample_rate": sample_rate, "audio_format": audio_format.lower(),
        "ebr_db": {Path(j["path"]).relative_to(out_dir).as_posix(): j["ebr_db"] for j in jobs if j["ebr_db"] is not None},
    })
    write_manifest(records, manifest)
    return manifest
