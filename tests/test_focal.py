import math

import pytest
import torch
import torch.nn.functional as F

from raresound.losses.focal import FocalLoss


def test_gamma0_alpha_none_is_bce_summed_over_classes():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=g) * 3
    targets = torch.zeros(6, 4)
    targets[torch.arange(4), torch.arange(4)] = 1.0  # rows 4, 5 are background
    loss = FocalLoss(gamma=0.0, alpha=None)(logits, targets)
    expected = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 6
    torch.testing.assert_close(loss, expected)


def test_hand_worked_value():
    # p = sigmoid(0) = 0.5 (y=1 and y=0), p = sigmoid(log 3) = 0.75 (y=1); gamma 2, alpha 0.25
    logits = torch.tensor([[0.0, 0.0, math.log(3.0)]])
    targets = torch.tensor([[1.0, 0.0, 1.0]])
    expected = (0.25 * 0.5**2 * math.log(2)          # y=1, p_t = 0.5
                + 0.75 * 0.5**2 * math.log(2)        # y=0, p_t = 0.5, alpha_t = 1 - alpha
                + 0.25 * 0.25**2 * -math.log(0.75))  # y=1, p_t = 0.75
    loss = FocalLoss(gamma=2.0, alpha=0.25)(logits, targets)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_easy_examples_are_down_weighted_more_than_hard_ones():
    focal, bce = FocalLoss(gamma=2.0, alpha=None, reduction="none"), FocalLoss(gamma=0.0, alpha=None, reduction="none")
    logits = torch.tensor([[4.0], [-1.0]])  # easy positive, hard positive
    targets = torch.ones(2, 1)
    ratio = focal(logits, targets) / bce(logits, targets)
    assert ratio[0] < 1e-3 < ratio[1]
    assert ratio[0] == pytest.approx(float(1 - torch.sigmoid(torch.tensor(4.0))) ** 2, rel=1e-5)


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: FocalLoss(gamma=1.5, alpha=0.3)(z, targets), (logits,))


def test_reduction_none_shape_and_bad_args():
    assert FocalLoss(reduction="none")(torch.zeros(5, 3), torch.zeros(5, 3)).shape == (5,)
    with pytest.raises(ValueError):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError):
        FocalLoss(alpha=1.5)
