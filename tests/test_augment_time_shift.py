"""TimeShift (data/augment/time_shift.py): features and frame targets move by the same whole steps."""

import pytest
import torch

from raresound.data.augment import ParameterError, TimeShift
from raresound.data.augment.time_shift import shift_rows


def _aligned(B=20, S=10, k=4):
    """features whose frame f holds f // k (its step), targets whose step s holds s: aligned when equal."""
    T = S * k
    x = (torch.arange(T) // k).float().view(1, T, 1).expand(B, T, 3).clone() + 1
    y = torch.arange(S).float().view(1, S, 1).expand(B, S, 2).clone() + 1
    return x, y, k


def test_roll_keeps_features_and_targets_aligned():
    x, y, k = _aligned()
    out, targets = TimeShift(max_shift=24, p=1.0)(x, y, torch.Generator().manual_seed(0))
    assert not torch.equal(out, x)  # something moved
    for b in range(x.shape[0]):
        assert torch.equal(out[b, ::k, 0], targets[b, :, 0])  # step s still covers the frames of its target
        assert torch.equal(out[b].sort(dim=0).values, x[b].sort(dim=0).values)  # a roll loses nothing
    shifts = [int(torch.nonzero(targets[b, :, 0] == 1)[0]) for b in range(x.shape[0])]
    assert max(abs(s if s <= 5 else s - 10) for s in shifts) <= 24 // k


def test_pad_shifts_in_zeros_and_zero_targets():
    x = torch.ones(1, 8, 2)
    out = shift_rows(x, torch.tensor([3]), "pad")
    assert torch.equal(out[0, :, 0], torch.tensor([0, 0, 0, 1, 1, 1, 1, 1.0]))
    out = shift_rows(torch.arange(6.0).view(1, 6), torch.tensor([-2]), "roll")
    assert torch.equal(out, torch.tensor([[2, 3, 4, 5, 0, 1.0]]))
    x, y, k = _aligned(B=30)
    px, py = TimeShift(max_shift=20, mode="pad", p=1.0)(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(px[:, ::k, 0], py[:, :, 0])  # zeros where no frames came in, on both


def test_clip_targets_pass_through_pad_needs_frame_targets():
    x = torch.randn(4, 10, 3)
    y = torch.ones(4, 2)
    _, targets = TimeShift(max_shift=5, p=1.0)(x, y, torch.Generator().manual_seed(0))
    assert targets is y
    with pytest.raises(ParameterError, match="frame targets"):
        TimeShift(mode="pad", p=1.0)(x, y, torch.Generator())


def test_seeded_and_identity():
    x, y, _ = _aligned()
    t = TimeShift(max_shift=12, p=0.5)
    a, b = t(x, y, torch.Generator().manual_seed(2)), t(x, y, torch.Generator().manual_seed(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    out, targets = TimeShift(max_shift=3, p=1.0)(x, y, torch.Generator())  # 3 frames < a 4-frame step
    assert out is x and targets is y
    with pytest.raises(ParameterError):
        TimeShift(mode="wrap")
