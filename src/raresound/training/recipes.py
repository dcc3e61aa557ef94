"""Training recipes: each method is a short list of `Stage`s for the one `Trainer`.

- baseline and the competing detector losses: one stage, every parameter, early stopping.
- proposed (Algorithm 1) and LMLE: N_iter rounds of {cluster, [cluster layer only], end to end},
  then Proposed1 (head only) and Proposed2 (end to end) with class-weighted BCE.
- probe (reference, training/probe.py): no stages; pooled log-mel statistics + logistic regression.

Every finished model is saved as a bundle under `RUN/models/<name>/`. Which function trains which
method is declared once in `training/methods.py` (the recipe modules import this harness; it
looks their functions up by name from the registry, so nothing imports back).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml

from raresound.bundle import Bundle, keep_calibration
from raresound.devices import auto_device
from raresound.errors import BusyError, ConfigError
from raresound.export import sync_exports
from raresound.io import dir_lock, remove_stale_temps, write_json, write_text
from raresound.losses.weighted_bce import ClassWeightedBCE
from raresound.models.errors import ParameterError
from raresound.models.factory import ModelSpec, build_model, scores_from_logits
from raresound.runs import RunDir
from raresound.training import distributed as dist
from raresound.training import methods
from raresound.training.config import RecipeConfig
from raresound.training.curves import report_learning, write_learning_curves
from raresound.training.fingerprint import check_run, fingerprint
from raresound.training.data import TrainingData, load_training_data, loader
from raresound.training.loop import Stage, Trainer
from raresound.workers import cap_workers


def resolve_device(name: str) -> torch.device:
    name = auto_device(name)
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device", "cuda requested but no CUDA device is available")
    if name == "cuda" and dist.is_distributed():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def model_spec(cfg: RecipeConfig, n_classes: int, n_frames: int, n_mels: int, score: str = "sigmoid") -> ModelSpec:
    m = cfg.model
    if m.backbone == "lstm":
        kwargs = {"n_mels": n_mels, "hidden_size": m.hidden_size, "pooling": m.pooling, "normalize": m.normalize,
                  "time_pool": m.time_pool}
    else:
        kwargs = {"n_mels": n_mels, "n_frames": n_frames, "normalize": m.normalize, "dropout": m.dropout,
                  "channels_last": m.channels_last}
    return ModelSpec(backbone=m.backbone, backbone_kwargs=kwargs, n_classes=n_classes, score=score)


# The recipe field behind each model parameter; the others (n_mels, n_frames: the store's) are named model.<name>.
MODEL_FIELDS = {"mode": "proposed.layer_mode", "head_input": "proposed.head_input", "K": "model.clusters",
                "centroids": "model.clusters", "cluster_class": "model.clusters", "cluster_layer": "model.clusters",
                "head": "model.head"}


def build_recipe_model(spec: ModelSpec, with_head: bool = True):
    """`build_model` for a recipe: a bad model parameter is a ConfigError naming the recipe field."""
    try:
        return build_model(spec, with_head=with_head)
    except ParameterError as exc:
        raise ConfigError(MODEL_FIELDS.get(exc.parameter, f"model.{exc.parameter}"), exc.reason) from None


class RecipeContext:
    """What every recipe needs: config, data, device, run dir, trainer, bundle writing."""

    def __init__(self, cfg: RecipeConfig, store_dir: str | Path, run_dir: str | Path, device: str | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run = RunDir(self.run_dir)
        self.device = resolve_device(device or cfg.training.device)
        if cfg.training.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("training.amp", f"fp16 needs a CUDA device (training on {self.device.type}; use bf16)")
        self.data: TrainingData = load_training_data(store_dir, cfg.data.ratio, cfg.data.classes, cfg.seed,
                                                     require_val=not methods.get(cfg.method).reference)
        shape = self.data.train.features.shape
        self.n_frames, self.n_mels = int(shape[1]), int(shape[2])
        # Loader processes, at most the usable cores (one warning here, not one per loader).
        self.num_workers = cap_workers(cfg.training.num_workers, "training.num_workers")
        if dist.is_main():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # Written once, by the run that makes the models: a resume (checked by `check_run` to
            # differ at most in fields that do not change them) keeps the original.
            if not self.run.config_yaml.exists():
                write_text(self.run.config_yaml, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            write_json(self.run.run_json, {"store": str(Path(store_dir).resolve()),
                                           "fingerprint": fingerprint(cfg, store_dir),
                                           "classes": self.data.classes,
                                           "method": cfg.method, "seed": cfg.seed,
                                           "n_train": len(self.data.train),
                                           "train_counts": self.data.class_counts().tolist()})
            self.data.normalizer.save(self.run.normalizer)

    @property
    def classes(self) -> list[str]:
        return self.data.classes

    def train_loader(self, sampler=None, batch_sampler=None, shuffle: bool = True):
        t = self.cfg.training
        return loader(self.data.train, t.batch_size, shuffle, self.cfg.seed, self.num_workers, sampler=sampler,
                      batch_sampler=batch_sampler, pin_memory=self.device.type == "cuda")

    def val_loader(self):
        if self.data.val is None:
            return None
        t = self.cfg.training
        return loader(self.data.val, t.batch_size, False, self.cfg.seed, self.num_workers,
                      pin_memory=self.device.type == "cuda")

    def trainer(self, model) -> Trainer:
        t = self.cfg.training
        # Redrawing the curves takes ~1 s on a busy CPU: once per stage, not per epoch.
        return Trainer(model, self.run_dir, seed=self.cfg.seed, device=self.device, progress=t.progress,
                       max_train_batches=t.max_train_batches, amp=t.amp,
                       on_stage_end=lambda: write_learning_curves(self.run_dir))

    def stage(self, name: str, objective, parameters, max_epochs: int, patience=..., keep_best=True,
              train_loader=None, val_objective=None, before_epoch=None, with_val=True, lr=None,
              val_scores=None) -> Stage:
        t = self.cfg.training
        return Stage(name=name, objective=objective, parameters=parameters,
                     train_loader=train_loader or self.train_loader(),
                     val_loader=self.val_loader() if with_val else None, max_epochs=max_epochs,
                     patience=t.patience if patience is ... else patience, keep_best=keep_best,
                     lr=t.lr if lr is None else lr,
                     weight_decay=t.weight_decay, val_objective=val_objective, before_epoch=before_epoch,
                     val_scores=val_scores)

    def save_bundle(self, name: str, model, spec: ModelSpec, info: dict | None = None) -> Path:
        path = self.run.model(name)
        if dist.is_main():
            bundle = Bundle(model, spec, self.classes, self.data.store.feature_config, self.data.normalizer,
                            info={"method": self.cfg.method, "model": name, "seed": self.cfg.seed, **(info or {})})
            keep_calibration(bundle, path)  # a resumed run re-saves the same weights: thresholds stay
            bundle.save(path)
            sync_exports(path)
        dist.barrier()
        return path


def detection_objective(loss_fn) -> Callable:
    def objective(net, batch):
        x, y, _ = batch
        return loss_fn(net(x), y)
    return objective


def detection_val_scores(loss_fn, spec: ModelSpec) -> Callable:
    """A detector stage's validation step: loss and event scores (as the bundle will score) from one
    forward pass, so the trainer can log the validation EER without a second pass."""
    def val_scores(net, batch):
        x, y, _ = batch
        logits = net(x)
        return loss_fn(logits, y), scores_from_logits(logits, spec)
    return val_scores


def all_parameters(model) -> list:
    return list(model.parameters())


def train_detector(ctx: RecipeContext, name: str, loss_fn, score: str = "sigmoid", train_loader=None,
                   before_epoch=None) -> Path:
    """Baseline and the single-stage competitors: backbone + head, one loss, early stopping."""
    torch.manual_seed(ctx.cfg.seed)
    spec = model_spec(ctx.cfg, len(ctx.classes), ctx.n_frames, ctx.n_mels, score=score)
    model = build_recipe_model(spec)
    loss_fn = loss_fn.to(ctx.device)
    trainer = ctx.trainer(model)
    trainer.fit(ctx.stage(name, detection_objective(loss_fn), all_parameters, ctx.cfg.training.max_epochs,
                          train_loader=train_loader, before_epoch=before_epoch,
                          val_scores=detection_val_scores(loss_fn, spec)))
    return ctx.save_bundle(name, model, spec, info={"stages": {k: dataclasses.asdict(v) for k, v in trainer.results.items()}})


def train_baseline(ctx: RecipeContext) -> dict[str, Path]:
    counts = torch.as_tensor(ctx.data.class_counts())
    return {"baseline": train_detector(ctx, "baseline", ClassWeightedBCE(counts))}


def class_counts_with_background(ctx: RecipeContext) -> np.ndarray:
    targets = ctx.data.train_targets
    return np.concatenate([targets.sum(axis=0), [(targets.sum(axis=1) == 0).sum()]])


def train(cfg: RecipeConfig, store_dir: str | Path, run_dir: str | Path, device: str | None = None) -> dict[str, Path]:
    """Train `cfg.method` on a feature store into `run_dir`; returns {model name: bundle dir}."""
    if cfg.method not in methods.BY_NAME:
        raise ConfigError("method", f"no recipe for {cfg.method!r} (have {sorted(methods.METHODS)})")
    recipe = methods.get(cfg.method).recipe_fn()
    with run_lock(run_dir):
        check_run(run_dir, cfg, store_dir)  # a run of another config or store: refused, nothing written
        if dist.is_main():
            remove_stale_temps(run_dir)
        ctx = RecipeContext(cfg, store_dir, run_dir, device)
        bundles = recipe(ctx)
        if dist.is_main():
            write_learning_curves(ctx.run_dir)
            report_learning(ctx.run_dir, bundles)
    return bundles


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """One `train` per run directory. Under torchrun, rank 0 holds the lock for the whole job and
    every rank learns whether it got it (so none is left waiting at a collective)."""
    with contextlib.ExitStack() as stack:
        refused = None
        if dist.is_main():
            try:
                stack.enter_context(dir_lock(run_dir, "train"))
            except BusyError as exc:
                refused = exc
        if dist.all_reduce_sum(torch.tensor([int(refused is not None)])).item():
            raise refused or BusyError(f"{run_dir}: rank 0 could not lock the run directory")
        yield
