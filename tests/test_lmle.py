import pytest
import torch

from raresound.losses.lmle import TripleHeaderHingeLoss
from raresound.miners.quintuplets import build_quintuplets, partner_indices

# 8 points on a line: (x, class, cluster)
LINE = [(0, 0, 0), (1, 0, 0), (3, 0, 1), (4, 0, 1), (10, 1, 2), (12, 1, 2), (20, 1, 3), (30, 2, 4)]
# per anchor: (p+ farthest in cluster, p- nearest same-class other cluster, p-- farthest of those, n nearest other class)
LINE_EXPECTED = [
    [1, 2, 3, 4], [0, 2, 3, 4], [3, 1, 0, 4], [2, 1, 0, 4],
    [5, 6, 6, 3], [4, 6, 6, 3], [-1, 5, 4, 7],   # x=20 is a singleton cluster: no p+; nearest other class is x=30
    [-1, -1, -1, 6],                            # only member of its class
]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4096])
def test_line_known_answers_any_order_and_chunk(chunk_size):
    perm = torch.tensor([5, 2, 7, 0, 3, 6, 1, 4])  # shuffled input order exercises the internal sort
    x = torch.tensor([[float(LINE[i][0])] for i in perm])
    classes = torch.tensor([LINE[i][1] for i in perm])
    clusters = torch.tensor([LINE[i][2] for i in perm])
    position = {int(orig): new for new, orig in enumerate(perm)}
    expected = [[position[j] if j >= 0 else -1 for j in LINE_EXPECTED[int(orig)]] for orig in perm]
    assert build_quintuplets(x, classes, clusters, chunk_size=chunk_size).tolist() == expected


def test_per_class_local_cluster_ids_are_accepted():
    x = torch.tensor([[float(p[0])] for p in LINE])
    classes = torch.tensor([p[1] for p in LINE])
    local = torch.tensor([0, 0, 1, 1, 0, 0, 1, 0])  # cluster ids restart at 0 in every class
    assert build_quintuplets(x, classes, local).tolist() == LINE_EXPECTED


def brute_force(x, classes, clusters):
    d = torch.cdist(x, x).pow(2)
    same_class = classes[:, None] == classes[None, :]
    same_cluster = same_class & (clusters[:, None] == clusters[None, :])
    not_self = ~torch.eye(len(x), dtype=torch.bool)
    inf = torch.tensor(float("inf"), dtype=d.dtype)

    def arg(mask, largest):
        vals = torch.where(mask, d, -inf if largest else inf)
        v, i = vals.max(1) if largest else vals.min(1)
        return torch.where(torch.isfinite(v), i, -1)

    return torch.stack([arg(same_cluster & not_self, True), arg(same_class & ~same_cluster, False),
                        arg(same_class & ~same_cluster, True), arg(~same_class, False)], dim=1)


def test_chunked_equals_brute_force_on_random_data():
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(240, 8, generator=g, dtype=torch.float64), dim=1)
    classes = torch.randint(0, 4, (240,), generator=g)
    clusters = torch.randint(0, 3, (240,), generator=g) + 3 * classes
    clusters[classes == 3] = 9  # one class with a single cluster
    expected = brute_force(x, classes, clusters)
    for chunk in (13, 4096):
        assert torch.equal(build_quintuplets(x, classes, clusters, chunk_size=chunk), expected)


def test_anchor_subset_matches_rows_of_full_table():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(120, 4, generator=g, dtype=torch.float64)
    classes = torch.randint(0, 3, (120,), generator=g)
    clusters = torch.randint(0, 2, (120,), generator=g)
    full = build_quintuplets(x, classes, clusters, chunk_size=16)
    subset = torch.tensor([99, 3, 57, 0, 118])
    assert torch.equal(build_quintuplets(x, classes, clusters, chunk_size=5, anchors=subset), full[subset])


def test_partner_indices_fallback_and_mask():
    q = torch.tensor(LINE_EXPECTED + [[2, -1, -1, 0]])  # last: anchor of a single-cluster class
    filled, mask = partner_indices(q)
    assert mask.tolist()[6] == [False, True, True]
    assert mask.tolist()[7] == [False, False, False]
    assert mask.tolist()[8] == [False, False, True]        # class-level term with p-- := p+
    assert filled[8].tolist() == [2, 8, 2, 0]
    assert (filled >= 0).all()


def test_hinge_hand_value_and_mask():
    # 1-D: D(a,p+) = 1, D(a,p-) = 2.25, D(a,p--) = 4, D(a,n) = 4.41; margins (2, 2, 0.5)
    a, pp, pm, pmm, n = (torch.tensor([[v]]) for v in (0.0, 1.0, 1.5, 2.0, 2.1))
    loss = TripleHeaderHingeLoss(margins=(2.0, 2.0, 0.5))
    # (2 + 1 - 2.25) + (2 + 2.25 - 4) + (0.5 + 4 - 4.41) = 0.75 + 0.25 + 0.09
    assert loss(a, pp, pm, pmm, n).item() == pytest.approx(1.09, rel=1e-6)
    assert loss(a, pp, pm, pmm, n, term_mask=torch.tensor([[True, False, True]])).item() == pytest.approx(0.84, rel=1e-6)
    # satisfied ordering with small margins -> zero loss
    assert TripleHeaderHingeLoss(margins=(0.1, 0.1, 0.1))(a, pp, pm, pmm, n).item() == 0.0


def test_hinge_gradcheck():
    g = torch.Generator().manual_seed(3)
    parts = [torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(5)]
    loss = TripleHeaderHingeLoss(margins=(0.3, 0.2, 0.4))
    assert torch.autograd.gradcheck(lambda *p: loss(*p), tuple(parts))


def test_bad_margins():
    with pytest.raises(ValueError):
        TripleHeaderHingeLoss(margins=(0.1, -0.1, 0.1))
