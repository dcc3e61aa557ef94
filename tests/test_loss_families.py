"""One call contract per loss family; class balancing wraps any detection loss."""

import pytest
import torch

from raresound.losses.base import ClusterLoss, DetectionLoss, EmbeddingLoss
from raresound.losses.class_balanced import ClassBalanced, ClassBalancedLoss, SoftmaxCrossEntropy
from raresound.losses.focal import FocalLoss
from raresound.losses.ldam import LDAMLoss
from raresound.losses.lmle import TripleHeaderHingeLoss
from raresound.losses.logit_adjust import LogitAdjustedLoss
from raresound.losses.thce import TripleHeaderCrossEntropy
from raresound.losses.weighted_bce import ClassWeightedBCE


def test_every_loss_belongs_to_one_family():
    for cls in (ClassWeightedBCE, FocalLoss, LDAMLoss, LogitAdjustedLoss, ClassBalancedLoss, SoftmaxCrossEntropy):
        assert issubclass(cls, DetectionLoss), cls
    assert issubclass(TripleHeaderCrossEntropy, ClusterLoss)
    assert issubclass(TripleHeaderHingeLoss, EmbeddingLoss)
    assert (LDAMLoss.outputs, LogitAdjustedLoss.outputs, FocalLoss.outputs) == ("softmax", "softmax", "sigmoid")


def test_class_balanced_wraps_a_detection_loss_as_the_config_form_does():
    g = torch.Generator().manual_seed(0)
    counts = [5, 9, 40]
    targets = torch.nn.functional.one_hot(torch.randint(0, 3, (16,), generator=g), 3)[:, :2].float()
    sig, soft = torch.randn(16, 2, generator=g) * 3, torch.randn(16, 3, generator=g) * 3
    wrapped = ClassBalanced(FocalLoss(gamma=1.5, alpha=None), counts, beta=0.9)
    assert torch.equal(wrapped(sig, targets), ClassBalancedLoss(counts, beta=0.9, base="focal", gamma=1.5)(sig, targets))
    wrapped = ClassBalanced(SoftmaxCrossEntropy(), counts, beta=0.9)
    assert wrapped.outputs == "softmax"
    assert torch.equal(wrapped(soft, targets), ClassBalancedLoss(counts, beta=0.9, base="softmax")(soft, targets))
    with pytest.raises(ValueError, match="detection loss"):
        ClassBalanced(TripleHeaderCrossEntropy(torch.tensor([0, 1])), counts)
