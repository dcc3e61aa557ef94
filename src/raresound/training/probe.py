"""Reference probe (`method: probe`): pooled log-mel statistics + class-weighted logistic regression.

Nothing is trained by gradient descent. Every clip's normalised log-mel frames are pooled by the
parameter-free `StatsPooling` (max - median, mean, std, 99th percentile per band), the pooled vectors
are standardised on the training split, and one `LogisticRegression(class_weight="balanced")` per
event class is fitted (one-vs-rest: positive = the clip carries that label). C is chosen on the
validation split by mean EER, never on test; without a val split scikit-learn's default C = 1 is used.
The standardisation and the LR weights are folded into the detector's linear head, so the bundle is
plain tensors and evaluate / detect / calibrate / export treat it like any other model.

The probe ignores `model.*` (its front end is fixed) and every `training.*` field except batch_size
(embedding batches) and device. Its choice of C is recorded in `RUN/probe.json` and the bundle info.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from raresound.models.factory import ModelSpec, build_model
from raresound.errors import DataError
from raresound.evaluation.eer import eer
from raresound.io import write_json
from raresound.training import distributed as dist
from raresound.training.data import embed_dataset
from raresound.training.recipes import RecipeContext

# C (inverse L2 strength) is picked from this grid on val. Constants, not recipe fields: a new recipe
# section would change every run's config.yaml and make `reproduce` refuse to resume older cells.
C_GRID = (0.01, 0.1, 1.0)
DEFAULT_C = 1.0  # scikit-learn's default, used only when there is no validation split
MAX_ITER = 1000  # lbfgs iterations per class; standardised inputs converge in far fewer


def standardiser(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training embeddings; a constant feature keeps std 1 so that
    folding never divides by zero."""
    mean, std = z.mean(axis=0), z.std(axis=0)
    return mean, np.where(std > 1e-8, std, 1.0)


def fit_linear(z: np.ndarray, targets: np.ndarray, c: float, classes) -> tuple[np.ndarray, np.ndarray]:
    """One balanced logistic regression per label column on standardised `z`: (W [L, D], b [L])."""
    from sklearn.linear_model import LogisticRegression

    weights, biases = [], []
    for l, name in enumerate(classes):
        y = targets[:, l] > 0.5
        if y.all():
            raise DataError(f"class '{name}': every training clip is positive, nothing to separate it from")
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=MAX_ITER).fit(z, y)
        weights.append(lr.coef_[0])
        biases.append(lr.intercept_[0])
    return np.stack(weights), np.asarray(biases)


def val_eers(scores: np.ndarray, targets: np.ndarray, classes) -> dict[str, float]:
    """EER per class on the validation split, for the classes it can be measured on (val needs at
    least one positive and one negative clip of the class)."""
    out = {}
    for l, name in enumerate(classes):
        y = targets[:, l] > 0.5
        if 0 < y.sum() < y.size:
            out[name] = eer(scores[:, l], y.astype(np.int64), name)
    return out


def fold_into_head(head, weights: np.ndarray, biases: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
    """logit = W (s - mean) / std + b  ==  (W / std) s + (b - W mean / std), written into the head."""
    w = weights / std
    b = biases - w @ mean
    with torch.no_grad():
        head.linear.weight.copy_(torch.as_tensor(w, dtype=head.linear.weight.dtype))
        head.linear.bias.copy_(torch.as_tensor(b, dtype=head.linear.bias.dtype))


def select_c(z_train, y_train, z_val, y_val, classes) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """(C, W, b, val EERs per C): the grid value with the lowest mean validation EER (ties keep the
    smaller C); DEFAULT_C when there is no val split or no class can be measured on it."""
    val_eer, best = {}, None
    for c in C_GRID if z_val is not None else ():
        weights, biases = fit_linear(z_train, y_train, c, classes)
        per_class = val_eers(z_val @ weights.T + biases, y_val, classes)
        if not per_class:
            break
        overall = float(np.mean(list(per_class.values())))
        val_eer[str(c)] = {**per_class, "overall": overall}
        if best is None or overall < best[0]:
            best = (overall, c, weights, biases)
    if best is None:
        return (DEFAULT_C, *fit_linear(z_train, y_train, DEFAULT_C, classes), {})
    return best[1], best[2], best[3], val_eer


def pooled(ctx: RecipeContext, model, dataset) -> np.ndarray:
    return embed_dataset(model, dataset, ctx.cfg.training.batch_size, ctx.device)[0].double().numpy()


def train_probe(ctx: RecipeContext) -> dict[str, Path]:
    started = time.perf_counter()
    spec = ModelSpec(backbone="stats", backbone_kwargs={"n_mels": ctx.n_mels}, n_classes=len(ctx.classes))
    model = build_model(spec)
    train_stats = pooled(ctx, model, ctx.data.train)
    mean, std = standardiser(train_stats)
    val = ctx.data.val
    z_val = (pooled(ctx, model, val) - mean) / std if val is not None else None
    c, weights, biases, val_eer = select_c((train_stats - mean) / std, ctx.data.train_targets, z_val,
                                           val.targets if val is not None else None, ctx.classes)
    fold_into_head(model.head, weights, biases, mean, std)
    record = {"C": c, "c_grid": list(C_GRID), "selected_on": "val" if val_eer else "default (no measurable val split)",
              "val_eer": val_eer, "n_features": int(train_stats.shape[1]),
              "seconds": round(time.perf_counter() - started, 3)}
    if dist.is_main():
        write_json(ctx.run.probe_json, record)
    return {"probe": ctx.save_bundle("probe", model, spec, info={"probe": record})}
