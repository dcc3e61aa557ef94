"""Training recipes as validated YAML.

Every section is a plain dataclass; `load_config` walks the YAML (with `raresound.config_schema`, the
validator reproduction grids use too) and rejects any unknown key or badly-typed value with a
ConfigError naming the dotted field — before any work starts. Defaults are
the paper's settings (Adam 1e-3, batch 64, patience 10, N_iter 5, 2 + 30/150 epochs, β=0, β'=5).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from raresound.config_schema import build, deep_merge, split_pair
from raresound.devices import DEVICES
from raresound.errors import ConfigError
# Declared once in training/methods.py; reference methods are yardsticks shown as labelled rows.
from raresound.training.methods import METHODS, REFERENCE_METHODS  # noqa: F401


@dataclass
class DataConfig:
    """Optional re-balancing of a store at training time (featurise once, train at many ratios)."""

    # "dog=6,baby=1,gunshot=2,background=16": names must be the store's classes + background.
    # A positional "6:1:2:16" needs `classes`; None = as stored.
    ratio: Optional[str] = None
    classes: Optional[str] = None  # order of a positional ratio, e.g. "dog,baby,gunshot,background"


@dataclass
class ModelConfig:
    backbone: Literal["lstm", "cnn"] = "lstm"
    hidden_size: int = 128  # LSTM units (paper: 1 layer, 128)
    pooling: Literal["max", "mean", "last"] = "max"  # LSTM embedding: max / mean over time, or final state
    time_pool: int = 1  # LSTM: average this many frames before the LSTM (1 = paper's 10-ms steps)
    dropout: float = 0.3  # CNN dropout (paper: 0.3)
    normalize: bool = True  # L2-normalise the embedding
    channels_last: bool = False  # CNN: NHWC activations (1.35x faster per step on this CPU, same results)


@dataclass
class TrainingConfig:
    batch_size: int = 64  # per process (paper: 64 per GPU)
    lr: float = 1e-3
    max_epochs: int = 100  # detector stages: upper bound, early stopping decides
    patience: int = 10  # epochs without validation-loss improvement before stopping
    weight_decay: float = 0.0
    num_workers: int = 0
    device: Literal[DEVICES] = "auto"  # type: ignore[valid-type]
    amp: Literal["none", "bf16", "fp16"] = "none"  # autocast dtype (fp16 only on CUDA)
    max_train_batches: Optional[int] = None  # cap per epoch (reduced CPU schedules); None = all
    progress: bool = True


@dataclass
class ProposedConfig:
    """Algorithm 1 (Sections 3.1–3.2). Every constant of the paper is a field here."""

    n_iter: int = 5  # clustering rounds
    layer_epochs: int = 2  # cluster-layer-only epochs after each re-clustering
    e2e_epochs: int = 30  # end-to-end epochs per round
    last_e2e_epochs: int = 150  # end-to-end epochs in the last round
    beta: float = 0.0  # margin on other clusters of the sample's own class
    beta_prime: float = 5.0  # margin on clusters of other classes
    alpha: float = 10.0  # logit scale (initial column norm in "scaled" mode); see ClusterLayer
    layer_mode: Literal["scaled", "fixed"] = "scaled"
    # Paper: K_c = I_c / min I clusters of roughly equal size (about the smallest class's size);
    # plain spherical k-means follows the data instead (5 to 45 for a target of 20 in tests/test_clustering.py).
    balanced_clusters: bool = True
    head_input: Literal["v", "z", "e"] = "v"  # detector head reads softmax v, logits z, or embedding
    head_epochs: int = 100  # Proposed1: head only (early stopping)
    # Proposed1's learning rate (None: training.lr, the paper's). The head reads softmax outputs in
    # [0, 1]; confident logits need weights of norm ~10, which Adam at 1e-3 reaches only after
    # ~10^4 steps: reduced schedules raise it (docs/learning.md).
    head_lr: Optional[float] = None
    finetune_epochs: int = 100  # Proposed2: end to end (early stopping)
    embedding_loss: Literal["thce", "lmle"] = "thce"  # LMLE swaps in here (the only difference)
    lmle_margins: list = field(default_factory=lambda: [0.1, 0.1, 0.1])


@dataclass
class LossConfig:
    """Parameters of the competing losses; each method reads the ones it needs."""

    gamma: float = 2.0  # focal
    focal_alpha: Optional[float] = 0.25  # focal
    cb_beta: float = 0.999  # class-balanced effective number
    cb_base: Literal["bce", "focal", "softmax"] = "bce"
    ldam_max_margin: float = 0.5
    ldam_scale: float = 30.0
    drw_start_epoch: int = 10  # deferred re-weighting switches on at this epoch
    drw_beta: float = 0.9999
    tau: float = 1.0  # logit adjustment
    resample_mode: Literal["undersample", "class-balanced"] = "undersample"
    background_fraction: float = 0.25  # resample/undersample: share of background clips kept per epoch


@dataclass
class RecipeConfig:
    method: Literal[METHODS] = "baseline"  # type: ignore[valid-type]
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    proposed: ProposedConfig = field(default_factory=ProposedConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The epoch counts of Algorithm 1's stages (`training.max_epochs`, the detector stages' bound, is >= 1).
EPOCH_FIELDS = ("layer_epochs", "e2e_epochs", "last_e2e_epochs", "head_epochs", "finetune_epochs")


def _check_ranges(cfg: RecipeConfig) -> None:
    from raresound.data.ratio import parse_ratio

    t, p = cfg.training, cfg.proposed
    if cfg.model.time_pool < 1:
        raise ConfigError("model.time_pool", "must be >= 1 (1 = every 10-ms frame)")
    if cfg.data.ratio is not None:  # the store's names are checked when it is opened
        parse_ratio(cfg.data.ratio, cfg.data.classes, field="data.ratio")
    if t.batch_size < 1:
        raise ConfigError("training.batch_size", "must be >= 1")
    if t.lr <= 0:
        raise ConfigError("training.lr", f"must be > 0, got {t.lr}")
    if t.max_epochs < 1:
        raise ConfigError("training.max_epochs", "must be >= 1")
    if p.n_iter < 1:
        raise ConfigError("proposed.n_iter", "must be >= 1")
    epochs = {f"proposed.{name}": getattr(p, name) for name in EPOCH_FIELDS}
    for name, value in epochs.items():
        if value < 0:
            raise ConfigError(name, f"must be >= 0, got {value}")
    if cfg.method in ("proposed", "lmle") and not any(epochs.values()):
        raise ConfigError("proposed.*_epochs", f"every stage has 0 epochs ({', '.join(epochs)}): nothing would "
                          "be trained; give the head or the end-to-end stages at least 1")
    if p.head_lr is not None and not p.head_lr > 0:
        raise ConfigError("proposed.head_lr", f"must be > 0, got {p.head_lr}")
    if p.alpha <= 0:
        raise ConfigError("proposed.alpha", f"must be > 0, got {p.alpha}")
    if cfg.method in ("proposed", "lmle") and not cfg.model.normalize:
        raise ConfigError("model.normalize", "the clustered embedding compares L2-normalised embeddings by cosine; must be true")
    if len(p.lmle_margins) != 3:
        raise ConfigError("proposed.lmle_margins", "must list three margins [g1, g2, g3]")
    if not 0.0 < cfg.loss.background_fraction <= 1.0:
        raise ConfigError("loss.background_fraction", "must be in (0, 1]")
    if not 0.0 <= cfg.loss.cb_beta < 1.0:
        raise ConfigError("loss.cb_beta", "must be in [0, 1)")
    _check_bounds(cfg)


# Upper bounds catch typos that would otherwise allocate without limit (hidden_size 1e7 is ~1.6 PB of
# LSTM weights) or overflow a seed; they are far above any setting the recipes use (the paper: 128).
# Bundles are held to the same hidden_size bound when loaded (raresound.bundle).
MAX_HIDDEN_SIZE = 4096
MAX_SEED = 2**32 - 1  # numpy's legacy seed range, the narrowest of the RNGs the seed reaches


def _check_bounds(cfg: RecipeConfig) -> None:
    t, m, loss = cfg.training, cfg.model, cfg.loss
    checks = [
        ("seed", cfg.seed <= MAX_SEED, f"must be between 0 and {MAX_SEED}, got {cfg.seed}"),
        ("model.hidden_size", 1 <= m.hidden_size <= MAX_HIDDEN_SIZE,
         f"must be between 1 and {MAX_HIDDEN_SIZE}, got {m.hidden_size}"),
        ("model.dropout", 0.0 <= m.dropout < 1.0, f"must be in [0, 1), got {m.dropout}"),
        ("training.weight_decay", t.weight_decay >= 0, f"must be >= 0, got {t.weight_decay}"),
        ("training.num_workers", t.num_workers >= 0, f"must be >= 0 (0 = load in the training process), got {t.num_workers}"),
        ("training.max_train_batches", t.max_train_batches is None or t.max_train_batches >= 1,
         f"must be >= 1 or null (all batches), got {t.max_train_batches}"),
        ("loss.gamma", loss.gamma >= 0, f"must be >= 0, got {loss.gamma}"),
        ("loss.focal_alpha", loss.focal_alpha is None or 0.0 <= loss.focal_alpha <= 1.0,
         f"must be in [0, 1] or null, got {loss.focal_alpha}"),
        ("loss.drw_beta", 0.0 <= loss.drw_beta < 1.0, f"must be in [0, 1), got {loss.drw_beta}"),
        ("loss.ldam_scale", loss.ldam_scale > 0, f"must be > 0, got {loss.ldam_scale}"),
        ("loss.ldam_max_margin", loss.ldam_max_margin >= 0, f"must be >= 0, got {loss.ldam_max_margin}"),
    ]
    for name, ok, reason in checks:
        if not ok:
            raise ConfigError(name, reason)


def config_from_dict(data: dict | None) -> RecipeConfig:
    cfg = build(RecipeConfig, data or {}, "")
    _check_ranges(cfg)
    return cfg


def read_yaml(path: str | Path, missing: str = "config file not found") -> Any:
    """YAML file -> data, with one-line ConfigErrors naming the file (`missing`: the message for a
    file that is not there, e.g. which flag to pass instead)."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(str(path), missing) from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a directory, not a YAML config file") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "not a text file (not UTF-8); expected a YAML config") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not valid YAML ({str(exc).splitlines()[0]})") from None


