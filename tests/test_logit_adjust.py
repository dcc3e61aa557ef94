import math

import pytest
import torch
import torch.nn.functional as F

from raresound.errors import DataError
from raresound.losses.logit_adjust import LogitAdjustedLoss
from raresound.losses.softmax_targets import class_counts_with_background, softmax_event_scores, to_single_label


def test_zero_logits_give_minus_log_prior():
    # adjusted logits = log(pi) -> softmax = pi -> CE = -log(pi_y)
    loss = LogitAdjustedLoss([0.8, 0.2], tau=1.0, reduction="none")
    out = loss(torch.zeros(2, 2), torch.tensor([0, 1]))
    torch.testing.assert_close(out, torch.tensor([-math.log(0.8), math.log(5.0)]))


def test_hand_worked_tau_two():
    # priors [0.5, 0.25, 0.25], tau 2, logits [0, 1, 0], y = 1:
    # adjusted = [2 log .5, 1 + 2 log .25, 2 log .25] = [-1.386.., -1.772.., -2.772..]
    loss = LogitAdjustedLoss([2, 1, 1], tau=2.0)  # counts are normalised to priors
    z = [2 * math.log(0.5), 1 + 2 * math.log(0.25), 2 * math.log(0.25)]
    expected = -z[1] + math.log(sum(math.exp(v) for v in z))
    assert loss(torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([1])).item() == pytest.approx(expected, rel=1e-6)


def test_tau_zero_and_uniform_prior_are_plain_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=g)
    targets = torch.zeros(6, 3)
    targets[0, 0] = targets[1, 2] = 1.0  # others background (index 3)
    labels = torch.tensor([0, 2, 3, 3, 3, 3])
    torch.testing.assert_close(LogitAdjustedLoss([1, 2, 3, 94], tau=0.0)(logits, targets), F.cross_entropy(logits, labels))
    torch.testing.assert_close(LogitAdjustedLoss([1, 1, 1, 1], tau=1.0)(logits, targets), F.cross_entropy(logits, labels))


def test_rare_class_is_pushed_harder():
    loss = LogitAdjustedLoss([0.99, 0.01], reduction="none")
    out = loss(torch.zeros(2, 2), torch.tensor([0, 1]))
    assert out[1] > 10 * out[0]


def test_bad_priors_and_gradcheck():
    with pytest.raises(DataError):
        LogitAdjustedLoss([0.5, 0.0])
    logits = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    loss = LogitAdjustedLoss([0.7, 0.2, 0.1], tau=1.5)
    assert torch.autograd.gradcheck(lambda z: loss(z, torch.tensor([2, 0, 1])), (logits,))


# softmax_targets helpers, shared by the softmax losses (background = last index)


def test_to_single_label_background_is_last_and_two_events_raise():
    targets = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert to_single_label(targets).tolist() == [1, 3, 0]
    assert class_counts_with_background(targets).tolist() == [1, 1, 0, 1]
    with pytest.raises(DataError):
        to_single_label(torch.tensor([[1.0, 1.0, 0.0]]))


def test_softmax_event_scores_drop_background():
    logits = torch.tensor([[0.0, math.log(3.0), 0.0]])  # probs 0.2, 0.6, 0.2 (background)
    torch.testing.assert_close(softmax_event_scores(logits), torch.tensor([[0.2, 0.6]]))
