"""Sound event detection trained end to end on strong labels (`raresound train-sed`).

A frozen clip backbone plus a linear per-step head (`train-frames`) learns where a clip model's
features happen to respond; here the whole network learns the frame targets. The default model is
the CRNN of DCASE 2017 Task 2's winners (`models.crnn`); the paper's backbones (`lstm`, `cnn`) train
the same way (their per-step outputs, `sequence`, get a frame head). Starting from a THCE-trained
bundle is `train-frames BUNDLE --finetune-epochs N`.

Training, per batch:
* a random crop of `crop_seconds` of every clip (30-s DCASE mixtures: a 10-s crop costs a third of
  a whole clip and, for clips with an event, is drawn to contain one of its positive steps, so each
  epoch still sees every event);
* with `augment.remix` on, `remix_clips` fresh crops remixed from the isolated train sources
  (`training.remix_feed`; the sources manifest is train_sed's `remix_sources`) join each batch;
* the optional augmentation chain (`data.augment`, off unless the config enables it);
* loss = BCE over steps and classes (the frame targets: a step is positive when its centre lies in
  [onset, offset)) + `clip_weight` x BCE of the clip logits (max-pooled steps) against "the crop
  holds an event". `pos_balance` weighs positive steps by (negative / positive steps)^pos_balance
  per class: full balance (1, `losses.BalancedFrameBCE`'s weight) buys frame recall with false
  alarms, every one an insertion; 0.5 (the configs) is enough for brief cues to be learned at all
  (`positive_weights`), and the threshold tuned on validation events sets the operating point.

Early stopping on the validation loss (whole clips), keep the best epoch; then the post-processing
(threshold, median, min_gap, min_duration per class) is tuned on the validation events
(`detection.tuning`) and stored in the bundle, where `detect` reads it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from raresound.config_schema import build
from raresound.errors import ConfigError, DataError
from raresound.io import dir_lock, json_safe
from raresound.models.factory import ModelSpec, build_model
from raresound.training.data import SplitDataset, load_training_data, loader
from raresound.training.frames import frame_scores, frame_targets
from raresound.training.fingerprint import flatten
from raresound.training.loop import Stage, Trainer
from raresound.training.settings import check_settings, record_settings, store_settings


LR_SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, epochs: int) -> Callable[[int], float] | None:
    """The epoch -> learning-rate multiple of a schedule name (None: constant)."""
    if schedule == "constant":
        return None
    return lambda epoch: max(0.05, 0.5 * (1.0 + math.cos(math.pi * epoch / epochs)))


@dataclass
class SEDModelConfig:
    backbone: str = "crnn"
    kwargs: dict = field(default_factory=dict)  # the backbone's constructor parameters


@dataclass
class SEDConfig:
    model: SEDModelConfig = field(default_factory=SEDModelConfig)
    epochs: int = 30
    patience: int = 5
    lr: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": lr x (1 + cos(pi epoch / epochs)) / 2, floored at 5 %
    grad_clip: Optional[float] = None  # max gradient norm (None: no clipping)
    batch_size: int = 32
    crop_seconds: Optional[float] = 10.0  # None: whole clips
    clip_weight: float = 0.5
    # Positive steps weigh (negative / positive steps)^pos_balance per class: 0 is plain BCE; 1 balances
    # each class against its own background (losses.BalancedFrameBCE's weight).
    pos_balance: float = 0.0
    seed: int = 0
    augment: Optional[dict] = None  # data.augment config; None: no augmentation (the faithful default)
    remix_clips: int = 16  # with augment.remix: remixed crops added to each training batch
    tune: bool = True  # tune the post-processing on validation events

    def check(self) -> "SEDConfig":
        for name, low in (("epochs", 1), ("patience", 1), ("batch_size", 1), ("remix_clips", 1)):
            if getattr(self, name) < low:
                raise ConfigError(name, f"must be >= {low}, got {getattr(self, name)}")
        if not 0 < self.lr < 10:
            raise ConfigError("lr", f"must be in (0, 10), got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError("lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.grad_clip is not None and not 0 < self.grad_clip < 1e6:
            raise ConfigError("grad_clip", f"must be a positive number or null, got {self.grad_clip}")
        if self.crop_seconds is not None and not 0 < self.crop_seconds <= 3600:
            raise ConfigError("crop_seconds", f"must be in (0, 3600] seconds, got {self.crop_seconds}")
        if not 0 <= self.clip_weight <= 100:
            raise ConfigError("clip_weight", f"must be in [0, 100], got {self.clip_weight}")
        if not 0 <= self.pos_balance <= 1:
            raise ConfigError("pos_balance", f"must be in [0, 1], got {self.pos_balance}")
        return self


def sed_config(data: dict | None = None) -> SEDConfig:
    """A validated SEDConfig from a YAML mapping (unknown keys / bad values name the field)."""
    return build(SEDConfig, data or {}).check()


def parse_sed_override(text: str) -> tuple[str, object]:
    """'epochs=5' -> ('epochs', 5): the value is read as YAML (numbers, booleans, lists); the
    config's validation then checks it against the field."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(key.strip(), f"cannot read the value {raw!r}") from None