def apply_overrides(data: dict, overrides: dict | None) -> dict:
    """Set dotted keys in place: {'training.max_epochs': 3} -> data['training']['max_epochs'] = 3."""
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # e.g. `training: 5` in the file, then --set training.lr=...
                raise ConfigError(".".join(parents[:i + 1]), f"must be a mapping to set {dotted}, got {node!r}")
        node[leaf] = value
    return data


def load_config(path: str | Path, overrides: dict | None = None) -> RecipeConfig:
    """Read a YAML recipe, apply dotted overrides ({'training.max_epochs': 3}), validate."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"must hold a YAML mapping of recipe fields, got a {type(data).__name__}")
    return config_from_dict(apply_overrides(data, overrides))


def _field_type(dotted: str) -> Any:
    """The annotation of a dotted RecipeConfig field; ConfigError for unknown fields and sections."""
    cls, parts = RecipeConfig, dotted.split(".")
    for i, part in enumerate(parts):
        name = ".".join(parts[:i + 1])
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ConfigError(name, f"{'.'.join(parts[:i])} is a value, not a section")
        hints = typing.get_type_hints(cls)
        if part not in hints:
            raise ConfigError(name, f"unknown key (known: {', '.join(sorted(hints))})")
        cls = hints[part]
    if dataclasses.is_dataclass(cls):
        raise ConfigError(dotted, f"is a section; set one of its fields, e.g. {dotted}.{dataclasses.fields(cls)[0].name}=...")
    return cls


_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _parse_typed(key: str, raw: str, annotation: Any) -> Any:
    """Text -> value of the field's type. YAML typing would read 6:1:2:16 as the base-60 integer
    1299736 and 1e-4 as a string; the field's type says what the text means."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if raw.lower() in ("null", "none", "~", ""):
            return None
        return _parse_typed(key, raw, args[0])
    try:
        if annotation is bool:
            return _BOOLS[raw.lower()]
        if annotation is int:
            return int(raw)
        if annotation is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
    except (KeyError, ValueError):
        kind = {bool: "true or false", int: "an integer", float: "a finite number"}[annotation]
        raise ConfigError(key, f"must be {kind}, got {raw!r}") from None
    if annotation is list or typing.get_origin(annotation) is list:
        try:
            return yaml.safe_load(raw)  # checked as a list by load_config, like a value from the file
        except yaml.YAMLError as exc:
            raise ConfigError(key, f"not a valid YAML list ({str(exc).splitlines()[0]})") from None
    return raw  # str and Literal fields: the text itself (choices are checked by load_config)


