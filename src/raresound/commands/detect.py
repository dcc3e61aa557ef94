"""`raresound detect BUNDLE AUDIO...` (files) and `raresound detect BUNDLE --stream` (raw PCM on stdin)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from raresound.commands._flags import add_device_option


def register(sub) -> None:
    p = sub.add_parser(
        "detect",
        help="detect events in long audio files (sliding windows) or a live PCM stream",
        description=(
            "A bundle with a frame-level head (`raresound train-frames`) is run in one pass over the audio: "
            "scores every backbone step (10-50 ms), thresholds them with its frame thresholds (or "
            "--threshold), median-filters over --median steps and reports runs of positive steps as "
            "events; clip scores of the hop's windows come from the same pass. Otherwise: "
            "slides windows of the bundle's clip length over each file (hop --hop), scores them in "
            "batches, thresholds with the bundle's calibrated thresholds (or --threshold), optionally "
            "median-filters the window decisions and merges runs of positive windows into events "
            "(onset/offset = the span covered by the most positive windows; within one hop of the "
            "truth, see raresound.detect). Files shorter than a window are zero-padded. Unreadable "
            "files are reported and skipped; the exit code is non-zero only if every file fails. "
            "With --stream, reads raw 16-bit little-endian mono PCM from stdin and prints each event "
            "as a JSON line once it is confirmed (same events as offline detection)."),
    )
    p.add_argument("bundle", help="model bundle directory (RUN/models/NAME)")
    p.add_argument("audio", nargs="*", help="audio files (any length, any libsndfile format)")
    p.add_argument("--hop", type=float, default=1.0, help="window hop in seconds (default 1.0; a whole number of frames)")
    p.add_argument("--threshold", action="append", metavar="T|CLASS=T",
                   help="decision threshold for every class, or per class (repeatable); default: the bundle's")
    p.add_argument("--median", type=int, help="median filter over N window (or step) decisions, odd; default 1 = "
                                              "off, or for a frame bundle the filter stored with its head")
    p.add_argument("--min-gap", type=float, help="merge events of a class separated by <= S seconds (default 0, or "
                                                 "for a frame bundle the gap stored with its head)")
    p.add_argument("--min-duration", type=float,
                   help="frame bundles: drop events shorter than S seconds (default: the bundle's tuned value, else 0)")
    p.add_argument("--batch", type=int, help="windows per network batch (default 64, detect.WINDOW_BATCH); sliding "
                                             "windows only: a frame bundle scores each file in one pass")
    p.add_argument("--out", help="where to write the events (default: standard output). --format dcase: one event list "
                                 "(tab-separated filename, onset, offset, event_label). --format audacity|raven: one "
                                 "file per audio file; with several audio files (or an existing directory, or a path "
                                 "ending in /) --out is a directory and gets <stem>.txt (Audacity) or "
                                 "<stem>.Table.1.selections.txt (Raven) per input, files without events included; "
                                 "with one audio file it is the file to write")
    p.add_argument("--format", default="dcase", metavar="dcase|audacity|raven",
                   help="event format: dcase (default; the list evaluate-events reads), audacity (label track: "
                        "onset, offset, label; File > Import > Labels) or raven (Raven Pro selection table; each "
                        "box spans the model's mel band range)")
    p.add_argument("--json", help="write events, scores of every window and skipped files as JSON")
    p.add_argument("--scores", help="write per-window (clip-level) scores as CSV")
    p.add_argument("--frame-scores", metavar="DIR",
                   help="write frame-level scores, one TSV per file in the format sed_scores_eval reads "
                        "(onset, offset, one column per class), for `evaluate-events --scores` (PSDS)")
    p.add_argument("--windows", action="store_true",
                   help="with a frame-level bundle, still detect from sliding clip windows")
    p.add_argument("--full-paths", action="store_true", help="name files by their path, not their basename")
    p.add_argument("--stream", action="store_true", help="read raw s16le mono PCM from stdin; print JSON lines")
    p.add_argument("--rate", type=int, default=16000, help="sample rate of the --stream input (default 16000)")
    p.add_argument("--chunk-seconds", type=float, default=0.5, help="--stream read size in seconds (default 0.5)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    add_device_option(p)
    p.set_defaults(func=run)


# The library parameters behind detect's flags (their errors name the parameters; commands._flags).
FLAGS = {"device": "--device", "thresholds": "--threshold", "full_paths": "--full-paths", "rate": "--rate",
         "chunk_seconds": "--chunk-seconds"}


def _detector(args):
    from raresound.bundle import load_bundle
    from raresound.detect import WINDOW_BATCH, WindowDetector, parse_threshold_args
    from raresound.detection.frame_detector import FrameDetector

    threshold = parse_threshold_args(args.threshold)
    bundle = load_bundle(args.bundle, device=args.device)
    if bundle.model.has_frame_head and not args.windows:
        if args.batch is not None:  # FrameDetector has no batches to size
            from raresound.errors import ConfigError

            raise ConfigError("--batch", f"{args.bundle} has a frame-level head and scores each file in one pass, "
                                         "not in batches of windows; drop --batch, or add --windows")
        return FrameDetector(bundle, hop=args.hop, thresholds=threshold, median=args.median, min_gap=args.min_gap,
                             min_duration=getattr(args, "min_duration", None))
    if args.frame_scores:
        from raresound.errors import ConfigError

        raise ConfigError("--frame-scores", f"{args.bundle} has no frame-level head (see `raresound train-frames`)"
                          if not bundle.model.has_frame_head else "needs frame-level detection; drop --windows")
    return WindowDetector(bundle, hop=args.hop, thresholds=threshold, median=1 if args.median is None else args.median,
                          min_gap=0.0 if args.min_gap is None else args.min_gap,
                          batch=WINDOW_BATCH if args.batch is None else args.batch)


def run(args) -> int:
    from raresound.commands._flags import flag_names
    from raresound.errors import ConfigError

    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ConfigError("--threads", f"must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.stream:
        if args.audio:
            raise ConfigError("--stream", "reads stdin; do not also give audio files")
        if args.format != "dcase":
            raise ConfigError("--format", "--stream prints JSON lines; event formats are for audio files")
        with flag_names(**FLAGS):
            return _run_stream(args)
    if not args.audio:
        raise ConfigError("audio", "give at least one audio file, or --stream")
    from raresound.evaluation.event_formats import FORMATS

    if args.format not in FORMATS:
        raise ConfigError("--format", f"unknown event format {args.format!r} (use one of {', '.join(FORMATS)})")
    if args.format != "dcase" and not args.out and len(args.audio) > 1:
        raise ConfigError("--out", f"--format {args.format} writes one file per audio file; give --out DIR")
    with flag_names(**FLAGS):
        return _run_files(args)


def _run_files(args) -> int:
    from raresound.detect import WindowDetector, detect_files, write_events, write_json_report, write_scores_csv
    from raresound.io import check_not_input

    inputs = [*args.audio, *(Path(args.bundle) / name for name in ("bundle.json", "model.safetensors"))]
    for flag in ("out", "json", "scores", "frame_scores"):
        check_not_input(getattr(args, flag), inputs, f"--{flag.replace('_', '-')}")
    detector = _detector(args)
    report = detect_files(detector, args.audio, full_paths=args.full_paths)
    for path, reason in report.failures:
        print(f"raresound: skipped {path}: {reason}", file=sys.stderr)
    for path, message in report.warnings:
        print(f"raresound: warning: {message}", file=sys.stderr)
    if args.format != "dcase":
        from raresound.evaluation.event_formats import write_events_as

        cfg = detector.config
        write_events_as(args.format, {r.filename: r.events for r in report.results}, args.out or "-",
                        (cfg.fmin, cfg.fmax or cfg.sample_rate / 2))
    elif args.out:
        write_events(report.results, args.out)
    else:
        for r in report.results:
            for e in r.events:
                print(f"{r.filename}\t{e.onset!r}\t{e.offset!r}\t{e.event_label}")
    if args.json:
        write_json_report(report.results, args.json, detector, report.failures)
    if args.scores:
        write_scores_csv(report.results, args.scores, detector)
    if args.frame_scores:
        from raresound.detection.outputs import write_frame_scores

        write_frame_scores(report.results, args.frame_scores, detector.classes)
    print(f"raresound: {report.summary()}", file=sys.stderr)
    if isinstance(detector, WindowDetector) and report.results:
        g = detector.grid
        print(f"raresound: note: events from {g.window_seconds:g}-s windows every {g.hop_seconds:g} s, so their "
              "boundaries are within a hop; `raresound train-frames` gives the bundle a frame-level head "
              "(sub-second boundaries, one pass)", file=sys.stderr)
    return 1 if not report.results else 0


def _run_stream(args) -> int:
    from raresound.errors import ConfigError, DataError, OutputError
    from raresound.streaming import check_stream_options, latency_bound, run_pcm_stream

    check_stream_options(args.rate, args.chunk_seconds)
    # Started with stdin or stdout closed (`<&-`, `>&-`), Python has None there.
    if sys.stdin is None:
        raise DataError("standard input is closed; --stream reads raw PCM from it")
    if sys.stdout is None:
        raise OutputError("standard output", "it is closed; --stream prints its events there")
    detector = _detector(args)

    def emit(event, confirmed_at):
        print(json.dumps({**event.to_dict(), "confirmed_at": round(confirmed_at, 6)}), flush=True)

    if hasattr(detector, "latency_bound"):  # frame-level, one pass
        bound = detector.latency_bound(args.chunk_seconds)
        if bound == float("inf"):
            raise ConfigError("--stream", f"{args.bundle}: a bidirectional model needs the whole signal, so it "
                                          "cannot stream; detect files, or train the causal variant "
                                          "(model bidirectional: false)")
    else:
        bound = latency_bound(detector.grid, detector.median, detector.min_gap, args.chunk_seconds)
    print(f"raresound: streaming at {args.rate} Hz; events are printed at most {bound:.2f} s of audio after "
          "their offset", file=sys.stderr)
    summary = run_pcm_stream(detector, sys.stdin.buffer, args.rate, args.chunk_seconds, emit)
    if summary.trailing_bytes:
        print(f"raresound: warning: ignored {summary.trailing_bytes} trailing byte (odd-length 16-bit PCM)",
              file=sys.stderr)
    print(f"raresound: stream ended: {summary.seconds:.1f} s of audio, {summary.n_windows} windows, "
          f"{summary.n_events} events", file=sys.stderr)
    return 0
