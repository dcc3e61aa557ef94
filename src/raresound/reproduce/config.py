"""Reproduction config: the dataclasses of a reproduce YAML, validated by the typed validator of
recipes (`raresound.config_schema`), and the grid of cells it names (each cell's recipe validated
before any work starts)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from raresound.config_schema import build, check_value, deep_merge  # noqa: F401  (deep_merge: re-exported)
from raresound.data.manifest import SPLITS
from raresound.data.ratio import BACKGROUND
from raresound.errors import ConfigError

# Rows of the paper's tables (a method contributes the models it trains), labels, loss fields read:
# declared once per method in training/methods.py.
from raresound.training.methods import (LOSS_FIELDS_READ, METHOD_MODELS, MODEL_LABELS,  # noqa: E402,F401
                                        PROPOSED_READERS, REFERENCE_MODELS, method_of_model, model_label)

# The only recipe fields the reference probe reads (it has no backbone and no epochs).
PROBE_FIELDS_READ = ("data.", "training.batch_size", "training.device")


@dataclass
class MixConfig:
    clip_seconds: float = 10.0
    ebr_db: list[float] = field(default_factory=lambda: [-6.0, 0.0, 6.0])
    seed: int = 0
    format: str = "wav"
    counts: dict = field(default_factory=dict)  # split -> {class: clips}
    event_span: Literal["active", "single"] = "active"  # "single": one occurrence per event (data/mixtures.py)


@dataclass
class DataSection:
    source: str = "esc50"  # an importer name (data.sources.IMPORTERS) or "manifest"
    root: str = "../shared/data/esc50-subset"  # data set root, or the manifest path for "manifest"
    options: Optional[dict] = field(default_factory=dict)  # importer keyword arguments (label_map, segments, ...)
    classes: list = field(default_factory=lambda: ["dog", "baby", "glass"])  # ratio order; background last
    fractions: list[float] = field(default_factory=lambda: [0.5, 0.25, 0.25])
    split_seed: int = 0
    train_sources: float = 1.0  # share of each class's train event recordings mixed into train (a learning curve)
    mixtures: Optional[MixConfig] = field(default_factory=MixConfig)  # None: use the clips as imported
    features: Optional[dict] = field(default_factory=dict)  # FeatureConfig overrides (clip_seconds follows mixtures)
    cache_dir: Optional[str] = None  # default: <out>/data
    workers: int = 2


@dataclass
class GridSection:
    backbones: list[Literal["lstm", "cnn"]] = field(default_factory=lambda: ["lstm"])
    ratios: list = field(default_factory=lambda: ["6:1:2:16", "2:2:1:26"])
    methods: list = field(default_factory=lambda: ["baseline", "proposed"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])


@dataclass
class BootstrapSection:
    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0


@dataclass
class FramesSection:
    """Frame heads and localised-event metrics (reproduce/frames.py); off while epochs is 0."""

    epochs: int = 0  # frame-head epochs; 0: no frame heads, no event columns
    lr: float = 1e-2
    patience: int = 3
    head_input: Literal["e", "v"] = "e"
    finetune_epochs: int = 0  # > 0: then train everything on frame + clip loss (training/frames.py)
    long_files: int = 8  # long test files of clips_per_file test clips each
    clips_per_file: int = 9
    median: int = 5  # median filter over steps


@dataclass
class CurveSection:
    """A learning curve over source recordings (reproduce/curve.py): the grid's cells of `methods`
    retrained on nested shares of each class's train event recordings (val and test unchanged);
    the grid itself is the 100 % point. Off while train_sources is empty."""

    train_sources: list[float] = field(default_factory=list)  # shares in (0, 1), e.g. [0.25, 0.5]
    methods: list = field(default_factory=lambda: ["baseline", "proposed"])
    backbone: Optional[str] = None  # default: the grid's first backbone
    ratio: Optional[str] = None  # default: the grid's first ratio
    seeds: Optional[list[int]] = None  # default: the grid's seeds


@dataclass
class ReproduceConfig:
    name: str = "reproduce"
    schedule: dict = field(default_factory=lambda: {"name": "paper", "notes": ""})
    data: DataSection = field(default_factory=DataSection)
    grid: GridSection = field(default_factory=GridSection)
    recipe: Optional[dict] = field(default_factory=dict)  # RecipeConfig fields shared by every cell
    backbone_recipes: Optional[dict] = field(default_factory=dict)  # backbone -> recipe overrides
    method_recipes: Optional[dict] = field(default_factory=dict)  # method -> recipe overrides
    bootstrap: BootstrapSection = field(default_factory=BootstrapSection)
    toy: Optional[dict] = field(default_factory=lambda: {"seed": 0, "n_rounds": 3})
    threads: Optional[int] = None  # torch intra-op threads (None: usable cores / local processes)
    det_seed: Optional[int] = None  # seed whose scores the DET figures show (default: first seed)
    frames: FramesSection = field(default_factory=FramesSection)
    curve: CurveSection = field(default_factory=CurveSection)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_from_dict(raw: dict) -> ReproduceConfig:
    """Validate a reproduce config mapping (unknown keys and bad values -> ConfigError naming the
    dotted field): types by `config_schema.build`, then the rules that span fields."""
    cfg = build(ReproduceConfig, raw, "")
    if isinstance(raw.get("schedule"), dict):  # a given schedule is custom unless it names itself
        cfg.schedule = {"name": "custom", "notes": "", **raw["schedule"]}
    for key in ("recipe", "backbone_recipes", "method_recipes"):
        setattr(cfg, key, dict(getattr(cfg, key) or {}))
    _check_data(cfg.data, (raw.get("data") or {}).get("mixtures") is not None)
    _check_grid(cfg)
    _check_curve(cfg)
    for key in ("method", "seed"):
        if key in cfg.recipe:
            raise ConfigError(f"recipe.{key}", "is set by the grid; do not give it here")
    if "ratio" in (cfg.recipe.get("data") or {}):
        raise ConfigError("recipe.data.ratio", "is set by grid.ratios; do not give it here")
    if cfg.toy is not None:
        cfg.toy = dict(cfg.toy)
    f = cfg.frames
    for name, low in (("epochs", 0), ("patience", 1), ("long_files", 1), ("clips_per_file", 2), ("median", 1),
                      ("finetune_epochs", 0)):
        if getattr(f, name) < low:
            raise ConfigError(f"frames.{name}", f"must be >= {low}, got {getattr(f, name)}")
    if f.median % 2 == 0 or not 0 < f.lr < 10:
        raise ConfigError("frames.median" if f.median % 2 == 0 else "frames.lr",
                          "must be odd" if f.median % 2 == 0 else "must be in (0, 10)")
    if cfg.det_seed is not None and cfg.det_seed not in cfg.grid.seeds:
        raise ConfigError("det_seed", f"{cfg.det_seed} is not one of grid.seeds {cfg.grid.seeds}")
    # Every cell's recipe is validated now, before any work starts.
    for cell in cells(cfg):
        cell_recipe(cfg, cell)
    return cfg


def _check_data(data: DataSection, mixtures_given: bool) -> None:
    from raresound.data.sources import IMPORTERS

    if data.source != "manifest" and data.source not in IMPORTERS:
        raise ConfigError("data.source", f"{data.source!r} is not one of {['manifest', *IMPORTERS]}")
    data.options, data.features = dict(data.options or {}), dict(data.features or {})
    data.classes = [str(c) for c in data.classes]
    if not data.classes or BACKGROUND in data.classes or len(set(data.classes)) != len(data.classes):
        raise ConfigError("data.classes", f"expected distinct event class names (background is implicit), got {data.classes}")
    if len(data.fractions) != 3 or abs(sum(data.fractions) - 1) > 1e-6 or min(data.fractions) <= 0:
        raise ConfigError("data.fractions", f"expected 3 positive numbers summing to 1 (train, val, test), got {data.fractions}")
    if data.workers < 1:
        raise ConfigError("data.workers", "must be >= 1")
    if not 0.0 < data.train_sources <= 1.0:
        raise ConfigError("data.train_sources", f"must be a fraction in (0, 1], got {data.train_sources}")
    if data.mixtures is not None and mixtures_given:
        data.mixtures.counts = _check_counts(data.mixtures.counts, [*data.classes, BACKGROUND])


def _check_counts(counts: dict, names: list[str]) -> dict:
    """data.mixtures.counts: split -> class -> clips, for every split."""
    for split, per_class in counts.items():
        if split not in SPLITS:
            raise ConfigError(f"data.mixtures.counts.{split}", f"unknown split (one of {list(SPLITS)})")
        for cls, n in check_value(f"data.mixtures.counts.{split}", per_class, dict).items():
            if cls not in names:
                raise ConfigError(f"data.mixtures.counts.{split}.{cls}", f"not one of {names}")
            check_value(f"data.mixtures.counts.{split}.{cls}", n, int)
    missing = [s for s in SPLITS if s not in counts]
    if counts and missing:
        raise ConfigError("data.mixtures.counts", f"give clip counts for every split (missing {missing})")
    if not counts:
        raise ConfigError("data.mixtures.counts", "give clip counts per split and class")
    return {s: dict(counts[s]) for s in SPLITS}


def _check_grid(cfg: ReproduceConfig) -> None:
    from raresound.data.ratio import parse_ratio
    from raresound.training.methods import METHODS

    grid = cfg.grid
    for m in grid.methods:
        if m not in METHODS:
            raise ConfigError("grid.methods", f"{m!r} is not one of {list(METHODS)}")
    if "baseline" not in grid.methods or "proposed" not in grid.methods:
        raise ConfigError("grid.methods", "must include baseline and proposed (the paired comparison needs both)")
    # Named ("dog=6,...") or positional over data.classes; kept positional in that order, which
    # names the cell directories (runs/lstm/6-1-2-16/...) and keys the paper's numbers.
    order = [*cfg.data.classes, BACKGROUND]
    weights = [parse_ratio(str(r), order, field="grid.ratios") for r in grid.ratios]
    grid.ratios = [":".join(str(w[c]) for c in order) for w in weights]
    if not (grid.backbones and grid.ratios and grid.seeds) or len(set(grid.seeds)) != len(grid.seeds):
        raise ConfigError("grid", "backbones, ratios and seeds must be non-empty (seeds distinct)")


def _check_curve(cfg: ReproduceConfig) -> None:
    """Curve defaults come from the grid; a curve point must be a slice of the grid's cells."""
    from raresound.data.ratio import parse_ratio

    c, grid = cfg.curve, cfg.grid
    shares = [float(v) for v in c.train_sources]
    if any(not 0.0 < v < 1.0 for v in shares) or len(set(shares)) != len(shares):
        raise ConfigError("curve.train_sources", f"expected distinct shares in (0, 1) (the grid is 1.0), got {shares}")
    c.train_sources = sorted(shares)
    if any(m not in grid.methods for m in c.methods) or not c.methods:
        raise ConfigError("curve.methods", f"expected some of grid.methods {grid.methods}, got {c.methods}")
    c.backbone = c.backbone or grid.backbones[0]
    if c.backbone not in grid.backbones:
        raise ConfigError("curve.backbone", f"{c.backbone!r} is not one of grid.backbones {grid.backbones}")
    order = [*cfg.data.classes, BACKGROUND]
    ratio = grid.ratios[0] if c.ratio is None else str(c.ratio)
    weights = parse_ratio(ratio, order, field="curve.ratio")
    c.ratio = ":".join(str(weights[name]) for name in order)
    if c.ratio not in grid.ratios:
        raise ConfigError("curve.ratio", f"{ratio!r} is not one of grid.ratios {grid.ratios}")
    c.seeds = list(grid.seeds if c.seeds is None else c.seeds)
    if not c.seeds or len(set(c.seeds)) != len(c.seeds):
        raise ConfigError("curve.seeds", f"expected distinct seeds, got {c.seeds}")


def load_config(path: str | Path) -> ReproduceConfig:
    from raresound.training.config import read_yaml

    return config_from_dict(read_yaml(path))


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


def cell_done(run_dir: Path) -> bool:
    return (run_dir / "eval" / "test" / "eer.json").exists()


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


def named_ratio(cfg: ReproduceConfig, ratio: str) -> str:
    """A grid ratio (kept positional: it names run directories) as people read it: dog=6 baby=1 ..."""
    from raresound.data.ratio import format_ratio, parse_ratio

    return format_ratio(parse_ratio(ratio, [*cfg.data.classes, BACKGROUND]))


def cell_label(cfg: ReproduceConfig, backbone: str, ratio: str, model: str) -> str:
    """Table label of `model` as the grid trains it (a label may name a config field, e.g. the
    resampling mode); a model no method of the grid produces keeps its default label."""
    method = method_of_model(model)
    if method is None or method.name not in cfg.grid.methods:
        return model_label(model)
    return model_label(model, cell_recipe(cfg, Cell(backbone, ratio, method.name, cfg.grid.seeds[0])))