def parse_override(text: str) -> tuple[str, Any]:
    """`training.max_epochs=3` -> ('training.max_epochs', 3), typed by the field: `data.ratio=6:1:2:16`
    stays a string, `training.lr=1e-4` is a float; `null` clears an optional field."""
    pair = split_pair(text)
    if pair is None:
        raise ConfigError(text, "override must look like section.key=value")
    key, raw = pair
    return key, _parse_typed(key, raw, _field_type(key))


def load_recipes(path: str | Path, overrides: dict | None = None) -> list[tuple[str, RecipeConfig]]:
    """A recipe file gives one recipe (named after the file); a *suite* file gives several:
    `base:` (shared fields) + `recipes: {name: fields}`, each merged on top of base and validated."""
    path = Path(path)
    data = read_yaml(path)
    if not (isinstance(data, dict) and "recipes" in data):
        return [(path.stem, load_config(path, overrides))]
    unknown = set(data) - {"base", "recipes"}
    if unknown:
        raise ConfigError(f"{path.name}:{sorted(unknown)[0]}", "unknown key in a suite (known: base, recipes)")
    if not isinstance(data["recipes"], dict) or not data["recipes"]:
        raise ConfigError(f"{path.name}:recipes", "must map recipe names to fields")
    suite = []
    for name, fields in data["recipes"].items():
        merged = apply_overrides(deep_merge(data.get("base") or {}, fields or {}), overrides)
        try:
            suite.append((str(name), config_from_dict(merged)))
        except ConfigError as exc:
            raise ConfigError(f"recipes.{name}.{exc.field}", exc.reason) from None
    return suite
