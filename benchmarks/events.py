"""Event boundaries of frame-level bundles on long files with planted events, next to clip-level EER.

Long files are made from a data set's test clips (synthetic or ESC-50 mixtures, whose manifests give
each event's onset/offset): `--clips-per-file` clips are concatenated, every third one a positive
clip, so each file holds events at known times among real backgrounds. Each bundle (trained with
`raresound train-frames`) then detects in one pass (`FrameDetector.detect_file`), and this prints:

* boundaries: each reference event is matched to the detected event of its class that overlaps it
  most; median (and 90th percentile) |onset error| and |offset error| over matched events, and the
  fraction matched (goal: medians <= 0.25 s);
* DCASE event-based F1 (onset and offset criteria: 200-ms collar, offset collar 20 % of the event's
  length), segment-based F1 (1-s segments) and PSDS (sed_scores_eval; DCASE scenario 1 settings)
  on the frame scores;
* the bundle's clip-level test EER (overall = mean over classes) on the store's test split.

    .venv/bin/python benchmarks/events.py --manifest DATA/manifest.csv --store STORE \\
        --bundle RUN/models/baseline-frames [--bundle ...] [--files 8 --clips-per-file 9 --median 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import soundfile as sf
import torch

from raresound.data.manifest import read_manifest
from raresound.evaluation.localisation import long_test_files
from raresound.reproduce.frames import clip_eer, localise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", required=True, type=Path, help="data set manifest (its test split is used)")
    ap.add_argument("--store", required=True, type=Path, help="feature store of that data set (clip-level EER)")
    ap.add_argument("--bundle", required=True, action="append", help="frame-level bundle (repeatable)")
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--clips-per-file", type=int, default=9)
    ap.add_argument("--median", type=int, default=5, help="median filter over N steps")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        paths, reference = long_test_files(read_manifest(args.manifest), tmp, args.files, args.clips_per_file)
        seconds = sum(sf.info(str(p)).duration for p in paths)
        print(f"{len(paths)} files, {seconds / 60:.1f} min, {len(reference)} planted events "
              f"({args.manifest}); median filter {args.median} steps; torch threads {args.threads}")
        print("| bundle | step ms | matched | onset err median / p90 s | offset err median / p90 s | "
              "event F1 (on+off) | segment F1 (1 s) | PSDS1 | clip EER % |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for path in args.bundle:
            r = localise(Path(path), paths, reference, args.median)
            eer = clip_eer(Path(path), args.store)
            print(f"| {path} | {r['step_seconds'] * 1000:.0f} | {100 * r['matched']:.0f}% | "
                  f"{r['onset_median']:.3f} / {r['onset_p90']:.3f} | {r['offset_median']:.3f} / {r['offset_p90']:.3f} | "
                  f"{100 * r['event_f1']:.1f}% | {100 * r['segment_f1']:.1f}% | {r['psds']:.3f} | {100 * eer:.1f} |")


if __name__ == "__main__":
    main()
