"""Mixup (data/augment/mixup.py): with lam given, the exact convex combination; targets as max or linear."""

import numpy as np
import pytest
import torch

from raresound.data.augment import Mixup, ParameterError, mixup


def test_known_lambda_gives_the_convex_combination_and_max_targets():
    x = torch.randn(3, 8, 4, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(3, 2, 2)
    y[0, 0, 0] = 1
    y[1, 1, 1] = 1
    lam, partner = torch.tensor([0.3, 1.0, 0.75]), torch.tensor([1, 0, 0])
    out, targets = mixup(x, y, lam, partner, "max")
    assert torch.allclose(out[0], 0.3 * x[0] + 0.7 * x[1])
    assert torch.equal(out[1], x[1])  # lam 1: unchanged
    assert torch.allclose(out[2], 0.75 * x[2] + 0.25 * x[0])
    assert torch.equal(targets[0], torch.maximum(y[0], y[1]))  # both events are in the mix
    assert torch.equal(targets[1], y[1]) and torch.equal(targets[2], y[0])


def test_linear_targets():
    x, y = torch.randn(2, 4, 3), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    _, targets = mixup(x, y, torch.tensor([0.25, 0.5]), torch.tensor([1, 0]), "linear")
    assert torch.allclose(targets, torch.tensor([[0.25, 0.75], [0.5, 0.5]]))


def test_drawn_lambda_follows_the_seeded_beta_and_the_permutation():
    x = torch.randn(5, 6, 3, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(5, 2)
    out, _ = Mixup(alpha=0.4, targets="linear", p=1.0)(x, y, torch.Generator().manual_seed(11))
    g = torch.Generator().manual_seed(11)
    torch.rand(5, generator=g)
    partner = torch.randperm(5, generator=g)
    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    lam = torch.from_numpy(np.random.default_rng(seed).beta(0.4, 0.4, size=5)).float()
    assert torch.allclose(out, lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner], atol=1e-6)


def test_reproducible_inputs_untouched_p0_identity():
    x, y = torch.randn(6, 5, 3), (torch.rand(6, 5, 2) > 0.5).float()
    x0, y0 = x.clone(), y.clone()
    m = Mixup(alpha=0.2, p=0.5)
    a = m(x, y, torch.Generator().manual_seed(3))
    b = m(x, y, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(x, x0) and torch.equal(y, y0)
    out, t = Mixup(p=0.0)(x, y, torch.Generator())
    assert out is x and t is y


@pytest.mark.parametrize("kwargs, name", [({"alpha": 0}, "alpha"), ({"targets": "soft"}, "targets")])
def test_bad_parameters(kwargs, name):
    with pytest.raises(ParameterError) as info:
        Mixup(**kwargs)
    assert info.value.parameter == name
