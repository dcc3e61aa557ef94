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

import csv
import functools
import io
import warnings
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import soundfile as sf

from raresound import audio
from raresound.data.manifest import SPLITS, ClipRecord, check_label, write_manifest
from raresound.data.ratio import BACKGROUND, DEFAULT_FRACTIONS, allocate, assign_splits
from raresound.errors import AudioError, ConfigError, DataError
from raresound.io import atomic_path, confined, write_text
from raresound.workers import cap_workers, die_with_parent

# Peak after anti-clipping rescale; a hair under full scale so 16-bit rounding never hits the rail.
PEAK_LIMIT = 0.99
# One mixture is rendered in memory: an hour at 16 kHz is 230 MB of float32 per clip and worker.
MAX_CLIP_SECONDS = 3600.0
AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC"}


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def mix_at_ebr(background: np.ndarray, event: np.ndarray, start: int, ebr_db: float,
               reference_rms: float | None = None) -> np.ndarray:
    """Add `event` to `background` at sample `start`, scaled so that
    20*log10(rms(event part) / rms(background[start:start+len(event)])) == ebr_db (or relative to
    `reference_rms` when given), then scale the whole mixture down if its peak exceeds
    PEAK_LIMIT. Returns a new float32 array."""
    end = start + event.size
    if start < 0 or end > background.size:
        raise DataError(f"event of {event.size} samples at {start} does not fit a {background.size}-sample clip")
    event_rms = rms(event)
    if event_rms == 0.0:
        raise DataError("event is silent; cannot set an event-to-background ratio")
    background_rms = rms(background[start:end]) if reference_rms is None else reference_rms
    # A digitally silent background span makes EBR undefined; keep the event at its own level.
    gain = 1.0 if background_rms == 0.0 else background_rms / event_rms * 10.0 ** (ebr_db / 20.0)
    mixture = background.astype(np.float32, copy=True)
    mixture[start:end] += (gain * event).astype(np.float32)
    return limit_peak(mixture)


