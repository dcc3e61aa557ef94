"""Reproduction harness: the paper's Tables 1/2 and Figs 1, 3, 4 on real audio, end to end.

One YAML config (see `configs/reproduce/`) names a data source, a grid and a training schedule:

    data -> import (any importer in `data.sources`, or a prepared manifest) -> split by source
         -> DCASE 2017 Task 2 mixtures per split (exact counts per split and class)
         -> one feature store (featurised once)
    grid -> for backbone x ratio x method x seed: `recipes.train` with data.ratio = the ratio
         (train/val subsampled at train time; the test split is the same for every cell), then
         `scoring.evaluate_run(run, "test")`
    report -> report.md (+ results.json) with per-class / overall EER mean ± std over seeds
         (the probe, when in the grid, as a labelled reference row), the paper's published numbers
         beside ours, paired bootstrap of Proposed2 - baseline, DET figures per backbone x ratio
         (Figs 3/4) and the toy (Fig 1).

Caching and resume: the data build is stamped with a fingerprint of its config (same config ->
nothing is rebuilt; the store has its own chunk-level resume); a cell whose
`eval/test/eer.json` exists is never retrained; an interrupted cell resumes through the trainer's
stage checkpoints. A cell directory holding a different recipe is refused (use another --out).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from raresound.errors import ConfigError, DataError
from raresound.io import read_json, write_json, write_text
# Rows of the paper's tables (a method contributes the models it trains), labels, loss fields read:
# declared once per method in training/methods.py.
from raresound.training.methods import (LOSS_FIELDS_READ, METHOD_MODELS, MODEL_LABELS,  # noqa: F401
                                        PROPOSED_READERS, REFERENCE_MODELS, method_of_model, model_label)

BACKGROUND = "background"
SPLITS = ("train", "val", "test")

# Overall EER above which the claim section warns that the detectors are near chance (50 %).
CHANCE_WARNING = 0.40

# The only recipe fields the reference probe reads (it has no backbone and no epochs).
PROBE_FIELDS_READ = ("data.", "training.batch_size", "training.device")

# The paper's published overall EERs (%), AudioSet dog / baby cry / gunshot + background, as given
# in the project brief: (backbone, ratio) -> {model: overall EER %}. Per-class numbers are not
# reproduced here (not available to us); the report prints only these.
PAPER_OVERALL = {
    ("lstm", "6:1:2:16"): {"baseline": 20.3, "proposed2": 15.8},
    ("cnn", "6:1:2:16"): {"baseline": 8.7, "proposed2": 8.5},
    ("cnn", "2:2:1:26"): {"baseline": 12.8, "proposed2": 10.4},
}


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------

@dataclass
class MixConfig:
    clip_seconds: float = 10.0
    ebr_db: list = field(default_factory=lambda: [-6.0, 0.0, 6.0])
    seed: int = 0
    format: str = "wav"
    counts: dict = field(default_factory=dict)  # split -> {class: clips}


@dataclass
class DataSection:
    source: str = "esc50"  # an importer name (data.sources.IMPORTERS) or "manifest"
    root: str = "../shared/data/esc50-subset"  # data set root, or the manifest path for "manifest"
    options: dict = field(default_factory=dict)  # importer keyword arguments (label_map, segments, ...)
    classes: list = field(default_factory=lambda: ["dog", "baby", "glass"])  # ratio order; background last
    fractions: list = field(default_factory=lambda: [0.5, 0.25, 0.25])
    split_seed: int = 0
    mixtures: MixConfig | None = field(default_factory=MixConfig)  # None: use the clips as imported
    features: dict = field(default_factory=dict)  # FeatureConfig overrides (clip_seconds follows mixtures)
    cache_dir: str | None = None  # default: <out>/data
    workers: int = 2


@dataclass
class GridSection:
    backbones: list = field(default_factory=lambda: ["lstm"])
    ratios: list = field(default_factory=lambda: ["6:1:2:16", "2:2:1:26"])
    methods: list = field(default_factory=lambda: ["baseline", "proposed"])
    seeds: list = field(default_factory=lambda: [0, 1, 2])


@dataclass
class ReproduceConfig:
    name: str = "reproduce"
    schedule: dict = field(default_factory=lambda: {"name": "paper", "notes": ""})
    data: DataSection = field(default_factory=DataSection)
    grid: GridSection = field(default_factory=GridSection)
    recipe: dict = field(default_factory=dict)  # RecipeConfig fields shared by every cell
    backbone_recipes: dict = field(default_factory=dict)  # backbone -> recipe overrides
    method_recipes: dict = field(default_factory=dict)  # method -> recipe overrides
    bootstrap: dict = field(default_factory=lambda: {"n_boot": 1000, "ci": 0.95, "seed": 0})
    toy: dict | None = field(default_factory=lambda: {"seed": 0, "n_rounds": 3})
    threads: int | None = None  # torch intra-op threads (None: usable cores / local processes)
    det_seed: int | None = None  # seed whose scores the DET figures show (default: first seed)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _section(cls, data: Any, prefix: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(prefix.rstrip(".") or "<root>", f"must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}", f"unknown key (known: {', '.join(sorted(known))})")
    return data


def _typed(name: str, value: Any, kind: type | tuple) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(name, f"must be {getattr(kind, '__name__', kind)}, got {value!r}")
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        raise ConfigError(name, f"must be {' or '.join(k.__name__ for k in kinds)}, got {value!r}")
    return value


def config_from_dict(raw: dict) -> ReproduceConfig:
    """Validate a reproduce config mapping (unknown keys and bad values -> ConfigError)."""
    from raresound.data.ratio import parse_ratio
    from raresound.data.sources import IMPORTERS
    from raresound.training.methods import METHODS

    raw = _section(ReproduceConfig, raw, "")
    cfg = ReproduceConfig()
    if "name" in raw:
        cfg.name = _typed("name", raw["name"], str)
    if "schedule" in raw:
        cfg.schedule = {"name": "custom", "notes": "", **_typed("schedule", raw["schedule"], dict)}
    d = _section(DataSection, raw.get("data"), "data.")
    data = DataSection()
    for key in ("source", "root", "cache_dir"):
        if key in d:
            setattr(data, key, None if d[key] is None and key == "cache_dir" else _typed(f"data.{key}", d[key], str))
    if data.source != "manifest" and data.source not in IMPORTERS:
        raise ConfigError("data.source", f"{data.source!r} is not one of {['manifest', *IMPORTERS]}")
    for key in ("options", "features"):
        if key in d:
            setattr(data, key, dict(_typed(f"data.{key}", d[key] or {}, dict)))
    if "classes" in d:
        data.classes = [str(c) for c in _typed("data.classes", d["classes"], list)]
    if not data.classes or BACKGROUND in data.classes or len(set(data.classes)) != len(data.classes):
        raise ConfigError("data.classes", f"expected distinct event class names (background is implicit), got {data.classes}")
    if "fractions" in d:
        data.fractions = [float(_typed("data.fractions", f, (int, float))) for f in _typed("data.fractions", d["fractions"], list)]
    if len(data.fractions) != 3 or abs(sum(data.fractions) - 1) > 1e-6 or min(data.fractions) <= 0:
        raise ConfigError("data.fractions", f"expected 3 positive numbers summing to 1 (train, val, test), got {data.fractions}")
    for key in ("split_seed", "workers"):
        if key in d:
            setattr(data, key, _typed(f"data.{key}", d[key], int))
    if data.workers < 1:
        raise ConfigError("data.workers", "must be >= 1")
    if "mixtures" in d:
        if d["mixtures"] is None:
            data.mixtures = None
        else:
            m = _section(MixConfig, d["mixtures"], "data.mixtures.")
            mix = MixConfig()
            if "clip_seconds" in m:
                mix.clip_seconds = float(_typed("data.mixtures.clip_seconds", m["clip_seconds"], (int, float)))
            if "ebr_db" in m:
                mix.ebr_db = [float(_typed("data.mixtures.ebr_db", v, (int, float))) for v in _typed("data.mixtures.ebr_db", m["ebr_db"], list)]
            if "seed" in m:
                mix.seed = _typed("data.mixtures.seed", m["seed"], int)
            if "format" in m:
                mix.format = _typed("data.mixtures.format", m["format"], str)
            if "counts" in m:
                counts = _typed("data.mixtures.counts", m["counts"], dict)
                for split, per_class in counts.items():
                    if split not in SPLITS:
                        raise ConfigError(f"data.mixtures.counts.{split}", f"unknown split (one of {list(SPLITS)})")
                    per_class = _typed(f"data.mixtures.counts.{split}", per_class, dict)
                    for cls, n in per_class.items():
                        if cls not in [*data.classes, BACKGROUND]:
                            raise ConfigError(f"data.mixtures.counts.{split}.{cls}", f"not one of {[*data.classes, BACKGROUND]}")
                        if _typed(f"data.mixtures.counts.{split}.{cls}", n, int) < 0:
                            raise ConfigError(f"data.mixtures.counts.{split}.{cls}", "must be >= 0")
                missing = [s for s in SPLITS if s not in counts]
                if missing:
                    raise ConfigError("data.mixtures.counts", f"give clip counts for every split (missing {missing})")
                mix.counts = {s: dict(counts[s]) for s in SPLITS}
            if not mix.counts:
                raise ConfigError("data.mixtures.counts", "give clip counts per split and class")
            data.mixtures = mix
    cfg.data = data

    g = _section(GridSection, raw.get("grid"), "grid.")
    grid = GridSection()
    for key in ("backbones", "ratios", "methods", "seeds"):
        if key in g:
            setattr(grid, key, list(_typed(f"grid.{key}", g[key], list)))
    for b in grid.backbones:
        if b not in ("lstm", "cnn"):
            raise ConfigError("grid.backbones", f"{b!r} is not one of ['lstm', 'cnn']")
    for m in grid.methods:
        if m not in METHODS:
            raise ConfigError("grid.methods", f"{m!r} is not one of {list(METHODS)}")
    if "baseline" not in grid.methods or "proposed" not in grid.methods:
        raise ConfigError("grid.methods", "must include baseline and proposed (the paired comparison needs both)")
    # Named ("dog=6,...") or positional over data.classes; kept positional in that order, which
    # names the cell directories (runs/lstm/6-1-2-16/...) and keys the paper's numbers.
    order = [*data.classes, BACKGROUND]
    weights = [parse_ratio(str(r), order, field="grid.ratios") for r in grid.ratios]
    grid.ratios = [":".join(str(w[c]) for c in order) for w in weights]
    for s in grid.seeds:
        _typed("grid.seeds", s, int)
    if not (grid.backbones and grid.ratios and grid.seeds) or len(set(grid.seeds)) != len(grid.seeds):
        raise ConfigError("grid", "backbones, ratios and seeds must be non-empty (seeds distinct)")
    cfg.grid = grid

    for key in ("recipe", "backbone_recipes", "method_recipes"):
        if key in raw:
            setattr(cfg, key, dict(_typed(key, raw[key] or {}, dict)))
    for key in ("method", "seed"):
        if key in cfg.recipe:
            raise ConfigError(f"recipe.{key}", "is set by the grid; do not give it here")
    if "ratio" in (cfg.recipe.get("data") or {}):
        raise ConfigError("recipe.data.ratio", "is set by grid.ratios; do not give it here")
    if "bootstrap" in raw:
        b = {**cfg.bootstrap, **_typed("bootstrap", raw["bootstrap"], dict)}
        unknown = set(b) - {"n_boot", "ci", "seed"}
        if unknown:
            raise ConfigError("bootstrap", f"unknown key(s) {sorted(unknown)} (known: ci, n_boot, seed)")
        cfg.bootstrap = b
    if "toy" in raw:
        cfg.toy = None if raw["toy"] is None else dict(_typed("toy", raw["toy"], dict))
    if "threads" in raw:
        cfg.threads = None if raw["threads"] is None else _typed("threads", raw["threads"], int)
    if "det_seed" in raw:
        cfg.det_seed = None if raw["det_seed"] is None else _typed("det_seed", raw["det_seed"], int)
    if cfg.det_seed is not None and cfg.det_seed not in grid.seeds:
        raise ConfigError("det_seed", f"{cfg.det_seed} is not one of grid.seeds {grid.seeds}")
    # Every cell's recipe is validated now, before any work starts.
    for cell in cells(cfg):
        cell_recipe(cfg, cell)
    return cfg


def load_config(path: str | Path) -> ReproduceConfig:
    from raresound.training.config import read_yaml

    return config_from_dict(read_yaml(path))


# --------------------------------------------------------------------------------------------
# Grid
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    backbone: str
    ratio: str
    method: str
    seed: int

    @property
    def ratio_tag(self) -> str:
        return self.ratio.replace(":", "-")

    def run_dir(self, out: Path) -> Path:
        return out / "runs" / self.backbone / self.ratio_tag / self.method / f"seed{self.seed}"


def cells(cfg: ReproduceConfig) -> list[Cell]:
    """Every cell, in run order: per backbone, baseline + proposed over all ratios and seeds first
    (the paired comparison the paper claims), then each other method over all ratios and seeds, so
    an interrupted or time-boxed run has the main comparison complete before the competitors."""
    g = cfg.grid
    groups = [[m for m in g.methods if m in ("baseline", "proposed")]]
    groups += [[m] for m in g.methods if m not in ("baseline", "proposed")]
    return [Cell(b, r, m, s) for b in g.backbones for group in groups for r in g.ratios for s in g.seeds
            for m in group]


def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def cell_recipe(cfg: ReproduceConfig, cell: Cell):
    """The validated RecipeConfig of one cell: shared recipe < backbone < method < grid values."""
    from raresound.training.config import config_from_dict as recipe_from_dict

    raw = deep_merge(cfg.recipe, cfg.backbone_recipes.get(cell.backbone, {}))
    raw = deep_merge(raw, cfg.method_recipes.get(cell.method, {}))
    raw = deep_merge(raw, {"method": cell.method, "seed": cell.seed, "model": {"backbone": cell.backbone},
                           "data": {"ratio": cell.ratio, "classes": ",".join([*cfg.data.classes, BACKGROUND])}})
    try:
        return recipe_from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{cell.backbone}/{cell.ratio}/{cell.method}: {exc.field}", exc.reason) from None


# --------------------------------------------------------------------------------------------
# Data: import -> per-split mixtures -> one store
# --------------------------------------------------------------------------------------------

def feature_config(cfg: ReproduceConfig):
    from raresound.features import FeatureConfig

    overrides = dict(cfg.data.features)
    if cfg.data.mixtures is not None:
        overrides.setdefault("clip_seconds", cfg.data.mixtures.clip_seconds)
    return FeatureConfig.from_dict({**FeatureConfig().to_dict(), **overrides})


def _data_fingerprint(cfg: ReproduceConfig) -> dict:
    d = dataclasses.asdict(cfg.data)
    d["root"] = os.path.abspath(cfg.data.root)
    for key in ("cache_dir", "workers", "features"):  # do not change the clips
        d.pop(key)
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
        summary: dict = {"source": cfg.data.source, "root": os.path.abspath(cfg.data.root),
                         "import_skipped": len(skipped), "sources": _source_table(events, backgrounds)}
        if cfg.data.mixtures is None:
            kept = [r for r in records if not r.labels or (len(r.labels) == 1 and r.labels[0] in wanted)]
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
                                     workers=cfg.data.workers)
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


# --------------------------------------------------------------------------------------------
# Running the grid
# --------------------------------------------------------------------------------------------

def cell_done(run_dir: Path) -> bool:
    return (run_dir / "eval" / "test" / "eer.json").exists()


def run_cell(cfg: ReproduceConfig, cell: Cell, out: Path, store: Path, log: Callable[[str], None] = print) -> str:
    """Train + evaluate one cell unless it is done; returns 'done', 'trained' or 'resumed'."""
    from raresound.scoring import evaluate_run
    from raresound.training.fingerprint import check_run
    from raresound.training.recipes import train

    run_dir = cell.run_dir(out)
    recipe = cell_recipe(cfg, cell)
    check_run(run_dir, recipe, store)  # a finished cell of another recipe too: use a fresh --out
    if cell_done(run_dir):
        return "done"
    state = "resumed" if (run_dir / "stages").exists() else "trained"
    started = time.perf_counter()
    train(recipe, store, run_dir, device=None)
    trained = time.perf_counter()
    evaluate_run(run_dir, "test", store_dir=store)
    write_json(run_dir / "reproduce.json", {"state": state, "train_seconds": round(trained - started, 2),
                                            "eval_seconds": round(time.perf_counter() - trained, 2)})
    return state


def reproduce(config: ReproduceConfig | str | Path, out: str | Path, log: Callable[[str], None] = print,
              report_only: bool = False) -> Path:
    """Build data, run every cell (resuming), write the report; returns the report directory."""
    from raresound.training.threads import apply_threads

    cfg = config if isinstance(config, ReproduceConfig) else load_config(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "reproduce-config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    threads = apply_threads(cfg.threads)
    started = time.perf_counter()

    def say(msg: str) -> None:
        log(f"[reproduce {time.perf_counter() - started:7.1f}s] {msg}")

    say(threads)
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else out / "data"
    summary = build_data(cfg, cache, say)
    store = cache / "store"
    grid = cells(cfg)
    if not report_only:
        for i, cell in enumerate(grid, 1):
            tag = f"{cell.backbone} {named_ratio(cfg, cell.ratio)} {cell.method} seed {cell.seed}"
            if cell_done(cell.run_dir(out)):
                say(f"[{i}/{len(grid)}] {tag}: done earlier, not retrained")
                continue
            t0 = time.perf_counter()
            state = run_cell(cfg, cell, out, store, say)
            say(f"[{i}/{len(grid)}] {tag}: {state} in {time.perf_counter() - t0:.1f}s")
    report_dir = write_report(cfg, out, summary, say)
    say(f"report: {report_dir / 'report.md'}")
    return report_dir


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------

def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_mean_std(values: Sequence[float]) -> str:
    """EER fractions -> 'mean ± std' in % with one decimal (the paper's precision); one value -> 'mean'."""
    if not len(values):
        return "n/a"
    m, s = mean_std([100.0 * v for v in values])
    return f"{m:.1f} ± {s:.1f}" if len(values) > 1 else f"{m:.1f}"  # no spread from one seed


def pooled_bootstrap(pairs: Sequence[tuple[np.ndarray, np.ndarray]], targets: np.ndarray, n_boot: int,
                     seed: int, ci: float) -> dict:
    """Bootstrap over test clips of the seed-averaged overall-EER difference mean_s(EER(a_s) - EER(b_s)).

    Every resample draws the same clips for every seed and both systems (the test clips are shared
    by all seeds), so the interval reflects test-set sampling of the averaged difference. Uses the
    same weighted-EER evaluation as `evaluation.paired_bootstrap_eer_diff`."""
    from raresound.evaluation.bootstrap import pooled_bootstrap_eer_diff

    return pooled_bootstrap_eer_diff(pairs, targets, n_boot, seed, ci)


def verdict(res: dict) -> str:
    if res["high"] < 0:
        return "Proposed2 better (CI below 0)"
    if res["low"] > 0:
        return "Proposed2 worse (CI above 0)"
    return "no significant difference (CI contains 0)"


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def collect(cfg: ReproduceConfig, out: Path) -> dict:
    """(backbone, ratio) -> model -> {"seeds": [...], "eer": {class: [..]}, "overall": [..]} from
    the eer.json files of finished cells."""
    table: dict = {}
    for cell in cells(cfg):
        run_dir = cell.run_dir(out)
        if not cell_done(run_dir):
            continue
        results = read_json(run_dir / "eval" / "test" / "eer.json")
        for model in METHOD_MODELS[cell.method]:
            if model not in results:
                continue
            res = results[model]
            entry = table.setdefault((cell.backbone, cell.ratio), {}).setdefault(
                model, {"seeds": [], "eer": {c: [] for c in res["classes"]}, "overall": [], "classes": res["classes"]})
            entry["seeds"].append(cell.seed)
            for c in res["classes"]:
                entry["eer"][c].append(res["eer"][c])
            entry["overall"].append(res["overall"])
    return table


def overall_intervals(cfg: ReproduceConfig, out: Path, backbone: str, ratio: str) -> dict:
    """model -> (low, high): bootstrap interval over test clips of the seed-mean overall EER (the
    same resampled clips for every seed), for the main table."""
    from raresound.evaluation.bootstrap import eer_intervals
    from raresound.scoring import load_scores

    b, found = cfg.bootstrap, {}
    for method in cfg.grid.methods:
        for seed in cfg.grid.seeds:
            run_dir = Cell(backbone, ratio, method, seed).run_dir(out)
            if cell_done(run_dir):
                for model in METHOD_MODELS[method]:
                    found.setdefault(model, []).append(load_scores(run_dir, model))
    intervals = {}
    for model, scored in found.items():
        targets = scored[0][1]
        if any(not np.array_equal(y, targets) for _, y in scored):
            raise DataError(f"{model}: seeds of {backbone} {ratio} were scored on different test clips")
        res = eer_intervals([s for s, _ in scored], targets, list(cfg.data.classes), n_boot=int(b["n_boot"]),
                            seed=int(b["seed"]), ci=float(b["ci"]))
        intervals[model] = (res["overall_ci_low"], res["overall_ci_high"])
    return intervals


def cell_label(cfg: ReproduceConfig, backbone: str, ratio: str, model: str) -> str:
    """Table label of `model` as the grid trains it (a label may name a config field, e.g. the
    resampling mode); a model no method of the grid produces keeps its default label."""
    method = method_of_model(model)
    if method is None or method.name not in cfg.grid.methods:
        return model_label(model)
    return model_label(model, cell_recipe(cfg, Cell(backbone, ratio, method.name, cfg.grid.seeds[0])))


def main_table(cfg: ReproduceConfig, backbone: str, ratio: str, models: dict, intervals: dict | None = None) -> str:
    classes = list(cfg.data.classes)
    paper = PAPER_OVERALL.get((backbone, ratio), {})
    intervals = intervals or {}
    ci = int(round(100 * float(cfg.bootstrap["ci"])))
    header = ["method", *classes, "overall", f"overall {ci}% CI", "seeds", "paper overall (AudioSet)"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    order = [m for method in cfg.grid.methods for m in METHOD_MODELS[method]]
    order.sort(key=lambda m: m in REFERENCE_MODELS)  # reference rows last, below the detectors
    for model in order:
        if model not in models:
            continue
        e = models[model]
        cells_ = [fmt_mean_std(e["eer"][c]) if c in e["eer"] else "n/a" for c in classes]
        ref = f"{paper[model]:.1f}" if model in paper else "—"
        low, high = intervals.get(model, (None, None))
        interval = f"[{100 * low:.1f}, {100 * high:.1f}]" if low is not None else "—"
        lines.append("| " + " | ".join([cell_label(cfg, backbone, ratio, model), *cells_, fmt_mean_std(e["overall"]),
                                        interval, str(len(e["seeds"])), ref]) + " |")
    return "\n".join(lines) + "\n"


def paired_comparisons(cfg: ReproduceConfig, out: Path, backbone: str, ratio: str) -> dict | None:
    from raresound.evaluation import paired_bootstrap_eer_diff
    from raresound.scoring import load_scores

    b = cfg.bootstrap
    per_seed, pairs, targets = [], [], None
    for seed in cfg.grid.seeds:
        base_dir = Cell(backbone, ratio, "baseline", seed).run_dir(out)
        prop_dir = Cell(backbone, ratio, "proposed", seed).run_dir(out)
        if not (cell_done(base_dir) and cell_done(prop_dir)):
            continue
        p2, y = load_scores(prop_dir, "proposed2")
        base, y2 = load_scores(base_dir, "baseline")
        if not np.array_equal(y, y2):
            raise DataError(f"{prop_dir} and {base_dir} were scored on different test clips")
        res = paired_bootstrap_eer_diff(p2, base, y, n_boot=int(b["n_boot"]), seed=int(b["seed"]), ci=float(b["ci"]))
        per_seed.append({**res, "bootstrap_seed": res["seed"], "seed": seed})
        pairs.append((p2, base))
        targets = y
    if not per_seed:
        return None
    pooled = pooled_bootstrap(pairs, targets, int(b["n_boot"]), int(b["seed"]), float(b["ci"]))
    return {"per_seed": per_seed, "pooled": {**pooled, "seeds": [r["seed"] for r in per_seed]},
            "n_test": int(targets.shape[0])}


def comparison_table(comp: dict) -> str:
    ci = int(round(100 * comp["pooled"]["ci"]))
    lines = [f"| seeds | ΔEER P2 − baseline (pts) | {ci}% CI | P(P2 better) | verdict |", "|---|---:|---:|---:|---|"]
    for r in comp["per_seed"]:
        lines.append(f"| {r['seed']} | {100 * r['diff']:+.1f} | [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}] | "
                     f"{r['frac_a_better']:.2f} | {verdict(r)} |")
    p = comp["pooled"]
    lines.append(f"| pooled ({','.join(map(str, p['seeds']))}) | {100 * p['diff']:+.1f} | "
                 f"[{100 * p['low']:+.1f}, {100 * p['high']:+.1f}] | {p['frac_a_better']:.2f} | {verdict(p)} |")
    return "\n".join(lines) + "\n"


def det_figure(cfg: ReproduceConfig, out: Path, backbone: str, ratio: str, path: Path) -> int | None:
    """Per class, baseline vs Proposed2 of one seed (det_seed, else the first seed done)."""
    from raresound.evaluation import plot_scored_det
    from raresound.scoring import load_scores

    seeds = [cfg.det_seed] if cfg.det_seed is not None else cfg.grid.seeds
    for seed in seeds:
        base_dir = Cell(backbone, ratio, "baseline", seed).run_dir(out)
        prop_dir = Cell(backbone, ratio, "proposed", seed).run_dir(out)
        if cell_done(base_dir) and cell_done(prop_dir):
            break
    else:
        return None
    scored = {"baseline": load_scores(base_dir, "baseline"), "Proposed2": load_scores(prop_dir, "proposed2")}
    classes = read_json(prop_dir / "eval" / "test" / "eer.json")["proposed2"]["classes"]
    plot_scored_det(scored, classes, path, title=f"{backbone.upper()} {named_ratio(cfg, ratio)}: DET (test, seed {seed})")
    return seed


def schedule_diff(cfg: ReproduceConfig) -> list[tuple[str, str, Any, Any]]:
    """(methods, field, paper/library default, used) for every recipe field a cell changes."""
    from raresound.training.config import RecipeConfig
    from raresound.training.fingerprint import flatten

    default = flatten(RecipeConfig().to_dict())
    seen: dict = {}
    for cell in cells(cfg):
        if cell.seed != cfg.grid.seeds[0] or cell.ratio != cfg.grid.ratios[0]:
            continue
        used = flatten(cell_recipe(cfg, cell).to_dict())
        for key, value in used.items():
            if key in ("method", "seed", "data.ratio", "data.classes", "model.backbone", "training.progress"):
                continue
            if value == default.get(key):
                continue
            if key.startswith("proposed.") and cell.method not in PROPOSED_READERS:
                continue  # not read by this method
            if key.startswith("loss.") and cell.method not in LOSS_FIELDS_READ.get(key[5:], ()):
                continue
            if cell.method == "probe" and not key.startswith(PROBE_FIELDS_READ):
                continue
            if True:
                seen.setdefault((key, json.dumps(default.get(key)), json.dumps(value)), []).append(
                    f"{cell.backbone}/{cell.method}")
    return [(", ".join(v), k[0], k[1], k[2]) for k, v in sorted(seen.items())]


def named_ratio(cfg: ReproduceConfig, ratio: str) -> str:
    """A grid ratio (kept positional: it names run directories) as people read it: dog=6 baby=1 ..."""
    from raresound.data.ratio import format_ratio, parse_ratio

    return format_ratio(parse_ratio(ratio, [*cfg.data.classes, BACKGROUND]))


def ratio_counts(cfg: ReproduceConfig, store: Path) -> dict:
    """ratio -> split -> class -> clips after the train-time subsampling (seed of the first cell;
    the counts do not depend on the seed, only which clips are drawn)."""
    from raresound.store import FeatureStore
    from raresound.training.data import ratio_indices

    fs = FeatureStore(store)
    names = ",".join([*cfg.data.classes, BACKGROUND])
    out = {}
    for ratio in cfg.grid.ratios:
        out[ratio] = {}
        for split in ("train", "val", "test"):
            sp = fs.split(split)
            idx = ratio_indices(sp, ratio, names, cfg.grid.seeds[0]) if split != "test" else np.arange(len(sp))
            labels = sp.labels[idx]
            counts = {c: int(labels[:, fs.classes.index(c)].sum()) for c in cfg.data.classes if c in fs.classes}
            counts[BACKGROUND] = int((labels.sum(axis=1) == 0).sum())
            out[ratio][split] = counts
    return out


def step_times(cfg: ReproduceConfig, out: Path) -> dict:
    """backbone -> measured seconds per training epoch of the baseline stage and the derived seconds
    per batch (epoch time includes the validation pass), from the cells' metrics.jsonl."""
    out_t: dict = {}
    for cell in cells(cfg):
        if cell.method != "baseline":
            continue
        run_dir = cell.run_dir(out)
        metrics, run = run_dir / "metrics.jsonl", run_dir / "run.json"
        if not (metrics.exists() and run.exists()):
            continue
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        secs = [r["seconds"] for r in rows if r.get("stage") == "baseline"]
        if not secs:
            continue
        recipe = cell_recipe(cfg, cell)
        n_batches = math.ceil(read_json(run)["n_train"] / recipe.training.batch_size)
        if recipe.training.max_train_batches is not None:
            n_batches = min(n_batches, recipe.training.max_train_batches)
        entry = out_t.setdefault(cell.backbone, {"epoch_seconds": [], "batches": []})
        entry["epoch_seconds"].extend(secs)
        entry["batches"].extend([n_batches] * len(secs))
    return {b: {"epochs": len(v["epoch_seconds"]), "mean_epoch_seconds": float(np.mean(v["epoch_seconds"])),
                "seconds_per_batch": float(np.sum(v["epoch_seconds"]) / np.sum(v["batches"]))}
            for b, v in out_t.items()}


def convergence(cfg: ReproduceConfig, out: Path) -> dict:
    """model -> {"cells", "mean_epochs", "still_improving"} for the detector stage of each model
    (the stage named like the model), over finished cells."""
    rows: dict = {}
    for cell in cells(cfg):
        run_dir = cell.run_dir(out)
        path = run_dir / "metrics.jsonl"
        if not (cell_done(run_dir) and path.exists()):
            continue
        history: dict = {}
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                history.setdefault(row["stage"], []).append(row)
        for model in METHOD_MODELS[cell.method]:
            stage = history.get(model)
            if not stage:
                continue
            losses = [r["val_loss"] if r["val_loss"] == r["val_loss"] else r["train_loss"] for r in stage]
            entry = rows.setdefault(model, {"cells": 0, "epochs": [], "still_improving": 0})
            entry["cells"] += 1
            entry["epochs"].append(len(stage))
            entry["still_improving"] += int(int(np.argmin(losses)) == len(losses) - 1)
    return {m: {"cells": e["cells"], "mean_epochs": float(np.mean(e["epochs"])), "still_improving": e["still_improving"]}
            for m, e in rows.items()}


def write_report(cfg: ReproduceConfig, out: Path, data_summary: dict, log: Callable[[str], None] = print) -> Path:
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    table = collect(cfg, out)
    grid = cells(cfg)
    done = [c for c in grid if cell_done(c.run_dir(out))]
    store = Path(data_summary["store"]["dir"])
    lines = [f"# Reproduction report: {cfg.name}", ""]
    lines += [f"Schedule **{cfg.schedule.get('name')}**. Cells finished: {len(done)} of {len(grid)} "
              f"(backbones {cfg.grid.backbones} × ratios {cfg.grid.ratios} × methods {cfg.grid.methods} × "
              f"seeds {cfg.grid.seeds}). Every number below is computed from the run directories under "
              f"`{out / 'runs'}` (eer.json and saved test scores); EERs in %, mean ± sample std over seeds.", ""]
    if cfg.schedule.get("notes"):
        lines += [str(cfg.schedule["notes"]).strip(), ""]
    lines += ["The paper's numbers (ICASSP 2019, AudioSet dog / baby cry / gunshot + background) are printed "
              "beside ours for reference only: different data (here: " + _data_line(cfg) + "), a different "
              "third class, and a different schedule. Only the paper's overall EERs are shown (per-class values "
              "were not available to us).", ""]

    results_json: dict = {"cells_done": len(done), "cells_total": len(grid), "tables": {}, "comparisons": {}}
    lines += ["## Main results (Tables 1 and 2 layout)", ""]
    for backbone in cfg.grid.backbones:
        for ratio in cfg.grid.ratios:
            models = table.get((backbone, ratio))
            lines += [f"### {backbone.upper()}, ratio {named_ratio(cfg, ratio)}", ""]
            if not models:
                lines += ["No finished cells yet.", ""]
                continue
            intervals = overall_intervals(cfg, out, backbone, ratio)
            lines += [main_table(cfg, backbone, ratio, models, intervals), "",
                      f"The interval is a bootstrap over the test clips ({cfg.bootstrap['n_boot']} resamples, "
                      "stratified by label) of the seed-mean overall EER; it does not cover the choice of the "
                      "few source recordings behind the test events.", ""]
            for model, (low, high) in intervals.items():
                if model in models:
                    models[model]["overall_ci"] = [low, high]
            results_json["tables"][f"{backbone}/{ratio}"] = models
            comp = paired_comparisons(cfg, out, backbone, ratio)
            if comp is not None:
                results_json["comparisons"][f"{backbone}/{ratio}"] = comp
                lines += [f"Paired bootstrap over the {comp['n_test']} test clips ({cfg.bootstrap['n_boot']} "
                          f"resamples): overall-EER difference Proposed2 − baseline in percentage points "
                          f"(negative = Proposed2 better); 'pooled' averages the per-seed differences on the "
                          f"same resampled clips.", "", comparison_table(comp), ""]
            fig = report / f"det_{backbone}_{ratio.replace(':', '-')}.png"
            seed = det_figure(cfg, out, backbone, ratio, fig)
            if seed is not None:
                lines += [f"![DET {backbone} {ratio}]({fig.name})", "",
                          f"DET curves (like the paper's Figs 3/4), seed {seed}, per class: baseline vs Proposed2.", ""]

    lines += _claim_section(results_json["comparisons"], table)
    lines += _data_section(cfg, data_summary, ratio_counts(cfg, store))
    lines += _schedule_section(cfg, out)
    lines += _toy_section(cfg, report, log)
    lines += ["## Reproduce", "", "```", f"raresound reproduce --config <this config> --out {out}", "```", "",
              "Re-running the command resumes: finished cells (eval/test/eer.json present) are never retrained, "
              "interrupted cells continue from their last epoch checkpoint, the data build and store are cached.", ""]
    write_json(report / "results.json", results_json)
    write_text(report / "report.md", "\n".join(lines))
    return report


def _data_line(cfg: ReproduceConfig) -> str:
    d = cfg.data
    if d.mixtures is None:
        return f"{d.source} clips from {d.root}"
    return (f"{d.source} events ({', '.join(d.classes)}) mixed into {d.source} backgrounds, "
            f"{d.mixtures.clip_seconds:g}-s clips")


def _claim_section(comparisons: dict, table: dict) -> list[str]:
    lines = ["## Did the paper's claim hold?", ""]
    if not comparisons:
        return lines + ["Not enough finished cells for a paired comparison yet.", ""]
    for key, comp in comparisons.items():
        backbone, ratio = key.split("/")
        models = table[(backbone, ratio)]
        base = fmt_mean_std(models["baseline"]["overall"])
        p2 = fmt_mean_std(models["proposed2"]["overall"])
        paper = PAPER_OVERALL.get((backbone, ratio))
        claim = (f"paper: {paper['baseline']:.1f} → {paper['proposed2']:.1f}" if paper else "paper: no number given")
        lines.append(f"- **{backbone.upper()} {ratio}**: baseline {base} vs Proposed2 {p2} "
                     f"({claim}); pooled paired bootstrap: {verdict(comp['pooled'])}, "
                     f"Δ = {100 * comp['pooled']['diff']:+.1f} pts, "
                     f"CI [{100 * comp['pooled']['low']:+.1f}, {100 * comp['pooled']['high']:+.1f}].")
        worst = max(np.mean(models["baseline"]["overall"]), np.mean(models["proposed2"]["overall"]))
        if worst > CHANCE_WARNING:
            lines.append(f"  Caution: an overall EER above {100 * CHANCE_WARNING:.0f}% (chance is 50%) means the "
                         f"detectors barely learned on this schedule; this comparison cannot confirm or refute "
                         f"the paper's claim.")
    return lines + [""]


def _data_section(cfg: ReproduceConfig, summary: dict, counts: dict) -> list[str]:
    d = cfg.data
    lines = ["## Data", "",
             f"Source `{d.source}` at `{summary['root']}`; splits by source recording "
             f"(fractions train/val/test {d.fractions}, seed {d.split_seed}); "
             f"{summary['import_skipped']} imported clips skipped.", ""]
    lines += ["Source recordings (and clips) per split available to the mixer:", "",
              "| split | " + " | ".join([*d.classes, BACKGROUND]) + " |", "|---|" + "---:|" * (len(d.classes) + 1)]
    for split in SPLITS:
        per = summary["sources"].get(split, {})
        lines.append(f"| {split} | " + " | ".join(
            f"{per[c]['sources']} ({per[c]['clips']})" if c in per else "0" for c in [*d.classes, BACKGROUND]) + " |")
    lines.append("")
    if summary.get("mixtures"):
        mix = summary["mixtures"]
        lines += [f"Mixtures (DCASE 2017 Task 2 recipe via `data.mixtures.mix_dataset`): {mix['clip_seconds']:g}-s "
                  f"clips, one event per positive clip at a uniform onset and an EBR drawn from {mix['ebr_db']} dB "
                  f"(RMS over the event span), backgrounds built from random pieces of the split's background "
                  f"recordings (with ESC-50, two 5-s clips fill a 10-s clip), no clipping; material only from the "
                  f"clip's own split. With so few recordings per rare class, **many mixtures are drawn from each "
                  f"source recording** (onset, EBR and background vary); the table gives clips and mixtures per "
                  f"source (min–max).", "",
                  "| split | " + " | ".join([*d.classes, BACKGROUND]) + " |",
                  "|---|" + "---:|" * (len(d.classes) + 1)]
        for split in SPLITS:
            per = mix["clips"].get(split, {})
            lines.append(f"| {split} | " + " | ".join(
                (f"{per[c]['clips']} from {per[c]['sources']} src ({per[c]['per_source_min']}–{per[c]['per_source_max']}/src)"
                 if c in per else "0") for c in [*d.classes, BACKGROUND]) + " |")
        lines.append("")
    lines += ["Store: " + ", ".join(f"{s} {n}" for s, n in summary["store"]["counts"].items())
              + f" clips ({summary['store']['skipped']} skipped). Featurised once; each ratio is applied at "
              "train time (`data.ratio`: train and val subsampled to exactly k × ratio, k maximal, per training "
              "seed), so both ratios share one store and **the same test clips**, and differences between "
              "ratios come from training imbalance only (EER does not depend on the test prevalence).", ""]
    lines += ["Clips used per ratio (train/val after subsampling; test as stored):", "",
              "| ratio | split | " + " | ".join([*d.classes, BACKGROUND]) + " |",
              "|---|---|" + "---:|" * (len(d.classes) + 1)]
    for ratio, per_split in counts.items():
        for split, per in per_split.items():
            lines.append(f"| {named_ratio(cfg, ratio)} | {split} | "
                         + " | ".join(str(per.get(c, 0)) for c in [*d.classes, BACKGROUND]) + " |")
    return lines + [""]


def _schedule_section(cfg: ReproduceConfig, out: Path) -> list[str]:
    lines = ["## Schedule and what was reduced", "",
             f"Schedule **{cfg.schedule.get('name')}**. Recipe fields that differ from the paper's settings "
             "(the library defaults of `training.config.RecipeConfig` are the paper's: Adam 1e-3, batch 64, "
             "patience 10, N_iter 5, 2 + 30/150 epochs, β = 0, β' = 5):", ""]
    diff = schedule_diff(cfg)
    if diff:
        lines += ["| field | paper / default | used | cells |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {a} | {b} | {who} |" for who, k, a, b in diff]
    else:
        lines += ["None: the paper's schedule."]
    lines.append("")
    times = step_times(cfg, out)
    if times:
        lines += ["Measured training cost (baseline stage, this machine, epoch time incl. validation):", ""]
        for backbone, t in times.items():
            lines.append(f"- {backbone.upper()}: {t['seconds_per_batch']:.2f} s per training batch "
                         f"({t['mean_epoch_seconds']:.1f} s per epoch, {t['epochs']} epochs measured)")
        lines.append("")
    conv = convergence(cfg, out)
    if conv:
        lines += ["Convergence of the detector stages (from the cells' metrics.jsonl): epochs run, and in how many "
                  "cells the best validation loss was at the last epoch run, i.e. the stage was still improving "
                  "when `max_epochs` stopped it (undertrained):", "",
                  "| model | cells | epochs run (mean) | still improving at the end |", "|---|---:|---:|---:|"]
        for model, c in conv.items():
            lines.append(f"| {cell_label(cfg, cfg.grid.backbones[0], cfg.grid.ratios[0], model)} | {c['cells']} | {c['mean_epochs']:.1f} | "
                         f"{c['still_improving']} of {c['cells']} |")
        lines.append("")
    walls = []
    for cell in cells(cfg):
        p = cell.run_dir(out) / "reproduce.json"
        if p.exists():
            r = read_json(p)
            walls.append(r["train_seconds"] + r["eval_seconds"])
    if walls:
        lines += [f"Wall time of the cells finished by this harness: {sum(walls) / 60:.1f} min in total "
                  f"({len(walls)} cells; a resumed cell counts only its last invocation). "
                  f"Host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                  f"threads {cfg.threads if cfg.threads is not None else 'auto'}.", ""]
    return lines


def _toy_section(cfg: ReproduceConfig, report: Path, log) -> list[str]:
    if cfg.toy is None:
        return []
    from raresound.toy import run_toy

    opts = dict(cfg.toy)
    toy = run_toy(report / "toy", seed=int(opts.pop("seed", 0)), n_rounds=int(opts.pop("n_rounds", 3)), **opts)
    rounds = toy.get("rounds", []) if isinstance(toy, dict) else []
    lines = ["## Toy example (paper's Fig 1)", "",
             "Algorithm 1 on 1000 points at 166/166/668 with a 3-unit LSTM embedding on the unit sphere "
             "(`raresound.toy.run_toy`).", ""]
    pngs = [r["png"] for r in rounds if "png" in r] or sorted(p.name for p in (report / "toy").glob("round_*.png"))
    for png in pngs:
        lines.append(f"![toy {png}](toy/{png})")
    lines.append("")
    return lines
