import math

import pytest
import torch
import torch.nn.functional as F

from raresound.losses.thce import TripleHeaderCrossEntropy


def test_hand_worked_three_samples():
    # clusters 0, 1 belong to class 0 (w = 2), cluster 2 to class 1 (w = 1); beta = 1, beta' = 2
    # sample 0, own cluster 0: h = [0, 0, 0]        -> z = [0, 1, 2]
    #     loss = ln(1 + e + e^2) = ln 11.107337 = 2.407605, weighted 1/2 -> 1.203803
    # sample 1, own cluster 1: h = [-1, 0, -2]      -> z = [0, 0, 0]
    #     loss = ln 3 = 1.098612, weighted 1/2 -> 0.549306
    # sample 2, own cluster 2: h = [ln2 - 2, -2, 0] -> z = [ln 2, 0, 0]
    #     loss = ln(2 + 1 + 1) - 0 = ln 4 = 1.386294, weight 1
    # mean over 3 samples = (1.203803 + 0.549306 + 1.386294) / 3 = 1.046468
    loss = TripleHeaderCrossEntropy(torch.tensor([0, 0, 1]), beta=1.0, beta_prime=2.0)
    h = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, -2.0], [math.log(2) - 2, -2.0, 0.0]])
    idx = torch.tensor([0, 1, 2])
    expected = (0.5 * math.log(1 + math.e + math.e ** 2) + 0.5 * math.log(3) + math.log(4)) / 3
    assert float(loss(h, idx)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.046468, abs=1e-6)
    none = TripleHeaderCrossEntropy(torch.tensor([0, 0, 1]), 1.0, 2.0, reduction="none")(h, idx)
    assert torch.allclose(none, torch.tensor([1.203803, 0.549306, 1.386294]), atol=1e-5)
    assert loss.margins(idx).tolist() == [[0, 1, 2], [1, 0, 2], [2, 2, 0]]


def test_alpha_scales_raw_cosines_before_margins():
    cos = torch.tensor([[0.5, -0.2, 0.1]])
    idx = torch.tensor([1])
    scaled = TripleHeaderCrossEntropy(torch.tensor([0, 0, 1]), alpha=10.0)(cos, idx)
    prescaled = TripleHeaderCrossEntropy(torch.tensor([0, 0, 1]))(10.0 * cos, idx)
    assert torch.allclose(scaled, prescaled)


def test_no_margins_one_cluster_per_class_is_cross_entropy():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(16, 5, generator=g) * 3
    idx = torch.randint(0, 5, (16,), generator=g)
    loss = TripleHeaderCrossEntropy(torch.arange(5), beta=0.0, beta_prime=0.0)
    assert torch.allclose(loss(h, idx), F.cross_entropy(h, idx), rtol=1e-6)


def test_gradcheck_float64():
    h = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([0, 1, 2, 3, 0, 2])
    loss = TripleHeaderCrossEntropy(torch.tensor([0, 0, 1, 2]), beta=0.5, beta_prime=3.0)
    assert torch.autograd.gradcheck(lambda x: loss(x, idx), (h,))


def test_margins_penalise_other_classes_more():
    cc = torch.tensor([0, 0, 1])  # own cluster 0; cluster 1 = sibling, cluster 2 = other class
    idx = torch.tensor([0])
    loss = TripleHeaderCrossEntropy(cc, beta=0.0, beta_prime=2.0)
    # at h = 0 the gradient on a competing logit is softmax(z)_k ∝ exp(m_k): ratio e^(beta'-beta)
    h = torch.zeros(1, 3, requires_grad=True)
    loss(h, idx).backward()
    assert float(h.grad[0, 2] / h.grad[0, 1]) == pytest.approx(math.exp(2.0), rel=1e-5)

    def optimum(beta, beta_prime):
        # minimise THCE + small L2 over a free h: competing logits settle at -softmax_k / lambda
        fn = TripleHeaderCrossEntropy(cc, beta=beta, beta_prime=beta_prime)
        h = torch.zeros(1, 3, requires_grad=True)
        opt = torch.optim.LBFGS([h], max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            value = fn(h, idx) + 0.05 * h.pow(2).sum()
            value.backward()
            return value
        opt.step(closure)
        return h.detach()[0]

    h_eq = optimum(0.0, 0.0)
    assert float(h_eq[2]) == pytest.approx(float(h_eq[1]), abs=1e-4)  # no margins: symmetric
    h_m = optimum(0.0, 2.0)
    assert h_m[2] < h_m[1] < h_m[0]  # other class pushed below the sibling cluster
    h_more = optimum(0.0, 4.0)
    assert (h_more[1] - h_more[2]) > (h_m[1] - h_m[2])  # larger margin gap, larger logit gap


def test_single_cluster_class_and_set_clusters():
    loss = TripleHeaderCrossEntropy(torch.tensor([0, 1, 1, 1]), beta=0.0, beta_prime=5.0)
    h = torch.tensor([[3.0, 0.0, 0.0, 0.0]])
    # own class has one cluster (w = 1): loss = ln(e^3 + 3 e^5) - 3
    expected = math.log(math.exp(3) + 3 * math.exp(5)) - 3
    assert float(loss(h, torch.tensor([0]))) == pytest.approx(expected, rel=1e-6)
    # a sample of the 3-cluster class is down-weighted by 1/3
    # z = [3 + 5, 0, 0, 0] -> loss = (ln(e^8 + 3) - 0) / 3
    assert float(loss(h, torch.tensor([1]))) == pytest.approx(math.log(math.exp(8) + 3) / 3, rel=1e-6)
    loss.set_clusters(torch.tensor([4]))  # one cluster overall: softmax over one logit -> 0
    assert float(loss(torch.randn(2, 1), torch.tensor([0, 0]))) == 0.0
    with pytest.raises(ValueError, match="batch, 1"):
        loss(torch.randn(2, 3), torch.tensor([0, 0]))
