import math

import pytest
import torch
import torch.nn.functional as F

from raresound.errors import DataError
from raresound.losses.class_balanced import ClassBalancedLoss, effective_number_weights
from raresound.losses.focal import FocalLoss


def test_weights_hand_worked():
    # beta = 0.5: n=1 -> 0.5/0.5 = 1; n=3 -> 0.5/0.875 = 4/7; sum 11/7, rescaled to sum 2
    w = effective_number_weights([1, 3], beta=0.5)
    torch.testing.assert_close(w, torch.tensor([14 / 11, 8 / 11]))


def test_beta_zero_gives_unit_weights_and_plain_losses():
    g = torch.Generator().manual_seed(0)
    counts = [5, 50, 500]
    assert torch.equal(effective_number_weights(counts, 0.0), torch.ones(3))
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    sig_logits, soft_logits = torch.randn(4, 2, generator=g), torch.randn(4, 3, generator=g)
    torch.testing.assert_close(ClassBalancedLoss(counts, beta=0.0, base="bce")(sig_logits, targets),
                               F.binary_cross_entropy_with_logits(sig_logits, targets, reduction="sum") / 4)
    torch.testing.assert_close(ClassBalancedLoss(counts, beta=0.0, base="focal", gamma=2.0)(sig_logits, targets),
                               FocalLoss(gamma=2.0, alpha=None)(sig_logits, targets))
    torch.testing.assert_close(ClassBalancedLoss(counts, beta=0.0, base="softmax")(soft_logits, targets),
                               F.cross_entropy(soft_logits, torch.tensor([0, 1, 2, 2])))


def test_loss_hand_worked():
    # one event class (count 1) + background (count 3), beta 0.5 -> weights 14/11 (event), 8/11 (background)
    loss = ClassBalancedLoss([1, 3], beta=0.5, base="bce")
    logits = torch.zeros(3, 1)
    targets = torch.tensor([[1.0], [0.0], [0.0]])
    expected = (14 / 11 + 8 / 11 + 8 / 11) * math.log(2) / 3
    assert loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_large_beta_approaches_inverse_frequency():
    w = effective_number_weights([10, 1000], beta=1 - 1e-7)
    assert (w[0] / w[1]).item() == pytest.approx(100.0, rel=1e-3)


def test_bad_inputs():
    with pytest.raises(DataError):
        effective_number_weights([3, 0], 0.9)
    with pytest.raises(ValueError):
        effective_number_weights([3, 1], 1.0)
    with pytest.raises(ValueError):
        ClassBalancedLoss([3, 1], base="hinge")
    with pytest.raises(DataError):  # sigmoid base expects L = len(counts) - 1 columns
        ClassBalancedLoss([3, 1, 2], base="bce")(torch.zeros(2, 3), torch.zeros(2, 3))


def test_gradcheck_softmax_base():
    logits = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    loss = ClassBalancedLoss([2, 7, 40], beta=0.9, base="softmax")
    assert torch.autograd.gradcheck(lambda z: loss(z, torch.tensor([0, 2, 1])), (logits,))
