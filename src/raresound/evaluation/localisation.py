"""How well events are placed in time: long test files with planted events, and boundary errors.

`long_test_files` concatenates a data set's test clips (synthetic or mixed clips, whose manifest
rows give each event's onset/offset) into long files, every third clip a positive one (the classes
in turn), so each file holds events at known times between real backgrounds. `boundary_errors` matches each reference
event to the estimated event of its class (same file) that overlaps it most, and reports the
absolute onset and offset errors of the matched pairs: the "how many ms off" that event-based
F1 with a collar hides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from raresound.errors import DataError
from raresound.evaluation.events import Event


def long_test_files(records: Sequence, out_dir: str | Path, n_files: int = 8, clips_per_file: int = 9,
                    seed: int = 0, prefix: str = "long") -> tuple[list[Path], list[Event]]:
    """Write `n_files` WAVs of `clips_per_file` test clips each under `out_dir`; returns their paths
    and the reference events (onsets/offsets shifted by each clip's start in its file)."""
    test = [r for r in records if r.split == "test"]
    positives = [r for r in test if r.labels and r.onset is not None and r.offset is not None]
    negatives = [r for r in test if not r.labels]
    if not positives or not negatives:
        raise DataError("long test files need test clips with labelled onset/offset and background clips")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_label: dict = {}
    for r in positives:
        by_label.setdefault(r.labels[0], []).append(r)
    labels = sorted(by_label)
    rng = np.random.default_rng(seed)
    paths, reference, n_positive = [], [], 0
    for f in range(n_files):
        name, waves, t, sr = f"{prefix}{f:02d}.wav", [], 0.0, None
        for k in range(clips_per_file):
            if k % 3 == 1:  # classes in turn, so every class is planted (PSDS needs each)
                pool = by_label[labels[n_positive % len(labels)]]
                n_positive += 1
            else:
                pool = negatives
            rec = pool[int(rng.integers(len(pool)))]
            wave, rate = sf.read(rec.path, dtype="float32", always_2d=True)
            if sr is not None and rate != sr:
                raise DataError(f"{rec.path}: {rate} Hz, other clips are {sr} Hz")
            sr = rate
            reference += [Event(name, t + rec.onset, t + rec.offset, label) for label in rec.labels]
            waves.append(wave.mean(axis=1))
            t += wave.shape[0] / sr
        path = out_dir / name
        sf.write(str(path), np.concatenate(waves), sr, subtype="PCM_16")
        paths.append(path)
    return paths, reference


def boundary_errors(reference: Sequence[Event], estimated: Sequence[Event]) -> dict:
    """Median and 90th percentile of |onset error| and |offset error| (seconds) over reference events
    matched to their most-overlapping estimate of the same file and class; `matched` = fraction of
    reference events with such an estimate (NaN errors when none is matched)."""
    by_key: dict = {}
    for e in estimated:
        by_key.setdefault((e.filename, e.event_label), []).append(e)
    onsets, offsets = [], []
    for ref in reference:
        best, overlap = None, 0.0
        for est in by_key.get((ref.filename, ref.event_label), []):
            o = min(est.offset, ref.offset) - max(est.onset, ref.onset)
            if o > overlap:
                best, overlap = est, o
        if best is not None:
            onsets.append(abs(best.onset - ref.onset))
            offsets.append(abs(best.offset - ref.offset))

    def stats(values):
        if not values:
            return float("nan"), float("nan")
        return float(np.median(values)), float(np.quantile(values, 0.9))

    (on_med, on_p90), (off_med, off_p90) = stats(onsets), stats(offsets)
    return {"n_reference": len(reference), "n_matched": len(onsets), "matched": len(onsets) / max(1, len(reference)),
            "onset_median": on_med, "onset_p90": on_p90, "offset_median": off_med, "offset_p90": off_p90}
