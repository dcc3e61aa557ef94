"""A frame-level head on a trained detector: strong labels, frozen backbone (`raresound train-frames`).

Why this design: synthetic and mixed clips carry their event's onset/offset in the manifest, so each
backbone step (10-50 ms) has a true label; a linear head per step over the step's embedding
(`Detector.frame_logits`) learns from them directly, where a head trained from clip labels through
a pooling function (max, attention) must guess the extent. The backbone (and cluster layer) stay
frozen, in eval mode: the bundle's clip-level scores, EERs and thresholds are unchanged, and one
backbone pass gives both outputs. Measured on the demo data (docs/frames.md): the LSTM trained with
max pooling already places events to a few tens of ms at the onset.

A step is positive for a class when its centre lies inside the clip's [onset, offset) of that class;
a labelled clip without onset/offset counts as positive throughout (weak label), and is reported.
Loss: `losses.BalancedFrameBCE`. Early stopping on the validation loss; then each class's frame
threshold is the one with the best frame-level F1 on the validation steps (`info.frame_thresholds`;
why not the equal-error point: `best_f1_threshold`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from raresound.bundle import load_bundle, saved_digest
from raresound.data.checks import warn
from raresound.errors import ConfigError, DataError
from raresound.io import check_not_input, dir_lock
from raresound.runs import run_of
from raresound.evaluation.eer import eer
from raresound.losses.frame_bce import BalancedFrameBCE
from raresound.store import FeatureStore
from raresound.training.data import SplitDataset, loader
from raresound.training.fingerprint import check_store_provenance
from raresound.training.loop import Stage, Trainer
from raresound.training.settings import check_settings, record_settings, store_settings

# Post-processing stored with the frame thresholds as the bundle's defaults for `detect` (measured on
# the demo data, docs/frames.md): a 0.2-s median filter removes one-step blips, merging across
# gaps <= 0.3 s joins the pieces of one event the filter leaves.
DEFAULT_MEDIAN_SECONDS = 0.2
DEFAULT_MIN_GAP = 0.3


def frame_targets(records: Sequence, classes: Sequence[str], n_steps: int, step_seconds: float) -> tuple[np.ndarray, int]:
    """Per-step multi-hot targets [N, S, L] (uint8) and the number of weakly labelled clips."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(records), n_steps, len(classes)), np.uint8)
    centres = (np.arange(n_steps) + 0.5) * step_seconds
    weak = 0
    for r, rec in enumerate(records):
        for label in rec.labels:
            if label not in index:
                continue
            if rec.onset is None or rec.offset is None:
                out[r, :, index[label]] = 1
                weak += 1
            else:
                out[r, (centres >= rec.onset) & (centres < rec.offset), index[label]] = 1
    return out, weak


def best_f1_threshold(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) of the threshold maximising frame-level F1. Not the equal-error point: there
    the false-positive rate of the (many) negative steps equals the miss rate of the (few) positive
    ones, i.e. 10-30 % of background steps fire, which on long audio is an event every few seconds."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(targets, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    k = int(np.argmax(f1))
    return float(thresholds[k]), float(f1[k])


def _objective(loss_fn, targets: torch.Tensor) -> Callable:
    def objective(net, batch):
        x, _, idx = batch
        return loss_fn(net(x, output="frames"), targets[idx].to(x.device))
    return objective


def _joint_objective(frame_loss, clip_loss, targets: torch.Tensor) -> Callable:
    """Fine-tuning: frame loss + the clip loss, so the clip head stays a detector of the new backbone."""
    def objective(net, batch):
        x, y, idx = batch
        frame_logits, clip_logits = net(x, output="frames+logits")
        return frame_loss(frame_logits, targets[idx].to(x.device)) + clip_loss(clip_logits, y)
    return objective


