"""The one method registry: every training method is declared here, once.

A `Method` names its recipe, the models it produces (rows of the report tables, bundle names under
`RUN/models/`), the `loss.*` fields it reads, the losses it trains with, a table label per model and
whether it is a reference yardstick (the probe) rather than an imbalance method. Every list the
code used to keep by hand is derived from `REGISTRY`: `training.config.METHODS` /
`REFERENCE_METHODS`, the recipe lookup of `training.recipes.train`, `reproduce`'s method -> models,
labels and loss-field tables, and the reference rows of `raresound compare`.

Design (no import circle): this module holds *declarations only* and imports nothing heavier than
the standard library, so the config layer, `reproduce` and the CLI can read it without torch. A
recipe is named by a "module:function" string and looked up lazily (`Method.recipe_fn()`) when a
run starts. The recipe modules (competitors, proposed, probe) import `training.recipes` for the
shared harness; `training.recipes` imports only this module; and nothing here imports a recipe
module at import time, so the static import graph is a tree. (The alternative, recipes registering
themselves on import, needs someone to import every recipe module before the list is complete:
exactly the deferred import this replaces.)

Adding a method: one `Method(...)` entry below, plus its recipe function; nothing else to keep in step.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

# A table label: a fixed string, or a function of the cell's RecipeConfig, or of None for the
# default config (labels that depend on a config field, e.g. the resampling mode).
Label = Union[str, Callable[[Any], str]]


@dataclass(frozen=True)
class Method:
    name: str
    recipe: str  # "module:function", imported when a run of this method starts
    models: tuple[str, ...]  # bundles it writes, in table order
    labels: Mapping[str, Label]  # model -> table label
    loss_fields: tuple[str, ...] = ()  # `loss.*` fields its recipe reads
    # Loss classes its training stages use, by "module:Class" (checked by tests/test_method_losses.py).
    losses: tuple[str, ...] = ()
    reads_proposed: bool = False  # reads the `proposed.*` section (Algorithm 1 and its LMLE variant)
    reference: bool = False  # a yardstick (labelled reference row), not an imbalance method
    notes: str = field(default="", compare=False)

    def recipe_fn(self) -> Callable:
        module, _, name = self.recipe.partition(":")
        return getattr(importlib.import_module(module), name)

    def label(self, model: str, cfg=None) -> str:
        """The table label of `model` for a run of `cfg` (a RecipeConfig; None: the defaults)."""
        label = self.labels.get(model, model)
        return label(cfg) if callable(label) else label


# Called with None for the default config (this module cannot build a RecipeConfig: the config
# layer imports it), so the default's label is the `None` entry.
_RESAMPLE_LABELS = {None: "Resampling (background undersampling)",
                    "undersample": "Resampling (background undersampling)",
                    "class-balanced": "Resampling (class-balanced)"}


def _resample_label(cfg) -> str:
    return _RESAMPLE_LABELS[None if cfg is None else cfg.loss.resample_mode]


_BCE = "raresound.losses.weighted_bce:ClassWeightedBCE"
_COMPETITORS = "raresound.training.competitors"

REGISTRY: tuple[Method, ...] = (
    Method("baseline", "raresound.training.recipes:train_baseline", ("baseline",),
           {"baseline": "Baseline (class-weighted BCE)"}, losses=(_BCE,)),
    Method("proposed", "raresound.training.proposed:train_clustered", ("proposed1", "proposed2"),
           {"proposed1": "Proposed1 (head only)", "proposed2": "Proposed2 (fine-tuned)"},
           losses=("raresound.losses.thce:TripleHeaderCrossEntropy", _BCE), reads_proposed=True),
    Method("lmle", "raresound.training.proposed:train_clustered", ("lmle1", "lmle2"),
           {"lmle1": "LMLE embedding + head", "lmle2": "LMLE embedding, fine-tuned"},
           losses=("raresound.losses.lmle:TripleHeaderHingeLoss", _BCE), reads_proposed=True),
    Method("focal", f"{_COMPETITORS}:train_focal", ("focal",), {"focal": "Focal loss"},
           loss_fields=("gamma", "focal_alpha"), losses=("raresound.losses.focal:FocalLoss",)),
    Method("cb", f"{_COMPETITORS}:train_class_balanced", ("cb",), {"cb": "Class-balanced loss"},
           loss_fields=("gamma", "cb_beta", "cb_base"),
           losses=("raresound.losses.class_balanced:ClassBalancedLoss",)),
    Method("ldam-drw", f"{_COMPETITORS}:train_ldam_drw", ("ldam-drw",), {"ldam-drw": "LDAM-DRW"},
           loss_fields=("ldam_max_margin", "ldam_scale", "drw_start_epoch", "drw_beta"),
           losses=("raresound.losses.ldam:LDAMLoss",)),
    Method("logit-adjust", f"{_COMPETITORS}:train_logit_adjusted", ("logit-adjust",),
           {"logit-adjust": "Logit adjustment"}, loss_fields=("tau",),
           losses=("raresound.losses.logit_adjust:LogitAdjustedLoss",)),
    Method("resample", f"{_COMPETITORS}:train_resampled", ("resample",), {"resample": _resample_label},
           loss_fields=("resample_mode", "background_fraction"), losses=(_BCE,)),
    Method("probe", "raresound.training.probe:train_probe", ("probe",), {"probe": "probe (reference)"},
           reference=True),
)

BY_NAME: dict[str, Method] = {m.name: m for m in REGISTRY}
METHODS: tuple[str, ...] = tuple(BY_NAME)
REFERENCE_METHODS: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.reference)
# Model (bundle) names of the reference methods: `compare` and the report label these rows.
REFERENCE_MODELS: tuple[str, ...] = tuple(model for m in REGISTRY if m.reference for model in m.models)
METHOD_MODELS: dict[str, list[str]] = {m.name: list(m.models) for m in REGISTRY}
# Labels under the default config (a cell's own config may change one: see `model_label`).
MODEL_LABELS: dict[str, str] = {model: m.label(model) for m in REGISTRY for model in m.models}
# `loss.*` field -> the methods that read it, in registry order.
LOSS_FIELDS_READ: dict[str, tuple[str, ...]] = {}
for _m in REGISTRY:
    for _f in _m.loss_fields:
        LOSS_FIELDS_READ[_f] = (*LOSS_FIELDS_READ.get(_f, ()), _m.name)
PROPOSED_READERS: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.reads_proposed)


def get(name: str) -> Method:
    return BY_NAME[name]


def method_of_model(model: str) -> Method | None:
    """The method that produces bundle `model` (None for a name no method produces)."""
    return next((m for m in REGISTRY if model in m.models), None)


def model_label(model: str, cfg=None) -> str:
    """Table label of `model` trained under `cfg` (a RecipeConfig; None: the defaults)."""
    method = method_of_model(model)
    return method.label(model, cfg) if method is not None else model