def limit_peak(wave: np.ndarray) -> np.ndarray:
    """Scale the whole clip down (never clip it) when its peak exceeds PEAK_LIMIT."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak > PEAK_LIMIT:
        wave = wave * np.float32(PEAK_LIMIT / peak)
    return wave


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


# ---------------------------------------------------------------------------------------------
# Mixing real isolated events into real backgrounds
# ---------------------------------------------------------------------------------------------

DEFAULT_EBRS_DB = (-6.0, 0.0, 6.0)
# Frames quieter than this (relative to the loudest 10-ms frame) are silence to trim: ESC-50 and
# similar clips are zero-padded to a fixed length, and padding must not count as the event's span.
TRIM_DB = -40.0
# Crossfade at the joins of background pieces, so a join is not an impulsive click.
JOIN_SECONDS = 0.02
# A background span quieter than this makes EBR meaningless; the whole background clip is used.
SILENT_RMS = 1e-5


@dataclass(frozen=True)
class Material:
    """One usable source clip: its record and the active span [start, stop) in samples at the
    working rate (after the record's onset/offset cut and silence trimming)."""
    record: ClipRecord
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass
class MixResult:
    manifest: Path
    counts: dict[str, dict[str, int]]  # split -> class -> clips written
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def _frame_rms(wave: np.ndarray, sr: int) -> tuple[np.ndarray, int] | tuple[int, int]:
    """(RMS of each whole 10-ms frame, hop), or the span to return when there is no frame to measure
    ((0, len) for a sub-frame clip with sound, (0, 0) for silence)."""
    hop = max(1, sr // 100)
    n = wave.size // hop * hop
    if n == 0:
        return (0, wave.size) if np.any(wave) else (0, 0)
    frames = np.sqrt(np.mean(np.square(wave[:n].reshape(-1, hop), dtype=np.float64), axis=1))
    return (frames, hop) if frames.max() > 0.0 else (0, 0)


def active_span(wave: np.ndarray, sr: int, threshold_db: float = TRIM_DB) -> tuple[int, int]:
    """[start, stop) from the first to the last 10-ms frame within threshold_db of the loudest."""
    frames, hop = _frame_rms(wave, sr)
    if not isinstance(frames, np.ndarray):
        return frames, hop
    on = np.flatnonzero(frames >= frames.max() * 10.0 ** (threshold_db / 20.0))
    return int(on[0] * hop), int(min(wave.size, (on[-1] + 1) * hop))


# event_span="single": one occurrence of the sound (one bark of a barking clip). Frames within
# SINGLE_DB of the clip's loudest 10-ms frame are the sound; runs of them closer than SINGLE_BRIDGE_S
# are one occurrence (a bark's own dips), and the occurrence holding the loudest frame is the event.
EVENT_SPANS = ("active", "single")
LONG_EVENTS = ("truncate", "skip", "error")
SINGLE_DB = -20.0
SINGLE_BRIDGE_S = 0.1


def loudest_occurrence(wave: np.ndarray, sr: int, threshold_db: float = SINGLE_DB,
                       bridge_seconds: float = SINGLE_BRIDGE_S) -> tuple[int, int]:
    """[start, stop) of the run of 10-ms frames within threshold_db of the loudest frame that holds the
    loudest frame, joining runs separated by gaps shorter than bridge_seconds."""
    frames, hop = _frame_rms(wave, sr)
    if not isinstance(frames, np.ndarray):
        return frames, hop
    loud = frames >= frames.max() * 10.0 ** (threshold_db / 20.0)
    peak = int(np.argmax(frames))
    bridge = max(1, int(round(bridge_seconds * 100)))
    start = stop = peak
    while True:  # grow over loud frames and across quiet gaps shorter than the bridge
        left = np.flatnonzero(loud[max(0, start - bridge):start])
        right = np.flatnonzero(loud[stop + 1:stop + 1 + bridge])
        if not left.size and not right.size:
            break
        if left.size:
            start = max(0, start - bridge) + int(left[0])
        if right.size:
            stop = stop + 1 + int(right[-1])
    return start * hop, min(wave.size, (stop + 1) * hop)


def _cut(path: str, onset: float | None, offset: float | None, sr: int) -> np.ndarray:
    """The record's audio, restricted to its annotated [onset, offset] when it has one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # silent/clipped warnings: silence is trimmed by the caller
        wave = audio.load(path, sr=sr)
    if onset is not None and offset is not None:
        wave = wave[int(round(onset * sr)): int(round(offset * sr))]
    return wave


def _survey(record: ClipRecord, sr: int, span: str = "active") -> tuple[int, int] | str:
    """Active span (or, for span="single", loudest occurrence) of a source clip, or the reason it cannot be used."""
    try:
        wave = _cut(record.path, record.onset, record.offset, sr)
    except AudioError as exc:
        return exc.reason
    start, stop = active_span(wave, sr) if span == "active" else loudest_occurrence(wave, sr)
    if stop - start < sr // 100:
        return "silent (no active audio after trimming)"
    return start, stop


@functools.lru_cache(maxsize=64)
def _load_span(path: str, onset: float | None, offset: float | None, start: int, stop: int, sr: int) -> np.ndarray:
    # Cached: one event or background recording is typically reused by many mixtures.
    return _cut(path, onset, offset, sr)[start:stop]


def _material_wave(m: Material, sr: int) -> np.ndarray:
    r = m.record
    return _load_span(r.path, r.onset, r.offset, m.start, m.stop, sr)


def _build_background(pieces: list[tuple[Material, int]], n: int, sr: int) -> np.ndarray:
    """Concatenate (material, offset) pieces with short crossfades and crop to n samples."""
    fade = int(JOIN_SECONDS * sr)
    out = np.zeros(0, dtype=np.float32)
    for m, offset in pieces:
        piece = _material_wave(m, sr)[offset:].astype(np.float32)
        if out.size >= fade and piece.size >= fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            joined = out[-fade:] * (1 - ramp) + piece[:fade] * ramp
            out = np.concatenate([out[:-fade], joined, piece[fade:]])
        else:
            out = np.concatenate([out, piece])
    return np.pad(out, (0, max(0, n - out.size)))[:n]


def _render_mixture(job: dict) -> tuple[str, str | None]:
    """Build and write one clip; returns (path, error reason or None)."""
    sr, n = job["sr"], job["n"]
    try:
        wave = _build_background(job["pieces"], n, sr)
        if job["event"] is not None:
            event = _material_wave(job["event"], sr)[:n].astype(np.float32)
            start = job["onset_sample"]
            reference = None
            if rms(wave[start:start + event.size]) < SILENT_RMS and rms(wave) >= SILENT_RMS:
                reference = rms(wave)  # silent span (padding in the background): use the clip's RMS
            wave = mix_at_ebr(wave, event, start, job["ebr_db"], reference)
        write_clip(job["path"], limit_peak(wave), sr, job["format"])
    except AudioError as exc:  # a file changed or vanished since the survey
        return job["path"], exc.reason
    return job["path"], None


def _material_by_split(records: Sequence[ClipRecord], sr: int, role: str,
                       skipped: list[tuple[str, str]], span: str = "active") -> dict[str, list[Material]]:
    by_split: dict[str, list[Material]] = defaultdict(list)
    for rec in records:
        survey = _survey(rec, sr, span)
        if isinstance(survey, str):
            skipped.append((rec.path, f"{role}: {survey}"))
        else:
            by_split[rec.split].append(Material(rec, *survey))
    return by_split


def _check_disjoint(records: Sequence[ClipRecord]) -> None:
    seen: dict[str, str] = {}
    for rec in records:
        if seen.setdefault(rec.source_id, rec.split) != rec.split:
            raise DataError(f"{rec.path}: source '{rec.source_id}' is in both '{seen[rec.source_id]}' and "
                            f"'{rec.split}'; re-split by source (resplit=True)")


def mix_dataset(events: Sequence[ClipRecord], backgrounds: Sequence[ClipRecord], out_dir: str | Path,
                counts: Mapping[str, int] | None = None, *, ebr_db: Sequence[float] = DEFAULT_EBRS_DB,
                clip_seconds: float = 10.0, sample_rate: int = 16000, resplit: bool = False,
                fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0, audio_format: str = "wav",
                workers: int = 1, event_span: str = "active", long_events: str = "truncate",
                clip_name: Callable[[str, str, int], str] | None = None) -> MixResult:
    """Mix isolated `events` (one label each, optional onset/offset cut) into `backgrounds`
    (unlabelled) and write out_dir/audio/<split>/*.wav, manifest.csv, mixtures.csv (the recipe of
    every clip) and report.csv (skipped source files).

    counts: clips per class over all splits, e.g. {"dog": 500, "gunshot": 500, "background": 1000};
    default: one mixture per usable event and one background clip per `clip_seconds` of background
    material. Each class's count is shared over splits in proportion to its events there.
    Backgrounds are drawn from the same split as the event and concatenated (random pieces, random
    windows of longer ones, 20-ms crossfades) to fill a clip: two 5-s recordings per 10-s clip.
    resplit: re-assign splits by source with `fractions` instead of trusting the records' splits
    (which must already be source-disjoint).
    event_span: "active" mixes each event clip from its first to its last sound (a barking clip: all
    its barks, and their gaps, as one event); "single" mixes only its loudest occurrence
    (`loudest_occurrence`), so the manifest's onset/offset bound one sound: what frame-level
    training and boundary evaluation need.
    long_events: what to do with an event whose span is longer than the clip: "truncate" (cut it to
    the clip, the historical behaviour), "skip" (leave it out and report it in `skipped`), or "error"
    (a DataError naming the file). The DCASE protocol (`data.protocol`) skips: a truncated event
    has no true offset.
    clip_name: (split, class, index) -> the clip's path relative to out_dir (default
    `audio/<split>/<class>-<index:06d>.<ext>`); index counts the clips of this call."""
    if event_span not in EVENT_SPANS:
        raise ConfigError("event_span", f"{event_span!r} is not one of {EVENT_SPANS}")
    if long_events not in LONG_EVENTS:
        raise ConfigError("long_events", f"{long_events!r} is not one of {LONG_EVENTS}")
    if not events and not backgrounds:
        raise DataError("nothing to mix: no event and no background records")
    for rec in events:
        if len(rec.labels) != 1:
            raise DataError(f"{rec.path}: an isolated event needs exactly one label, has {rec.labels}")
        check_label(rec.labels[0], rec.path)  # the label is part of the mixture's file name
    for rec in backgrounds:
        if rec.labels:
            raise DataError(f"{rec.path}: a background record must be unlabelled, has {rec.labels}")
    ebrs = [float(v) for v in ebr_db]
    if not ebrs or not all(np.isfinite(ebrs)):
        raise ConfigError("ebr_db", f"expected finite dB values, got {list(ebr_db)}")
    if audio_format.lower() not in AUDIO_FORMATS:
        raise ConfigError("audio_format", f"{audio_format!r} is not one of {', '.join(AUDIO_FORMATS)}")
    if not 0 < clip_seconds <= MAX_CLIP_SECONDS:
        raise ConfigError("clip_seconds", f"must be in (0, {MAX_CLIP_SECONDS:g}] seconds, got {clip_seconds}")
    if resplit:
        events, backgrounds = _resplit(events, backgrounds, fractions, seed)
    _check_disjoint([*events, *backgrounds])

    sr, n = int(sample_rate), int(round(clip_seconds * sample_rate))
    skipped: list[tuple[str, str]] = []
    event_pool = _material_by_split(events, sr, "event", skipped, event_span)
    if long_events != "truncate":
        event_pool = _drop_long(event_pool, n, sr, long_events, skipped)
    bg_pool = _material_by_split(backgrounds, sr, "background", skipped)
    classes = sorted({rec.labels[0] for rec in events})
    if counts is None:
        counts = {c: sum(m.record.labels[0] == c for ms in event_pool.values() for m in ms) for c in classes}
        counts[BACKGROUND] = int(sum(m.length for ms in bg_pool.values() for m in ms) // n)
    unknown = set(counts) - set(classes) - {BACKGROUND}
    if unknown:
        raise ConfigError("counts", f"no events of class(es) {sorted(unknown)}")

    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    jobs, records, recipe = [], [], []
    written: dict[str, dict[str, int]] = {}
    for cls in [*classes, BACKGROUND]:
        pool_of = ({s: [m for m in ms if m.record.labels[0] == cls] for s, ms in event_pool.items()}
                   if cls != BACKGROUND else bg_pool)
        share = {s: sum(m.length if cls == BACKGROUND else 1 for m in pool_of.get(s, [])) for s in SPLITS}
        if not any(share.values()):
            continue
        per_split = allocate(int(counts.get(cls, 0)), {s: w for s, w in share.items() if w > 0})
        for split, k in per_split.items():
            if k == 0:
                continue
            if not bg_pool.get(split):
                raise DataError(f"no usable background recordings in split '{split}' to mix {cls} clips into")
            order = rng.permutation(len(pool_of[split])) if cls != BACKGROUND else None
            for i in range(k):
                event = pool_of[split][order[i % len(order)]] if order is not None else None
                if event is not None and event.length > n:
                    event = Material(event.record, event.start, event.start + n)
                pieces = _draw_pieces(bg_pool[split], n, rng)
                ext = audio_format.lower()
                name = (clip_name(split, cls, len(jobs)) if clip_name is not None
                        else f"audio/{split}/{cls}-{len(jobs):06d}.{ext}")
                job = {"sr": sr, "n": n, "event": event, "pieces": pieces, "format": ext, "path": str(out_dir / name)}
                confined(name, out_dir, "mixture file")
                if event is not None:
                    job["onset_sample"] = int(rng.integers(0, n - event.length + 1))
                    job["ebr_db"] = float(rng.choice(ebrs))
                jobs.append(job)
                on = job["onset_sample"] / sr if event else None
                off = (job["onset_sample"] + event.length) / sr if event else None
                source = event.record.source_id if event else pieces[0][0].record.source_id
                records.append(ClipRecord(job["path"], (cls,) if event else (), split, source, clip_seconds, on, off))
                recipe.append(_recipe_row(job, cls, split, on, off))

    results = _run(jobs, workers)
    _load_span.cache_clear()  # a later call may see rewritten files under the same paths
    failed = {path: reason for path, reason in results if reason is not None}
    skipped += [(p, f"mixture not written: {r}") for p, r in failed.items()]
    records = [r for r in records if r.path not in failed]
    for r in records:
        cls = r.labels[0] if r.labels else BACKGROUND
        written.setdefault(r.split, {}).setdefault(cls, 0)
        written[r.split][cls] += 1
    manifest = out_dir / "manifest.csv"
    _write_csv(out_dir / "mixtures.csv", ["path", "class", "split", "event", "event_span", "backgrounds",
                                          "onset", "offset", "ebr_db"],
               [row for row in recipe if row[0] not in failed], out_dir)
    _write_csv(out_dir / "report.csv", ["path", "reason"], skipped, None)
    write_manifest(records, manifest)
    return MixResult(manifest, written, skipped)


def _drop_long(pool: dict[str, list[Material]], n: int, sr: int, policy: str,
               skipped: list[tuple[str, str]]) -> dict[str, list[Material]]:
    """The event pool without events longer than the n-sample clip: reported in `skipped`, or a
    DataError for policy "error"."""
    out: dict[str, list[Material]] = {}
    for split, materials in pool.items():
        out[split] = []
        for m in materials:
            if m.length <= n:
                out[split].append(m)
                continue
            reason = f"event of {m.length / sr:.2f} s is longer than the {n / sr:g}-s clip"
            if policy == "error":
                raise DataError(f"{m.record.path}: {reason}; use longer clips or shorter events")
            skipped.append((m.record.path, f"event: {reason} (skipped)"))
    return out


def _draw_pieces(pool: list[Material], n: int, rng: np.random.Generator) -> list[tuple[Material, int]]:
    """Random background pieces (distinct recordings while the pool lasts) filling n samples; a
    piece longer than what is still needed contributes a random window of it."""
    pieces, need = [], n
    order = list(rng.permutation(len(pool)))
    while need > 0:
        if not order:
            order = list(rng.permutation(len(pool)))
        m = pool[order.pop()]
        offset = int(rng.integers(0, m.length - need + 1)) if m.length > need else 0
        pieces.append((m, offset))
        need -= m.length - offset
    return pieces


def _seconds_in_file(m: Material, sample: int, sr: int) -> float:
    return (m.record.onset or 0.0) + sample / sr


def _recipe_row(job: dict, cls: str, split: str, on, off) -> list:
    """path, class, split, event file, event span in it (s), background pieces as file@start_s,
    onset, offset, EBR — enough to rebuild the clip."""
    ev, sr = job["event"], job["sr"]
    fmt = lambda v: "" if v is None else repr(v)  # noqa: E731
    return [job["path"], cls, split, ev.record.path if ev else "",
            f"{_seconds_in_file(ev, ev.start, sr)!r}:{_seconds_in_file(ev, ev.stop, sr)!r}" if ev else "",
            ";".join(f"{m.record.path}@{_seconds_in_file(m, m.start + off, sr)!r}" for m, off in job["pieces"]),
            fmt(on), fmt(off), fmt(job.get("ebr_db"))]


def _write_csv(path: Path, header: list[str], rows, base: Path | None) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        row = list(row)
        if base is not None:
            row[0] = Path(row[0]).relative_to(base).as_posix()
        writer.writerow(row)
    write_text(path, buf.getvalue())


def _run(jobs: list[dict], workers: int) -> list[tuple[str, str | None]]:
    if workers <= 1 or len(jobs) < 16:
        return [_render_mixture(job) for job in jobs]
    workers = cap_workers(workers, "workers")
    with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
        return list(pool.map(_render_mixture, jobs, chunksize=max(1, len(jobs) // (8 * workers))))


def _resplit(events, backgrounds, fractions, seed):
    both = assign_splits([*events, *backgrounds], fractions, seed)
    return both[: len(events)], both[len(events):]
