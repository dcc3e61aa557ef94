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
               n_clips: int = 12, seed: int = 0, sample_rate: int = 16000) -> tuple[Path, Path, float, list[Event]]:
    """Write `n_clips` clips of `split` (a seeded draw, in drawn order) end to end as a 16-bit WAV
    and their labelled spans as a DCASE event list (default: `out` with suffix .tsv). A clip's
    event spans its manifest onset/offset, or the whole clip where the manifest gives none.
    Returns (wav, event list, seconds, events)."""
    if n_clips < 1:
        raise DataError(f"--n-clips must be >= 1, got {n_clips}")
    out = Path(out)
    events_path = Path(events_path) if events_path is not None else out.with_suffix(".tsv")
    records = [r for r in read_manifest(manifest) if r.split == split]
    if not records:
        raise DataError(f"{manifest}: no clips in split {split!r}")
    order = np.random.default_rng(seed).permutation(len(records))[:n_clips]
    waves, events, start = [], [], 0.0
    for i in order:
        rec = records[i]
        wave = load(rec.path, sample_rate)
        seconds = len(wave) / sample_rate
        onset = rec.onset if rec.onset is not None else 0.0
        offset = rec.offset if rec.offset is not None else seconds
        events += [Event(out.name, start + onset, start + offset, label) for label in rec.labels]
        waves.append(wave)
        start += seconds
    write_clip(out, np.concatenate(waves), sample_rate)
    write_event_list(events, events_path)
    return out, events_path, start, events
