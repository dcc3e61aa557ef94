import math

import pytest
import torch
import torch.nn.functional as F

from raresound.errors import DataError
from raresound.losses.weighted_bce import ClassWeightedBCE, class_weights


def test_weights_are_mean_count_over_count():
    # counts 100, 300 -> mean 200 -> w = 200/100, 200/300
    w = class_weights([100, 300])
    assert torch.allclose(w, torch.tensor([2.0, 2.0 / 3.0]))
    # total positive mass preserved: sum w_l I_l = sum I_l
    assert float((w * torch.tensor([100.0, 300.0])).sum()) == pytest.approx(400.0)


def test_hand_worked_value():
    # counts [1, 3] -> mean 2 -> w = [2, 2/3]
    # logits: sample 0 = [0, ln 3], sample 1 = [ln 3, 0]; targets: [1, 0], [0, 1]
    # sigma(0) = 1/2, sigma(ln 3) = 3/4
    # sample 0: class0 positive: -2 * ln(1/2) = 2 ln 2 ; class1 negative: -ln(1 - 3/4) = ln 4 = 2 ln 2
    #           -> 4 ln 2
    # sample 1: class0 negative: -ln(1/4) = 2 ln 2 ; class1 positive: -(2/3) ln(1/2) = (2/3) ln 2
    #           -> (8/3) ln 2
    # mean over 2 samples: (4 + 8/3) ln 2 / 2 = (10/3) ln 2
    loss = ClassWeightedBCE([1, 3])
    logits = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(loss(logits, targets)) == pytest.approx(10.0 / 3.0 * math.log(2), rel=1e-6)
    per = ClassWeightedBCE([1, 3], reduction="none")(logits, targets)
    assert torch.allclose(per, torch.tensor([4 * math.log(2), 8 / 3 * math.log(2)]))


def test_matches_torch_pos_weight():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 3, generator=g) * 5
    targets = (torch.rand(8, 3, generator=g) > 0.5).float()
    counts = [10, 40, 250]
    ours = ClassWeightedBCE(counts, reduction="sum")(logits, targets)
    ref = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=class_weights(counts),
                                             reduction="sum")
    assert torch.allclose(ours, ref, rtol=1e-5)
    # equal counts -> plain BCE summed over classes, averaged over the batch
    plain = ClassWeightedBCE([7, 7, 7])(logits, targets)
    ref = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 8
    assert torch.allclose(plain, ref, rtol=1e-5)


def test_stable_for_huge_logits():
    loss = ClassWeightedBCE([1, 1])
    logits = torch.tensor([[200.0, -200.0]], requires_grad=True)
    value = loss(logits, torch.tensor([[0.0, 1.0]]))
    assert value.item() == pytest.approx(400.0)
    value.backward()
    assert torch.isfinite(logits.grad).all()


def test_gradcheck_float64():
    logits = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    targets = torch.rand(4, 3, dtype=torch.float64)
    loss = ClassWeightedBCE([5, 1, 2])
    assert torch.autograd.gradcheck(lambda y: loss(y, targets), (logits,))


def test_bad_counts_and_shapes():
    with pytest.raises(DataError, match="no positive"):
        ClassWeightedBCE([3, 0])
    with pytest.raises(ValueError, match="batch, 2"):
        ClassWeightedBCE([3, 1])(torch.zeros(2, 3), torch.zeros(2, 3))
