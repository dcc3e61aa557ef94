"""TimeMask (data/augment/time_mask.py): spans of frames at seeded positions, the fill values, targets
untouched, inputs never modified, p = 0 the identity."""

import pytest
import torch

from raresound.data.augment import ParameterError, TimeMask
from raresound.data.augment._spans import random_spans


def _batch(B=6, T=40, M=5):
    x = torch.arange(1, B * T * M + 1, dtype=torch.float32).view(B, T, M)  # no zero anywhere
    y = (torch.rand(B, T // 4, 3, generator=torch.Generator().manual_seed(9)) > 0.5).float()
    return x, y


def test_masked_frames_are_the_seeded_spans_filled_with_zero():
    x, y = _batch()
    before = x.clone()
    out, targets = TimeMask(n_masks=2, max_width=7, p=1.0)(x, y, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    torch.rand(x.shape[0], generator=g)  # the per-example p draw comes first
    spans = random_spans(x.shape[0], x.shape[1], 2, 7, g)
    assert torch.equal(out == 0, spans[:, :, None].expand_as(x))  # whole frames, exactly the spans
    assert torch.equal(out[~spans], x[~spans])
    assert targets is y and torch.equal(x, before)  # targets untouched, input not written into


def test_each_mask_is_a_run_of_at_most_max_width_frames():
    x, y = _batch(B=200, T=30)
    out, _ = TimeMask(n_masks=1, max_width=5, p=1.0)(x, y, torch.Generator().manual_seed(0))
    widths = []
    for row in (out == 0).all(dim=2):
        idx = torch.nonzero(row).flatten()
        if idx.numel():
            assert idx[-1] - idx[0] + 1 == idx.numel()  # contiguous
        widths.append(idx.numel())
    assert set(widths) == {0, 1, 2, 3, 4, 5}  # U{0..max_width}


def test_mean_fill_is_the_examples_mean():
    x, y = _batch()
    out, _ = TimeMask(n_masks=1, max_width=10, fill="mean", p=1.0)(x, y, torch.Generator().manual_seed(1))
    changed = (out != x).any(dim=2)
    for b in range(x.shape[0]):
        assert torch.allclose(out[b][changed[b]], x[b].mean().expand(int(changed[b].sum()), x.shape[2]))


def test_max_width_beyond_the_clip_masks_at_most_the_clip():
    x, y = _batch(T=8)
    out, _ = TimeMask(n_masks=1, max_width=100, p=1.0)(x, y, torch.Generator().manual_seed(2))
    assert out.shape == x.shape


def test_same_seed_same_output_and_p0_identity():
    x, y = _batch()
    t = TimeMask(n_masks=3, max_width=6, p=0.5)
    a, _ = t(x, y, torch.Generator().manual_seed(5))
    b, _ = t(x, y, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    out, targets = TimeMask(p=0.0)(x, y, torch.Generator().manual_seed(5))
    assert out is x and targets is y


def test_clip_targets_pass_through():
    x, _ = _batch()
    y = torch.ones(x.shape[0], 2)
    _, targets = TimeMask(p=1.0)(x, y, torch.Generator().manual_seed(0))
    assert targets is y


@pytest.mark.parametrize("kwargs, name", [({"n_masks": -1}, "n_masks"), ({"max_width": 2.5}, "max_width"),
                                          ({"fill": "noise"}, "fill"), ({"p": 1.5}, "p")])
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ParameterError) as info:
        TimeMask(**kwargs)
    assert info.value.parameter == name
