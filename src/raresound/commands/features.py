"""`raresound features --manifest M --out STORE`: featurise a manifest into a feature store."""

from __future__ import annotations

import argparse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "features",
        help="decode + log-mel every clip of a manifest into a memory-mapped feature store",
        description=(
            "Featurises each clip once (mono, 16 kHz, padded/cropped to --clip-seconds, 64-band log-mel, "
            "10 ms hop) into STORE/<split>.f16 float16 memmaps with <split>.index.csv and meta.json. "
            "Unusable audio is skipped and listed in STORE/report.csv. Parallel over --workers processes; "
            "rerunning after an interruption resumes from the finished chunks."
        ),
    )
    p.add_argument("--manifest", required=True, help="manifest CSV (path,labels,split,source_id,...)")
    p.add_argument("--out", required=True, help="store directory to create or resume")
    p.add_argument("--workers", type=_positive_int, default=2, help="worker processes (default: 2; 1 = in-process)")
    p.add_argument("--chunk-size", type=_positive_int, default=64,
                   help="clips per work unit / resume granularity (default: 64)")
    p.add_argument("--clip-seconds", type=_positive_float, default=10.0,
                   help="pad/crop every clip to this length (default: 10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.data.checks import check_records, record_sources, shared_sources, warn
    from raresound.data.manifest import SPLITS, class_names, read_manifest
    from raresound.features import FeatureConfig
    from raresound.store import build_store

    # Warnings, not errors: a store can still be rebalanced or used in part; train and evaluate
    # refuse splits they cannot use. Said before featurising, so a wrong manifest costs nothing.
    records = read_manifest(args.manifest)
    warn(check_records(records, class_names(records), warn_only=SPLITS))
    warn(shared_sources(record_sources(records), where=str(args.manifest)))
    report = build_store(
        args.manifest,
        args.out,
        FeatureConfig(clip_seconds=args.clip_seconds),
        workers=args.workers,
        chunk_size=args.chunk_size,
        progress=not args.quiet,
    )
    print(report.summary())
    print(f"skipped-file report: {report.report_path}")
    _warn_low_rates(report)
    return 0


MAX_LISTED_WARNINGS = 10


def _warn_low_rates(report) -> None:
    """Clips below the feature rate on stderr, one line each (the first few; all are in warnings.csv):
    their upper mel bands are empty, which a model trained on full-band audio does not expect."""
    import sys

    low = [message for _, message in report.warned if "Hz, below the" in message]
    for message in low[:MAX_LISTED_WARNINGS]:
        print(f"raresound: warning: {message}", file=sys.stderr)
    if len(low) > MAX_LISTED_WARNINGS:
        print(f"raresound: warning: {len(low) - MAX_LISTED_WARNINGS} more clip(s) below the feature sample rate; "
              f"see {report.out_dir / 'warnings.csv'}", file=sys.stderr)
