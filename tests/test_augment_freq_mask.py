"""FreqMask (data/augment/freq_mask.py): whole mel bands at seeded positions, targets untouched."""

import torch

from raresound.data.augment import FreqMask
from raresound.data.augment._spans import random_spans


def test_masked_bands_are_the_seeded_spans_over_every_frame():
    x = torch.arange(1, 4 * 10 * 16 + 1, dtype=torch.float32).view(4, 10, 16)
    y = torch.ones(4, 10, 2)
    before = x.clone()
    out, targets = FreqMask(n_masks=2, max_width=4, p=1.0)(x, y, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    torch.rand(4, generator=g)
    spans = random_spans(4, 16, 2, 4, g)
    assert torch.equal(out == 0, spans[:, None, :].expand_as(x))
    assert targets is y and torch.equal(x, before)


def test_mean_fill_and_unselected_rows_unchanged():
    x = torch.randn(50, 10, 16, generator=torch.Generator().manual_seed(0)) + 3.0
    y = torch.zeros(50, 2)
    out, _ = FreqMask(n_masks=1, max_width=4, fill="mean", p=0.5)(x, y, torch.Generator().manual_seed(1))
    changed = (out != x).any(dim=(1, 2))
    assert 0 < int(changed.sum()) < 50  # p = 0.5 per example
    for b in torch.nonzero(changed).flatten():
        band = (out[b] != x[b]).any(dim=0)
        assert torch.allclose(out[b][:, band], x[b].mean().expand(10, int(band.sum())))


def test_same_seed_same_output():
    x = torch.randn(8, 20, 16)
    y = torch.zeros(8, 20, 1)
    t = FreqMask(p=0.7)
    assert torch.equal(t(x, y, torch.Generator().manual_seed(4))[0], t(x, y, torch.Generator().manual_seed(4))[0])