def _crop_starts(targets: torch.Tensor, crop_steps: int) -> torch.Tensor:
    """Per clip [B] the first step of its crop: clips with positive steps are cropped around a random
    one of them, others anywhere. Uses torch's global RNG, which the Trainer seeds per epoch."""
    B, S, _ = targets.shape
    hi = S - crop_steps
    starts = torch.randint(0, hi + 1, (B,))
    positive = targets.amax(dim=2) > 0  # [B, S]
    for b in torch.nonzero(positive.any(dim=1)).flatten().tolist():
        steps = torch.nonzero(positive[b]).flatten()
        p = int(steps[torch.randint(0, steps.numel(), (1,))])
        lo = max(0, p - crop_steps + 1)
        starts[b] = int(torch.randint(lo, min(p, hi) + 1, (1,)))
    return starts


def _objective(targets: torch.Tensor, step: int, crop_steps: int | None, clip_weight: float,
               augment: Callable | None = None, pos_weight: torch.Tensor | None = None,
               remix: Callable | None = None, remix_clips: int = 0) -> Callable:
    def objective(net, batch):
        x, _, idx = batch
        y = targets[idx].to(x.device, torch.float32)  # [B, S, L]
        if crop_steps is not None and crop_steps < y.shape[1]:
            starts = _crop_starts(y, crop_steps)
            x = torch.stack([x[b, s * step:(s + crop_steps) * step] for b, s in enumerate(starts.tolist())])
            y = torch.stack([y[b, s:s + crop_steps] for b, s in enumerate(starts.tolist())])
        if augment is not None or remix is not None:  # seeded from torch's RNG, which the Trainer seeds per epoch
            g = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,))))
        if remix is not None:
            xr, yr = remix(remix_clips, g)
            n = min(x.shape[1], xr.shape[1])
            x = torch.cat([x[:, :n], xr[:, :n].to(x.device)])
            y = torch.cat([y, yr.to(y.device)])
        if augment is not None:
            x, y = augment(x, y, g)
        frame_logits, clip_logits = net(x, output="frames+logits")
        n = min(frame_logits.shape[1], y.shape[1])
        loss = F.binary_cross_entropy_with_logits(frame_logits[:, :n], y[:, :n], pos_weight=pos_weight)
        if clip_weight:
            loss = loss + clip_weight * F.binary_cross_entropy_with_logits(clip_logits, y.amax(dim=1))
        return loss
    return objective


def positive_weights(targets: np.ndarray, balance: float) -> torch.Tensor | None:
    """Per class the weight of a positive step, (negative steps / positive steps)^balance over
    `targets` [N, S, L] (None for balance 0: plain BCE). Why: with positives at ~1 % of the steps,
    plain BCE lets a class whose cue is brief (a gunshot's 10-ms blast under a long tail) sit at
    its prior from the first epoch on (the demo's gunshot output stayed constant, frame AUC 0.50
    on its own training clips); at balance 0.5 (weight ~10) it is learned (val AUC 0.996), and the
    threshold tuned on validation events still sets the operating point."""
    if not balance:
        return None
    pos = targets.sum(axis=(0, 1), dtype=np.float64)
    neg = targets.shape[0] * targets.shape[1] - pos
    return torch.from_numpy((neg / np.maximum(pos, 1.0)) ** balance).float()


def clip_references(records, classes) -> list[list[tuple[float, float, str]]]:
    """Per clip its reference events (onset, offset, label) from the manifest's strong labels."""
    known = set(classes)
    return [[(float(r.onset), float(r.offset), label) for label in r.labels if label in known]
            if r.onset is not None and r.offset is not None else [] for r in records]


