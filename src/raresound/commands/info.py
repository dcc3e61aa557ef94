"""`raresound info MANIFEST`: clips per class and split, hours, class ratio, sources."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

SPLIT_ORDER = ("train", "val", "test")


def register(sub) -> None:
    p = sub.add_parser("info", help="summarise a manifest: clips per class and split, hours, ratio",
                       description="Prints a table of clip counts per class (background = unlabelled clips) and "
                                   "split, hours of audio, source recordings, and each split's class ratio.")
    p.add_argument("manifest", help="manifest CSV")
    p.set_defaults(func=run)


def summarize(records: Sequence) -> dict:
    """{"classes": [...], "splits": {split: {"counts": {class: n}, "clips", "hours", "sources"}}}.
    A multi-label clip counts once for each of its labels."""
    from raresound.data.manifest import class_names

    classes = [*class_names(records), "background"]
    splits: dict[str, dict] = {}
    counts: dict[str, Counter] = defaultdict(Counter)
    seconds: dict[str, float] = defaultdict(float)
    sources: dict[str, set] = defaultdict(set)
    for r in records:
        for label in r.labels or ("background",):
            counts[r.split][label] += 1
        seconds[r.split] += r.duration or 0.0
        sources[r.split].add(r.source_id)
    for split in sorted(counts, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 9, s)):
        splits[split] = {"counts": {c: counts[split][c] for c in classes},
                         "clips": sum(1 for r in records if r.split == split),
                         "hours": seconds[split] / 3600.0, "sources": len(sources[split])}
    return {"classes": classes, "splits": splits}


def _ratio(counts: dict[str, int]) -> str:
    """Counts divided by the smallest non-zero count, e.g. 6:1:2:16."""
    smallest = min((n for n in counts.values() if n > 0), default=0)
    if smallest == 0:
        return "-"
    return ":".join(f"{n / smallest:.3g}" for n in counts.values())


def format_summary(records: Sequence) -> str:
    s = summarize(records)
    header = ["split", *s["classes"], "clips", "hours", "sources", "ratio"]
    rows = []
    for split, info in s["splits"].items():
        rows.append([split, *map(str, info["counts"].values()), str(info["clips"]), f"{info['hours']:.2f}",
                     str(info["sources"]), _ratio(info["counts"])])
    if len(rows) > 1:
        total = [sum(int(r[i]) for r in rows) for i in range(1, len(s["classes"]) + 2)]
        hours = sum(v["hours"] for v in s["splits"].values())
        n_sources = len({r.source_id for r in records})
        rows.append(["all", *map(str, total), f"{hours:.2f}", str(n_sources),
                     _ratio(dict(zip(s["classes"], total[:-1])))])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    lines = [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)]
    if not records:
        lines.append("(empty manifest)")
    return "\n".join(lines)


def run(args) -> int:
    from raresound.data.manifest import read_manifest

    print(f"{args.manifest}")
    print(format_summary(read_manifest(args.manifest)))
    return 0
