"""`raresound plot AUDIO --bundle B --out PNG`: the detection timeline of one audio file."""

from __future__ import annotations

import sys

from raresound.commands._flags import add_device_option


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="plot one file's spectrogram, scores per class and detected vs reference events on one time axis",
        description=(
            "Detects events in AUDIO with the bundle as `raresound detect` does (same options), then writes one "
            "PNG: the log-mel spectrogram, under it the scores per class with the class thresholds dashed "
            "(frame scores for a bundle with a frame head; otherwise each sliding window's clip score, drawn "
            "over the hop around the window's centre), and under that the detected events as solid bars and, "
            "with --reference, the reference events as hatched bars. Detection runs on the whole file; "
            "--start/--end only choose the span shown."),
    )
    p.add_argument("audio", help="audio file (any length, any libsndfile format)")
    p.add_argument("--bundle", required=True, help="model bundle directory (RUN/models/NAME)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--reference", help="reference events: a DCASE event list (the file's rows are used), an "
                                       "Audacity label track or a Raven selection table")
    p.add_argument("--start", type=float, default=0.0, help="first second shown (default 0)")
    p.add_argument("--end", type=float, help="last second shown (default: the end of the file)")
    p.add_argument("--hop", type=float, default=1.0, help="window hop in seconds, as for detect (default 1.0)")
    p.add_argument("--threshold", action="append", metavar="T|CLASS=T",
                   help="decision threshold for every class, or per class (repeatable); default: the bundle's")
    p.add_argument("--median", type=int, help="median filter over N decisions, as for detect")
    p.add_argument("--min-gap", type=float, help="merge events separated by <= S seconds, as for detect")
    p.add_argument("--windows", action="store_true", help="with a frame-level bundle, still use sliding windows")
    add_device_option(p)
    p.set_defaults(func=run, frame_scores=None, batch=None)  # detect's defaults


def run(args) -> int:
    from pathlib import Path

    import numpy as np
    import torch

    from raresound import audio
    from raresound.commands._flags import flag_names
    from raresound.commands.detect import FLAGS, _detector
    from raresound.detect import WindowDetector
    from raresound.detection.plot import plot_timeline, score_track
    from raresound.errors import ConfigError
    from raresound.evaluation.event_formats import read_events_for
    from raresound.features import LogMel, low_rate_note

    with flag_names(**FLAGS):
        detector = _detector(args)
    cfg = detector.config
    name = Path(args.audio).name
    reference = read_events_for(args.reference, name) if args.reference else None  # fail before the work
    wave = audio.load(args.audio, sr=cfg.sample_rate, mel_note=low_rate_note(cfg))
    duration = wave.size / cfg.sample_rate
    end = duration if args.end is None else args.end
    if not 0.0 <= args.start < duration:
        raise ConfigError("--start", f"must be in [0, {duration:g}) s (the file's length), got {args.start:g}")
    if not args.start < end <= duration + 1e-9:
        raise ConfigError("--end", f"must be in ({args.start:g}, {duration:g}] s, got {end:g}")
    result = detector.detect_wave(wave, cfg.sample_rate, filename=name, path=args.audio)
    grid = detector.grid
    window = isinstance(detector, WindowDetector)
    scores, edges, kind = score_track(result, grid.window_seconds if window else None,
                                      grid.hop_seconds if window else None)
    frame_seconds = cfg.seconds(1)
    first = int(np.floor(args.start / frame_seconds))
    last = int(np.ceil(end / frame_seconds))
    with torch.inference_mode():
        spec = LogMel(cfg)(wave[first * cfg.hop_length: last * cfg.hop_length + cfg.hop_length]).numpy()
    plot_timeline(args.out, spec, frame_seconds, scores, edges, detector.classes, detector.thresholds, result.events,
                  reference, args.start, end, spectrogram_start=first * frame_seconds, score_kind=kind,
                  title=f"{name}: {len(result.events)} events detected"
                        + (f", {len(reference)} in the reference" if reference is not None else ""))
    print(f"raresound: wrote {args.out} ({kind} scores, {args.start:g}-{end:g} s)", file=sys.stderr)
    return 0
