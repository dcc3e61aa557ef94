"""Competing imbalance methods on the same harness: each is the baseline's single detector stage
with a different loss (and, for resampling, a different sampler). Softmax methods have L+1 outputs
(background last) and score event l by its softmax probability (see bundle.scores_from_logits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from raresound.data.samplers import BackgroundUndersampler, ClassBalancedSampler
from raresound.losses.class_balanced import ClassBalancedLoss
from raresound.losses.focal import FocalLoss
from raresound.losses.ldam import LDAMLoss, drw_weights
from raresound.losses.logit_adjust import LogitAdjustedLoss
from raresound.losses.softmax_targets import to_single_label
from raresound.losses.weighted_bce import ClassWeightedBCE
from raresound.training import distributed as dist
from raresound.training.recipes import RecipeContext, class_counts_with_background, train_detector


def train_focal(ctx: RecipeContext) -> dict[str, Path]:
    loss = ctx.cfg.loss
    return {"focal": train_detector(ctx, "focal", FocalLoss(gamma=loss.gamma, alpha=loss.focal_alpha))}


def train_class_balanced(ctx: RecipeContext) -> dict[str, Path]:
    loss = ctx.cfg.loss
    fn = ClassBalancedLoss(class_counts_with_background(ctx), beta=loss.cb_beta, base=loss.cb_base, gamma=loss.gamma)
    return {"cb": train_detector(ctx, "cb", fn, score=fn.outputs)}


def train_ldam_drw(ctx: RecipeContext) -> dict[str, Path]:
    loss = ctx.cfg.loss
    counts = class_counts_with_background(ctx)
    fn = LDAMLoss(counts, max_margin=loss.ldam_max_margin, scale=loss.ldam_scale)

    def before_epoch(epoch: int) -> None:  # deferred re-weighting (Cao et al. 2019)
        fn.weight = drw_weights(counts, epoch, loss.drw_start_epoch, loss.drw_beta).to(fn.margins.device)

    return {"ldam-drw": train_detector(ctx, "ldam-drw", fn, score="softmax", before_epoch=before_epoch)}


def train_logit_adjusted(ctx: RecipeContext) -> dict[str, Path]:
    fn = LogitAdjustedLoss(class_counts_with_background(ctx), tau=ctx.cfg.loss.tau)
    return {"logit-adjust": train_detector(ctx, "logit-adjust", fn, score="softmax")}


def train_resampled(ctx: RecipeContext) -> dict[str, Path]:
    """Re-balancing by data instead of by loss: plain (unweighted) BCE on re-sampled batches."""
    loss = ctx.cfg.loss
    class_ids = to_single_label(torch.as_tensor(ctx.data.train_targets)).numpy()
    background = len(ctx.classes)
    shard = {"num_replicas": dist.world_size(), "rank": dist.rank()}
    if loss.resample_mode == "class-balanced":
        sampler = ClassBalancedSampler(class_ids, seed=ctx.cfg.seed, **shard)
    else:
        sampler = BackgroundUndersampler(class_ids, background, fraction=loss.background_fraction,
                                         seed=ctx.cfg.seed, **shard)
    fn = ClassWeightedBCE(np.ones(len(ctx.classes)))  # unit weights = plain BCE
    return {"resample": train_detector(ctx, "resample", fn, train_loader=ctx.train_loader(sampler=sampler))}