@torch.no_grad()
def frame_scores(model, dataset: SplitDataset, batch_size: int = 16) -> np.ndarray:
    """Sigmoid frame scores [N, S, L] of every clip of a split (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(dataset), batch_size):
        x = dataset.rows(range(start, min(start + batch_size, len(dataset))))
        out.append(torch.sigmoid(model.frame_logits(x.to(device))).float().cpu().numpy())
    return np.concatenate(out)


def train_frame_head(bundle_dir: str | Path, store_dir: str | Path, out_dir: str | Path | None = None, *,
                     head_input: str = "e", epochs: int = 10, lr: float = 1e-2, batch_size: int = 64,
                     patience: int = 3, seed: int = 0, finetune_epochs: int = 0, finetune_lr: float = 1e-3,
                     device: str = "cpu", progress: bool = True, log=print) -> Path:
    """Train a frame head on top of the bundle at `bundle_dir` and save the result as a new bundle at
    `out_dir` (default: `<bundle_dir>-frames`); its training checkpoints live in `<out_dir>/training`,
    so an interrupted run resumes. Returns the new bundle's directory. The run holds `out_dir`'s
    lock and records its settings in `<out_dir>/training/settings.json`: a run into the same
    `out_dir` with another bundle, store or option is refused (`training.settings`), since
    resuming would keep the first run's weights under the second one's settings.

    `finetune_epochs` > 0 adds a second stage that trains everything (backbone, heads) on the frame
    loss plus the clip-level class-weighted BCE at `finetune_lr`: sharper frame scores, but the clip
    model is then a new one (its EER must be measured again; calibrated clip thresholds are dropped).

    `device` is where it trains (`bundle.check_device`); not a setting: a run may resume elsewhere."""
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("patience", patience, 1),
                             ("finetune_epochs", finetune_epochs, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(name, f"must be an integer >= {low}, got {value!r}")
    if not (isinstance(lr, (int, float)) and 0 < lr < 10):
        raise ConfigError("lr", f"must be a number in (0, 10), got {lr!r}")
    bundle = load_bundle(bundle_dir, device=device)
    out_dir = Path(out_dir) if out_dir is not None else Path(str(Path(bundle_dir).resolve()) + "-frames")
    check_not_input(out_dir, [bundle_dir, store_dir], "out_dir")
    try:
        bundle.model.attach_frame_head(len(bundle.classes), head_input)
    except ValueError as exc:  # models' ParameterError: no per-step outputs, 'v' without clusters, ...
        raise DataError(f"{bundle_dir}: {' '.join(str(exc).split())}") from None
    notes: list[str] = []  # printed once every check has passed: an error stays the only line
    store = _checked_store(bundle, bundle_dir, store_dir, notes.append)
    # One writer per output bundle; its settings are checked and recorded under the lock, so a second
    # run cannot resume (keep) the first one's weights under its own settings.
    with dir_lock(out_dir, "train-frames"):
        settings = frame_settings(bundle_dir, store_dir, head_input=head_input, epochs=epochs, lr=lr,
                                  batch_size=batch_size, patience=patience, seed=seed,
                                  finetune_epochs=finetune_epochs, finetune_lr=finetune_lr)
        check_settings(out_dir, settings)
        warn(notes)
        record_settings(out_dir, settings)
        return _fit_and_save(bundle, store, out_dir, settings, progress, log)


def frame_settings(bundle_dir: str | Path, store_dir: str | Path, **options) -> dict:
    """What a train-frames output depends on: the source bundle (its weights' digest), the store (its
    build job, `fingerprint.store_identity`) and every training option."""
    return {"bundle": str(Path(bundle_dir).resolve()), "bundle_weights": saved_digest(bundle_dir),
            **store_settings(store_dir), **options}


def _checked_store(bundle, bundle_dir: str | Path, store_dir: str | Path, note) -> FeatureStore:
    """The store, after checking it can train this bundle's frame head: its classes and features
    are the bundle's, it has a val split, and if it is the store the bundle's run was trained on it
    has not been rebuilt since."""
    from raresound.scoring import check_features

    store = FeatureStore(store_dir)
    if list(store.classes) != list(bundle.classes):
        raise DataError(f"{store_dir}: store classes {store.classes} differ from the bundle's {bundle.classes}")
    check_features(bundle, store, bundle_dir)
    if "val" not in store.splits:
        raise DataError(f"{store_dir}: no 'val' split (frame thresholds and early stopping need one)")
    run_dir = run_of(bundle_dir)
    if run_dir is not None:
        check_store_provenance(run_dir, store_dir, warn=note)
    return store


def _fit_and_save(bundle, store: FeatureStore, out_dir: Path, settings: dict, progress: bool, log) -> Path:
    """Train the frame head (and the fine-tuning stage) on `store` and save the bundle at `out_dir`."""
    head_input, epochs, lr, batch_size, patience, seed, finetune_epochs, finetune_lr = (
        settings[k] for k in ("head_input", "epochs", "lr", "batch_size", "patience", "seed", "finetune_epochs",
                              "finetune_lr"))
    store_dir = store.out_dir
    model = bundle.model
    train_split, val_split = store.split("train"), store.split("val")
    train = SplitDataset(train_split, bundle.normalizer)
    val = SplitDataset(val_split, bundle.normalizer)
    n_frames = int(train.features.shape[1])
    step_seconds = bundle.feature_config.seconds(model.step_frames)
    n_steps = -(-n_frames // model.step_frames)
    y_train, weak = frame_targets(train_split.records, bundle.classes, n_steps, step_seconds)
    y_val, _ = frame_targets(val_split.records, bundle.classes, n_steps, step_seconds)
    if weak:
        log(f"note: {weak} training clip(s) have labels but no onset/offset: all their steps count as positive")
    pos = y_train.sum(axis=(0, 1)).astype(np.float64)
    device = next(model.parameters()).device  # the bundle's (load_bundle's device)
    loss_fn = BalancedFrameBCE(pos, y_train.shape[0] * y_train.shape[1] - pos).to(device)
    # on the device: the objectives index them with the batch's (moved) clip positions
    t_train, t_val = torch.from_numpy(y_train).to(device), torch.from_numpy(y_val).to(device)
    log(f"frame head ({head_input}) on {len(train)} clips x {n_steps} steps of {step_seconds * 1000:.0f} ms; "
        f"positive steps per class: " + ", ".join(f"{c} {int(p)}" for c, p in zip(bundle.classes, pos)))
    trainer = Trainer(model, out_dir / "training", seed=seed, device=device, progress=progress)
    trainer.fit(Stage(name="frames", objective=_objective(loss_fn, t_train),
                      val_objective=_objective(loss_fn, t_val),
                      parameters=lambda m: list(m.frame_head.parameters()),
                      train_loader=loader(train, batch_size, True, seed), val_loader=loader(val, batch_size, False, seed),
                      max_epochs=epochs, patience=patience, lr=lr))
    if finetune_epochs:
        if bundle.spec.score != "sigmoid" or not model.has_head:
            raise ConfigError("finetune_epochs", "fine-tuning keeps the clip head with class-weighted BCE: it needs "
                                                 "a sigmoid-scored bundle with a detection head")
        from raresound.losses.weighted_bce import ClassWeightedBCE

        clip_loss = ClassWeightedBCE(torch.as_tensor(np.asarray(train.targets).sum(axis=0))).to(device)
        trainer.fit(Stage(name="frames-finetune", objective=_joint_objective(loss_fn, clip_loss, t_train),
                          val_objective=_joint_objective(loss_fn, clip_loss, t_val),
                          parameters=lambda m: list(m.parameters()),
                          train_loader=loader(train, batch_size, True, seed),
                          val_loader=loader(val, batch_size, False, seed),
                          max_epochs=finetune_epochs, patience=patience, lr=finetune_lr))
        bundle.thresholds = {}  # calibrated for the old clip model
    scores = frame_scores(model, val, batch_size)
    thresholds, val_eers, val_f1 = {}, {}, {}
    for c, name in enumerate(bundle.classes):
        s, t = scores[..., c].ravel(), y_val[..., c].ravel()
        if t.min() == t.max():
            raise DataError(f"{store_dir}: val split has no {'positive' if t.max() == 0 else 'negative'} steps of {name!r}")
        thresholds[name], val_f1[name] = best_f1_threshold(s, t)
        val_eers[name] = float(eer(s, t, name))
    log("frame-level val EER: " + ", ".join(f"{c} {100 * v:.1f}%" for c, v in val_eers.items())
        + "; thresholds (best val frame F1): " + ", ".join(f"{c} {thresholds[c]:.3f} (F1 {100 * val_f1[c]:.1f}%)"
                                                          for c in bundle.classes))
    bundle.spec = dataclasses.replace(bundle.spec, frame_head_input=head_input)
    # the source bundle's exports are files of its weights, not of this bundle's
    info = {k: v for k, v in bundle.info.items() if k != "exports"}
    bundle.info = {**info, "frame_thresholds": thresholds,
                   "frames": {"head_input": head_input, "step_seconds": step_seconds, "val_frame_eer": val_eers,
                              "val_frame_f1": val_f1, "median": DEFAULT_MEDIAN_SECONDS, "min_gap": DEFAULT_MIN_GAP,
                              "finetuned_epochs": trainer.results["frames-finetune"].epochs if finetune_epochs else 0,
                              "store": str(Path(store_dir).resolve()), "from_bundle": settings["bundle"],
                              "settings": settings,
                              "stage": dataclasses.asdict(trainer.results["frames"])}}
    bundle.save(out_dir)
    return out_dir
