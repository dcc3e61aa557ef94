"""Join clips of a manifest split into one long recording and its reference event list, so that
`detect` and `evaluate-events` can be tried on audio whose events are known (e.g. the demo's test
split: `raresound data join runs/demo/data/manifest.csv --out runs/demo/long.wav`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from raresound.audio import load
from raresound.data.manifest import read_manifest
from raresound.data.mixtures import write_clip
from raresound.errors import DataError
from raresound.evaluation.events import Event, write_event_list


def join_clips(manifest: str | Path, out: str | Path, events_path: str | Path | None = None, split: str = "test",
               n_clips: int = 12, seed: int = 0, sample_rate: int = 16000,
               crossfade: float = 0.0) -> tuple[Path, Path, float, list[Event]]:
    """Write `n_clips` clips of `split` (a seeded draw, in drawn order) end to end as a 16-bit WAV
    and their labelled spans as a DCASE event list (default: `out` with suffix .tsv). A clip's
    event spans its manifest onset/offset, or the whole clip where the manifest gives none.

    crossfade: seconds over which consecutive clips overlap with equal-power ramps. A butt splice
    of two recordings is a step in the background (and often a click) that no real recording has,
    and an impulse detector rightly fires on it; a crossfade joins them the way a background
    changes. Each clip then starts `crossfade` seconds before the previous one ends.
    Returns (wav, event list, seconds, events)."""
    if n_clips < 1:
        raise DataError(f"`n_clips` must be >= 1, got {n_clips}")
    if not 0.0 <= crossfade <= 2.0:
        raise DataError(f"`crossfade` must be between 0 and 2 seconds, got {crossfade}")
    out = Path(out)
    events_path = Path(events_path) if events_path is not None else out.with_suffix(".tsv")
    records = [r for r in read_manifest(manifest) if r.split == split]
    if not records:
        raise DataError(f"{manifest}: no clips in split {split!r}")
    order = np.random.default_rng(seed).permutation(len(records))[:n_clips]
    fade = int(round(crossfade * sample_rate))
    waves, starts, events, at = [], [], [], 0
    for k, i in enumerate(order):
        rec = records[i]
        wave = load(rec.path, sample_rate)
        if len(wave) <= 2 * fade:
            raise DataError(f"{rec.path}: {len(wave) / sample_rate:g} s is too short for a {crossfade:g}-s crossfade")
        at -= fade if k else 0  # each clip after the first starts inside the previous one's last `fade`
        start, seconds = at / sample_rate, len(wave) / sample_rate
        onset = rec.onset if rec.onset is not None else 0.0
        offset = rec.offset if rec.offset is not None else seconds
        events += [Event(out.name, start + onset, start + offset, label) for label in rec.labels]
        waves.append(wave)
        starts.append(at)
        at += len(wave)
    write_clip(out, _overlap_add(waves, starts, fade, at), sample_rate)
    write_event_list(events, events_path)
    return out, events_path, at / sample_rate, events


def _overlap_add(waves: list[np.ndarray], starts: list[int], fade: int, total: int) -> np.ndarray:
    """The clips placed at `starts`, each faded in and out over `fade` samples with equal-power
    (sine / cosine) ramps, which keep uncorrelated backgrounds at their level through a join. The
    first clip's start and the last clip's end are not faded."""
    out = np.zeros(total, np.float32)
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / max(fade, 1)).astype(np.float32)
    for k, (wave, start) in enumerate(zip(waves, starts)):
        wave = wave.astype(np.float32, copy=True)
        if fade and k > 0:
            wave[:fade] *= ramp
        if fade and k < len(waves) - 1:
            wave[-fade:] *= ramp[::-1]
        out[start:start + len(wave)] += wave
    return out