def _records(store, split: str, dataset: SplitDataset) -> list:
    records = store.split(split).records
    return [records[int(i)] for i in dataset.indices]


def train_sed(store_dir: str | Path, out_dir: str | Path, config: SEDConfig | dict | None = None, *,
              remix_sources: str | Path | None = None, remix_span: str = "active",
              progress: bool = True, log=print) -> Path:
    """Train a frame-level detector on the store's strong labels into `out_dir` (checkpoints in
    `out_dir/training`, so an interrupted run resumes) and save the bundle at `out_dir/model`.
    remix_sources: the isolated events and backgrounds `augment.remix` draws on (a manifest; its
    train split), trimmed to their `remix_span` ("active" or "single", as the protocol's event_span).
    Returns the bundle directory. A re-run into `out_dir` with another store or config is refused
    (`training.settings`): resuming would keep the first run's weights."""
    cfg = config if isinstance(config, SEDConfig) else sed_config(config)
    cfg.check()
    data = load_training_data(store_dir, seed=cfg.seed)
    if data.val is None:
        raise DataError(f"{store_dir}: no 'val' split (early stopping and post-processing tuning need one)")
    classes, fc = data.classes, data.store.feature_config
    spec = ModelSpec(backbone=cfg.model.backbone, backbone_kwargs={"n_mels": fc.n_mels, **cfg.model.kwargs},
                     n_classes=len(classes), frame_head_input="e")
    try:
        model = build_model(spec)
    except (ValueError, TypeError) as exc:
        raise ConfigError("model.kwargs", " ".join(str(exc).split())) from None
    step = model.step_frames
    step_seconds = step * fc.hop_length / fc.sample_rate
    n_frames = int(data.train.features.shape[1])
    n_steps = n_frames // step
    train_records = _records(data.store, "train", data.train)
    val_records = _records(data.store, "val", data.val)
    y_train, weak = frame_targets(train_records, classes, n_steps, step_seconds)
    y_val, _ = frame_targets(val_records, classes, n_steps, step_seconds)
    if weak:
        log(f"note: {weak} training clip(s) have labels but no onset/offset: all their steps count as positive")
    crop_steps = None
    if cfg.crop_seconds is not None:
        crop_steps = max(1, int(round(cfg.crop_seconds / step_seconds)))
        crop_steps = min(crop_steps, n_steps)
    augment = None
    if cfg.augment:
        from raresound.data.augment import build_augmentation

        augment = build_augmentation(cfg.augment, data.normalizer, fc)
    remix = None
    if cfg.augment:
        from raresound.training.remix_feed import remix_feed

        remix = remix_feed(cfg.augment, remix_sources, classes, fc, data.normalizer,
                           (crop_steps or n_steps) * step, step, step_seconds, remix_span, cfg.seed, log)
    pos = y_train.sum(axis=(0, 1))
    log(f"{cfg.model.backbone} on {len(data.train)} clips x {n_steps} steps of {step_seconds * 1000:.0f} ms"
        + (f" (crops of {crop_steps} steps)" if crop_steps and crop_steps < n_steps else "")
        + "; positive steps per class: " + ", ".join(f"{c} {int(p)}" for c, p in zip(classes, pos)))
    if (pos == 0).any():
        raise DataError(f"{store_dir}: no positive training step of {[c for c, p in zip(classes, pos) if p == 0]}")
    pos_weight = positive_weights(y_train, cfg.pos_balance)
    if pos_weight is not None:
        log("positive steps weigh " + ", ".join(f"{c} {w:.1f}" for c, w in zip(classes, pos_weight.tolist())))
    out_dir = Path(out_dir)
    with dir_lock(out_dir, "train-sed"):  # one writer; its settings checked and recorded under the lock
        settings = {**store_settings(store_dir), **flatten(json_safe(dataclasses.asdict(cfg)))}
        if remix is not None:
            settings.update({"remix_sources": str(Path(remix_sources).resolve()), "remix_span": remix_span})
        check_settings(out_dir, settings, markers=("model", "training"))
        record_settings(out_dir, settings)
        stage = Stage(name="sed", parameters=lambda m: list(m.parameters()),
                      objective=_objective(torch.from_numpy(y_train), step, crop_steps, cfg.clip_weight, augment,
                                           pos_weight, remix, cfg.remix_clips),
                      val_objective=_objective(torch.from_numpy(y_val), step, None, cfg.clip_weight,
                                               pos_weight=pos_weight),
                      train_loader=loader(data.train, cfg.batch_size, True, cfg.seed),
                      val_loader=loader(data.val, cfg.batch_size, False, cfg.seed),
                      max_epochs=cfg.epochs, patience=cfg.patience, lr=cfg.lr,
                      lr_factor=lr_factor(cfg.lr_schedule, cfg.epochs), grad_clip=cfg.grad_clip)
        return _fit_and_save(model, spec, data, cfg, stage, store_dir, out_dir, step_seconds, progress, log)


