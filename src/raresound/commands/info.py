"""`raresound info MANIFEST`: clips per class and split, hours, sources, and each split's class
ratio with its class names (`ratio train: dog=6 baby=1 gunshot=2 background=16`), then the source
recordings (distinct source_id) per class and split."""

from __future__ import annotations

from raresound.data.summary import class_order, format_sources, format_summary, summarize  # noqa: F401  (library; re-exported)


def register(sub) -> None:
    p = sub.add_parser("info", help="summarise a manifest: clips per class and split, hours, ratio",
                       description="Prints a table of clip counts per class (background = unlabelled clips) and "
                                   "split, hours of audio, source recordings, and each split's class ratio; then "
                                   "the source recordings (distinct source_id) per class and split.")
    p.add_argument("manifest", help="manifest CSV")
    p.add_argument("--classes", help="event class order, e.g. dog,baby,gunshot (default: order of first "
                                     "appearance in the manifest); background is always last")
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.data.manifest import read_manifest
    from raresound.data.ratio import parse_classes

    from raresound.data.checks import record_sources, shared_sources, warn

    classes = parse_classes(args.classes, "--classes") if args.classes else None
    records = read_manifest(args.manifest)
    print(f"{args.manifest}")
    print(format_summary(records, classes))
    print(format_sources(records, classes))
    warn(shared_sources(record_sources(records), where=str(args.manifest)))
    return 0
