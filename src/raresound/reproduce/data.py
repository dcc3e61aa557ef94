"""Reproduction data: import -> source-disjoint splits -> per-split DCASE 2017 mixtures -> one
feature store, each step cached under a fingerprint of the data config."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from raresound.errors import DataError
from raresound.io import read_json, write_json
from raresound.reproduce.config import BACKGROUND, SPLITS, ReproduceConfig


def feature_config(cfg: ReproduceConfig):
    from raresound.features import FeatureConfig

    overrides = dict(cfg.data.features)
    if cfg.data.mixtures is not None:
        overrides.setdefault("clip_seconds", cfg.data.mixtures.clip_seconds)
    return FeatureConfig.from_dict({**FeatureConfig().to_dict(), **overrides})


def data_cache(cfg: ReproduceConfig, out: Path) -> Path:
    """Where a run's data build lives: data.cache_dir, else OUT/data."""
    return Path(cfg.data.cache_dir) if cfg.data.cache_dir else Path(out) / "data"


def _data_fingerprint(cfg: ReproduceConfig) -> dict:
    d = dataclasses.asdict(cfg.data)
    d["root"] = os.path.abspath(cfg.data.root)
    for key in ("cache_dir", "workers", "features"):  # do not change the clips
        d.pop(key)
    if d["train_sources"] == 1.0:
        del d["train_sources"]  # all of them, as before the option existed: caches stay valid
    if d.get("mixtures") and d["mixtures"].get("event_span") == "active":
        del d["mixtures"]["event_span"]  # the default, as before the option existed: caches stay valid
    return d


def import_records(cfg: ReproduceConfig):
    """The source data set as manifest records with source-disjoint splits."""
    from raresound.data.manifest import read_manifest
    from raresound.data.sources import get_importer

    d = cfg.data
    root = Path(d.root)
    if not root.exists():
        raise DataError(f"{root}: data.root not found (relative paths are taken from the current directory)")
    if d.source == "manifest":
        return read_manifest(root), []
    options = {"fractions": tuple(d.fractions), "seed": d.split_seed, **d.options}
    result = get_importer(d.source)(root, **options)
    return result.records, result.skipped


def build_data(cfg: ReproduceConfig, cache: Path, log: Callable[[str], None] = print) -> dict:
    """Import, mix and featurise (each step cached); returns the data summary (also data.json)."""
    from raresound.data.manifest import read_manifest, write_manifest
    from raresound.data.mixtures import mix_dataset
    from raresound.data.protocol import train_subset
    from raresound.data.ratio import stable_seed
    from raresound.data.sources import events_and_backgrounds
    from raresound.store import build_store

    cache.mkdir(parents=True, exist_ok=True)
    stamp = cache / "build.json"
    fingerprint = _data_fingerprint(cfg)
    manifest = cache / "manifest.csv"
    summary_path = cache / "data.json"
    fresh = not (stamp.exists() and manifest.exists() and summary_path.exists()
                 and read_json(stamp).get("fingerprint") == fingerprint)
    if fresh:
        for stale in (stamp, manifest, summary_path):
            if stale.exists():
                stale.unlink()
        if (cache / "mix").exists():
            shutil.rmtree(cache / "mix")
        started = time.perf_counter()
        records, skipped = import_records(cfg)
        write_manifest(records, cache / "import.csv")
        wanted = set(cfg.data.classes)
        events, backgrounds = events_and_backgrounds(records)
        events = [r for r in events if r.labels[0] in wanted]
        # Nested subsets of the train event recordings (val and test unchanged): a learning curve.
        events = train_subset(events, cfg.data.train_sources, cfg.data.split_seed)
        summary: dict = {"source": cfg.data.source, "root": os.path.abspath(cfg.data.root),
                         "import_skipped": len(skipped), "sources": _source_table(events, backgrounds)}
        if cfg.data.mixtures is None:
            chosen = {r.path for r in events}
            kept = [r for r in records if not r.labels or r.path in chosen]
            write_manifest(kept, manifest)
            summary["mixtures"] = None
        else:
            mix = cfg.data.mixtures
            merged, mix_skipped = [], 0
            for split in SPLITS:
                ev = [r for r in events if r.split == split]
                bg = [r for r in backgrounds if r.split == split]
                counts = {c: n for c, n in mix.counts[split].items() if n > 0}
                missing = [c for c in counts if c != BACKGROUND and not any(r.labels[0] == c for r in ev)]
                if missing:
                    raise DataError(f"split '{split}' has no source recordings of {missing}; change data.fractions")
                log(f"mixing {split}: {counts}")
                result = mix_dataset(ev, bg, cache / "mix" / split, counts, ebr_db=mix.ebr_db,
                                     clip_seconds=mix.clip_seconds, resplit=False,
                                     seed=stable_seed(mix.seed, split), audio_format=mix.format,
                                     workers=cfg.data.workers, event_span=mix.event_span)
                merged.extend(read_manifest(result.manifest))
                mix_skipped += len(result.skipped)
            write_manifest(merged, manifest)
            summary["mixtures"] = {"clips": _mixture_table(merged), "skipped_sources": mix_skipped,
                                   "clip_seconds": mix.clip_seconds, "ebr_db": mix.ebr_db}
        summary["seconds"] = round(time.perf_counter() - started, 1)
        write_json(summary_path, summary)
        write_json(stamp, {"fingerprint": fingerprint})
    summary = read_json(summary_path)
    log("featurising into the store (cached when unchanged) ...")
    report = build_store(manifest, cache / "store", feature_config(cfg), workers=cfg.data.workers, progress=False)
    log(report.summary())
    summary["store"] = {"dir": str(cache / "store"), "counts": report.counts, "skipped": len(report.skipped)}
    return summary


def _source_table(events, backgrounds) -> dict:
    """split -> class -> {"sources": n recordings, "clips": n clips} of the imported material."""
    out: dict = {}
    for rec in [*events, *backgrounds]:
        cls = rec.labels[0] if rec.labels else BACKGROUND
        entry = out.setdefault(rec.split, {}).setdefault(cls, {"sources": set(), "clips": 0})
        entry["sources"].add(rec.source_id)
        entry["clips"] += 1
    return {s: {c: {"sources": len(v["sources"]), "clips": v["clips"]} for c, v in sorted(per.items())}
            for s, per in sorted(out.items())}


def _mixture_table(records) -> dict:
    """split -> class -> {"clips", "sources", "per_source_min", "per_source_max"} of the mixtures."""
    out: dict = {}
    for rec in records:
        cls = rec.labels[0] if rec.labels else BACKGROUND
        per = out.setdefault(rec.split, {}).setdefault(cls, {})
        per[rec.source_id] = per.get(rec.source_id, 0) + 1
    return {s: {c: {"clips": sum(v.values()), "sources": len(v), "per_source_min": min(v.values()),
                    "per_source_max": max(v.values())} for c, v in sorted(per.items())}
            for s, per in sorted(out.items())}