def _fit_and_save(model, spec, data, cfg: SEDConfig, stage: Stage, store_dir, out_dir: Path, step_seconds: float,
                  progress: bool, log) -> Path:
    """Train `model` end to end (`stage`), tune the post-processing on validation events, save the bundle."""
    from raresound.bundle import Bundle
    from raresound.detection.tuning import postprocessing_info, tune_postprocessing

    classes, fc = data.classes, data.store.feature_config
    n_frames = int(data.train.features.shape[1])
    trainer = Trainer(model, out_dir / "training", seed=cfg.seed, progress=progress)
    trainer.fit(stage)
    info = {"frames": {"trained": "end to end (train-sed)", "step_seconds": step_seconds,
                       "config": dataclasses.asdict(cfg), "stage": dataclasses.asdict(trainer.results["sed"]),
                       "store": str(Path(store_dir).resolve())}}
    thresholds = {c: 0.5 for c in classes}
    if cfg.tune:
        scores = frame_scores(model, data.val, cfg.batch_size)
        refs = clip_references(_records(data.store, "val", data.val), classes)
        durations = [n_frames * fc.hop_length / fc.sample_rate] * len(refs)
        tuned = tune_postprocessing(list(scores), refs, durations, classes, step_seconds)
        thresholds = {c: p.threshold for c, p in tuned.items()}
        info["frames"]["postprocessing"] = postprocessing_info(tuned, step_seconds)
        off = [c for c, p in tuned.items() if p.threshold > 1.0]
        if off:
            log(f"warning: no validation event of {', '.join(off)} is found at any threshold: switched off "
                "(threshold above 1; --threshold CLASS=T in detect overrides it); the model did not learn it")
        log("post-processing tuned on validation events (onset, 0.5-s collar): " + "; ".join(
            f"{c} threshold {p.threshold:.2f}, median {p.median} steps, min_gap {p.min_gap:g} s, "
            f"min_duration {p.min_duration:g} s (val event F1 {100 * p.val_f1:.1f} %)" for c, p in tuned.items()))
    info["frame_thresholds"] = thresholds
    bundle = Bundle(model.eval(), spec, classes, fc, data.normalizer, {}, info)
    return bundle.save(out_dir / "model")


def detect_split(bundle, split, batch_size: int = 16, keep_scores: bool = False):
    """A bundle's events (and optionally frame scores) on every clip of a store split, decoded as
    `raresound detect` decodes (`FrameDetector`'s stored post-processing). Returns (reference
    events, estimated events, {filename: (timestamps, scores)} or None, {filename: duration})."""
    from raresound.detection.frame_detector import FrameDetector
    from raresound.evaluation.events import Event

    detector = FrameDetector(bundle)
    dataset = SplitDataset(split, bundle.normalizer)
    scores = frame_scores(bundle.model, dataset, batch_size)
    fc = bundle.feature_config
    n_frames = int(split.features.shape[1])
    reference, estimated, kept, durations = [], [], {} if keep_scores else None, {}
    for rec, s in zip(split.records, scores):
        name = Path(rec.path).name
        duration = float(rec.duration) if rec.duration else n_frames * fc.hop_length / fc.sample_rate
        durations[name] = duration
        decoder = detector.decoder()
        events = decoder.push(s) + decoder.finish(duration)
        estimated += [Event(name, e.onset, e.offset, e.event_label) for e in events]
        reference += [Event(name, on, off, label) for on, off, label in clip_references([rec], bundle.classes)[0]]
        if keep_scores:
            steps = np.arange(s.shape[0] + 1) * detector.step_seconds
            steps[-1] = min(steps[-1], duration)
            kept[name] = (steps, s)
    return reference, estimated, kept, durations
