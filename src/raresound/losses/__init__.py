"""Losses: one small class per file, all deriving from raresound.losses.base.Loss."""

from raresound.losses.base import Loss
from raresound.losses.class_balanced import ClassBalancedLoss
from raresound.losses.focal import FocalLoss
from raresound.losses.ldam import LDAMLoss
from raresound.losses.lmle import TripleHeaderHingeLoss
from raresound.losses.logit_adjust import LogitAdjustedLoss
from raresound.losses.thce import TripleHeaderCrossEntropy
from raresound.losses.weighted_bce import ClassWeightedBCE

__all__ = ["Loss", "ClassBalancedLoss", "ClassWeightedBCE", "FocalLoss", "LDAMLoss", "LogitAdjustedLoss",
           "TripleHeaderCrossEntropy", "TripleHeaderHingeLoss"]
