import math

import pytest
import torch
import torch.nn.functional as F

from raresound.losses.class_balanced import effective_number_weights
from raresound.losses.ldam import LDAMLoss, drw_weights, ldam_margins


def test_margins_scale_with_inverse_fourth_root():
    # n^-1/4 = 0.5, 1/3, 1 -> scaled so the rarest class gets max_margin = 0.5
    torch.testing.assert_close(ldam_margins([16, 81, 1], 0.5), torch.tensor([0.25, 1 / 6, 0.5]))


def test_hand_worked_value():
    loss = LDAMLoss([1, 16], max_margin=0.5, scale=2.0, reduction="none")  # margins [0.5, 0.25]
    logits = torch.tensor([[0.2, 0.1], [0.2, 0.1]])
    # y=0: s*(z - m e_0) = [-0.6, 0.2] -> CE = log(1 + e^0.8); y=1: [0.4, -0.3] -> log(1 + e^0.7)
    expected = torch.tensor([math.log1p(math.exp(0.8)), math.log1p(math.exp(0.7))])
    torch.testing.assert_close(loss(logits, torch.tensor([0, 1])), expected)


def test_zero_margin_unit_weight_is_scaled_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, generator=g)
    labels = torch.tensor([0, 1, 2, 2, 1])
    loss = LDAMLoss([3, 30, 300], max_margin=0.0, scale=30.0, weight=torch.ones(3))
    torch.testing.assert_close(loss(logits, labels), F.cross_entropy(30.0 * logits, labels))


def test_multi_hot_targets_use_background_last_and_weights_multiply():
    logits = torch.zeros(2, 3)
    targets = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # event 1, background -> labels [1, 2]
    plain = LDAMLoss([4, 4, 4], max_margin=0.3, scale=1.0, reduction="none")
    weighted = LDAMLoss([4, 4, 4], max_margin=0.3, scale=1.0, weight=torch.tensor([1.0, 2.0, 3.0]), reduction="none")
    torch.testing.assert_close(weighted(logits, targets), plain(logits, targets) * torch.tensor([2.0, 3.0]))
    # equal counts -> equal margins 0.3 -> CE of [-0.3, 0, 0]-shaped logits: log(1 + 2 e^0.3)
    assert plain(logits, targets)[0].item() == pytest.approx(math.log(1 + 2 * math.exp(0.3)), rel=1e-6)


def test_drw_schedule():
    counts = [1, 3]
    assert torch.equal(drw_weights(counts, epoch=159, drw_start_epoch=160), torch.ones(2))
    torch.testing.assert_close(drw_weights(counts, epoch=160, drw_start_epoch=160, beta=0.5),
                               torch.tensor([14 / 11, 8 / 11]))
    torch.testing.assert_close(drw_weights([10, 100, 1000], 200, 160), effective_number_weights([10, 100, 1000], 0.9999))
    loss = LDAMLoss(counts)
    loss.weight = drw_weights(counts, 170, 160, beta=0.5)
    assert loss.weight[0].item() == pytest.approx(14 / 11)


def test_gradcheck():
    logits = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    loss = LDAMLoss([5, 50, 500], scale=3.0, weight=torch.tensor([2.0, 1.0, 0.5]))
    assert torch.autograd.gradcheck(lambda z: loss(z, torch.tensor([0, 1, 2, 0])), (logits,))
