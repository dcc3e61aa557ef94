"""Summary of a manifest: clips per class and split, hours, sources, and each split's class ratio
with its class names (`ratio train: dog=6 baby=1 gunshot=2 background=16`); printed by
`raresound info` and `raresound data`. `format_sources` adds the source recordings per class and
split (`raresound info`, `raresound data merge`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

SPLIT_ORDER = ("train", "val", "test")


def class_order(records: Sequence, classes: Sequence[str] | None = None) -> list[str]:
    """`classes` first (the user's order), then the manifest's other event classes in order of first
    appearance, then background."""
    order = dict.fromkeys(c for c in (classes or ()) if c != "background")
    order.update(dict.fromkeys(label for r in records for label in r.labels))
    return [*order, "background"]


def summarize(records: Sequence, classes: Sequence[str] | None = None) -> dict:
    """{"classes": [...], "splits": {split: {"counts": {class: n}, "clips", "hours", "sources"}}}.
    A multi-label clip counts once for each of its labels. Class order: see `class_order`."""
    classes = class_order(records, classes)
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
    """Counts divided by the smallest non-zero count, named: dog=6 baby=1 gunshot=2 background=16."""
    from raresound.data.ratio import format_ratio

    smallest = min((n for n in counts.values() if n > 0), default=0)
    if smallest == 0:
        return "-"
    return format_ratio({c: n / smallest for c, n in counts.items()})


def format_summary(records: Sequence, classes: Sequence[str] | None = None) -> str:
    s = summarize(records, classes)
    header = ["split", *s["classes"], "clips", "hours", "sources"]
    rows, ratios = [], []
    for split, info in s["splits"].items():
        rows.append([split, *map(str, info["counts"].values()), str(info["clips"]), f"{info['hours']:.2f}",
                     str(info["sources"])])
        ratios.append((split, _ratio(info["counts"])))
    if len(rows) > 1:
        total = [sum(int(r[i]) for r in rows) for i in range(1, len(s["classes"]) + 2)]
        hours = sum(v["hours"] for v in s["splits"].values())
        n_sources = len({r.source_id for r in records})
        rows.append(["all", *map(str, total), f"{hours:.2f}", str(n_sources)])
        ratios.append(("all", _ratio(dict(zip(s["classes"], total[:-1])))))
    lines = _table(header, rows)
    width = max(len(row[0]) for row in [header, *rows])
    lines += [f"ratio {f'{split}:'.ljust(width + 1)} {ratio}" for split, ratio in ratios]
    if not records:
        lines.append("(empty manifest)")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Aligned text lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)]


def sources_per_class(records: Sequence, classes: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """{split: {class: distinct source_ids, ..., "all": distinct source_ids of the split}}, plus an
    "all" split over the whole manifest. A recording with clips of two classes counts in both:
    what limits learning a class is how many recordings of it there are, not how many clips."""
    classes = class_order(records, classes)
    ids: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for r in records:
        for split in (r.split, "all"):
            for label in (*(r.labels or ("background",)), "all"):
                ids[split][label].add(r.source_id)
    order = sorted((s for s in ids if s != "all"), key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 9, s))
    return {split: {c: len(ids[split][c]) for c in [*classes, "all"]} for split in [*order, "all"] if split in ids}


def format_sources(records: Sequence, classes: Sequence[str] | None = None) -> str:
    """The table of `sources_per_class`: source recordings per class (columns) and split (rows)."""
    counts = sources_per_class(records, classes)
    header = ["sources", *class_order(records, classes), "all"]
    return "\n".join(_table(header, [[split, *map(str, row.values())] for split, row in counts.items()]))
