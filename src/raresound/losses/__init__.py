"""Losses: one small class per file, in three families with one call contract each (base.py):
detection losses `(logits, targets)`, cluster losses `(cluster logits, assignments)`, embedding
losses `(anchor, *partners, term_mask)`. `ClassBalanced` wraps any detection loss."""

from raresound.losses.base import ClusterLoss, DetectionLoss, EmbeddingLoss, Loss
from raresound.losses.class_balanced import ClassBalanced, ClassBalancedLoss, SoftmaxCrossEntropy
from raresound.losses.focal import FocalLoss
from raresound.losses.frame_bce import BalancedFrameBCE
from raresound.losses.ldam import LDAMLoss
from raresound.losses.lmle import TripleHeaderHingeLoss
from raresound.losses.logit_adjust import LogitAdjustedLoss
from raresound.losses.thce import TripleHeaderCrossEntropy
from raresound.losses.weighted_bce import ClassWeightedBCE

__all__ = ["Loss", "DetectionLoss", "ClusterLoss", "EmbeddingLoss", "ClassBalanced", "ClassBalancedLoss",
           "SoftmaxCrossEntropy", "ClassWeightedBCE", "BalancedFrameBCE", "FocalLoss", "LDAMLoss", "LogitAdjustedLoss",
           "TripleHeaderCrossEntropy", "TripleHeaderHingeLoss"]
