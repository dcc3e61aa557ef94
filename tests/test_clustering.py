import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score

from raresound import clustering
from raresound.clustering import (ClusterResult, cluster_per_class, clusters_per_class,
                                  label_vector_classes, satisfies_constraint, spherical_kmeans)
from raresound.errors import DataError


def planted(k, per_cluster, dim=16, noise=0.05, seed=0):
    """k orthogonal directions (basis vectors) with small noise -> (X, true labels)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(k).repeat_interleave(per_cluster)
    X = torch.eye(dim)[labels] + noise * torch.randn(len(labels), dim, generator=g)
    perm = torch.randperm(len(labels), generator=g)
    return X[perm], labels[perm]


def test_recovers_planted_clusters():
    X, truth = planted(5, 40)
    C, a = spherical_kmeans(X, 5, seed=3)
    assert adjusted_rand_score(truth.numpy(), a.numpy()) == 1.0
    assert torch.allclose(C.norm(dim=1), torch.ones(5), atol=1e-5)
    # each centroid points at one planted basis direction
    assert sorted(C.abs().argmax(dim=1).tolist()) == [0, 1, 2, 3, 4]


def test_accepts_numpy_and_k1():
    X, _ = planted(3, 10)
    C, a = spherical_kmeans(X.numpy(), 1)
    assert C.shape == (1, 16) and set(a.tolist()) == {0}
    assert torch.allclose(C[0], F.normalize(F.normalize(X, dim=1).sum(0), dim=0), atol=1e-5)


def test_empty_cluster_is_reseeded_from_farthest_point():
    X, truth = planted(3, 20)
    # bad init: two identical centroids -> the second never wins a tie and starts empty
    init = torch.stack([torch.eye(16)[0], torch.eye(16)[0], torch.eye(16)[1]])
    C, a = spherical_kmeans(X, 3, init=init)
    assert torch.bincount(a, minlength=3).min() > 0
    assert adjusted_rand_score(truth.numpy(), a.numpy()) == 1.0


def test_reseed_helper_moves_empty_centroid_to_farthest_point():
    X = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]]), dim=1)
    C = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # second centroid attracts nothing
    sim, a = clustering._best(X, C)
    assert a.tolist() == [0, 0, 0]
    clustering._reseed_empty(X, C, a, sim)
    assert a.tolist() == [0, 0, 1] and torch.equal(C[1], X[2])


def test_duplicates_and_too_many_clusters():
    X = torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5)
    C, a = spherical_kmeans(X, 2)
    assert sorted(torch.bincount(a).tolist()) == [5, 5]
    with pytest.raises(DataError, match="2 distinct points"):
        spherical_kmeans(X, 3)


def test_deterministic_with_seed():
    X = torch.randn(300, 8, generator=torch.Generator().manual_seed(1))
    C1, a1 = spherical_kmeans(X, 6, seed=7)
    C2, a2 = spherical_kmeans(X, 6, seed=7)
    assert torch.equal(C1, C2) and torch.equal(a1, a2)


def test_chunked_similarity_matches_unchunked(monkeypatch):
    X = torch.randn(500, 8, generator=torch.Generator().manual_seed(2))
    C, a = spherical_kmeans(X, 4, seed=1)
    monkeypatch.setattr(clustering, "CHUNK_ELEMENTS", 64)  # 16 rows per chunk
    C2, a2 = spherical_kmeans(X, 4, seed=1)
    assert torch.equal(a, a2) and torch.allclose(C, C2, atol=1e-6)


def test_balanced_sizes():
    X = torch.randn(103, 8, generator=torch.Generator().manual_seed(3))
    _, a = spherical_kmeans(X, 5, balanced=True)
    assert sorted(torch.bincount(a, minlength=5).tolist()) == [20, 20, 21, 21, 21]
    # balanced assignment still recovers clusters that are themselves equal-sized
    Xp, truth = planted(4, 25)
    _, ap = spherical_kmeans(Xp, 4, balanced=True)
    assert adjusted_rand_score(truth.numpy(), ap.numpy()) == 1.0


def blobs(sizes, dim=16, noise=0.3, seed=0):
    """Unequal, overlapping blobs around random directions -> (X, blob labels)."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(len(sizes), dim, generator=g), dim=1)
    labels = torch.arange(len(sizes)).repeat_interleave(torch.tensor(sizes))
    return centres[labels] + noise * torch.randn(len(labels), dim, generator=g) / dim ** 0.5, labels


def size_spread(sizes) -> tuple[int, float, int]:
    sizes = np.asarray(sizes)
    return int(sizes.min()), float(np.median(sizes)), int(sizes.max())


@pytest.mark.parametrize("n, k", [(500, 25), (487, 13), (64, 64)])
def test_balanced_sizes_are_within_one_of_n_over_k_on_random_vectors(n, k):
    X = torch.randn(n, 16, generator=torch.Generator().manual_seed(n))
    _, a = spherical_kmeans(X, k, seed=0, balanced=True)
    sizes = torch.bincount(a, minlength=k).numpy()
    assert np.all(np.abs(sizes - n / k) < 1), sizes  # floor(n/k) or ceil(n/k)


def test_balanced_clusters_per_class_are_the_papers_equal_sizes():
    # classes at the paper's 6:1:2:16 (120/20/40/320 samples), each made of unequal, overlapping
    # blobs: the paper asks for K_c = I_c / min I clusters of about min I = 20 samples each
    parts = {0: [70, 30, 15, 5], 1: [20], 2: [30, 10], 3: [150, 90, 50, 20, 10]}
    X = torch.cat([blobs(sizes, seed=10 + c)[0] for c, sizes in parts.items()])
    cls = torch.cat([torch.full((sum(sizes),), c) for c, sizes in parts.items()])
    balanced = cluster_per_class(X, cls, seed=0, balanced=True)
    plain = cluster_per_class(X, cls, seed=0, balanced=False)
    assert balanced.k_per_class == plain.k_per_class == {0: 6, 1: 1, 2: 2, 3: 16}
    assert size_spread(balanced.sizes) == (20, 20.0, 20)
    # plain spherical k-means follows the blobs instead (measured: 5 / 18 / 45)
    low, _, high = size_spread(plain.sizes)
    assert low <= 10 and high >= 35
    assert torch.equal(balanced.cluster_class[balanced.assignments], cls)


def test_plain_kmeans_recovers_unequal_separable_clusters():
    X, truth = planted(3, 40)
    keep = torch.cat([torch.nonzero(truth == c).flatten()[:n] for c, n in enumerate((40, 22, 9))])
    _, a = spherical_kmeans(X[keep], 3, seed=0)
    assert adjusted_rand_score(truth[keep].numpy(), a.numpy()) == 1.0


def test_clusters_per_class():
    # paper ratio dog:baby:gunshot:background = 6:1:2:16
    assert clusters_per_class({"dog": 600, "baby": 100, "gunshot": 200, "bg": 1600}) == \
        {"dog": 6, "baby": 1, "gunshot": 2, "bg": 16}
    assert clusters_per_class([250, 100, 199]).tolist() == [2, 1, 1]  # floor
    with pytest.raises(DataError):
        clusters_per_class([3, 0])


def test_cluster_per_class_planted():
    # class 0: 2 directions x 20 pts; class 1: 1 direction x 20 pts; class 7: 4 directions x 20
    X, sub = planted(7, 20)
    cls = torch.tensor([0, 0, 1, 7, 7, 7, 7])[sub]
    r = cluster_per_class(X, cls, seed=0)
    assert isinstance(r, ClusterResult)
    assert r.k_per_class == {0: 2, 1: 1, 7: 4}
    assert r.cluster_class.tolist() == [0, 0, 1, 7, 7, 7, 7]
    assert r.sizes.tolist() == [20] * 7 and int(r.sizes.sum()) == len(X)
    assert adjusted_rand_score(sub.numpy(), r.assignments.numpy()) == 1.0
    assert torch.equal(r.cluster_class[r.assignments], cls)
    r2 = cluster_per_class(X, cls, seed=0)
    assert torch.equal(r.assignments, r2.assignments) and torch.equal(r.centroids, r2.centroids)


def test_single_sample_class_and_fallback_when_too_few_distinct_points():
    # class 5 has one sample -> min count 1 -> class 2 (4 samples, 2 distinct) wants K=4
    X = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0],
                      [0.0, 0.0, 1.0]])
    cls = torch.tensor([2, 2, 2, 2, 5])
    with pytest.warns(UserWarning, match="class 2: K_c=4 but only 2 distinct"):
        r = cluster_per_class(X, cls)
    assert r.k_per_class == {2: 2, 5: 1}
    assert r.assignments[4] == 2 and r.cluster_class.tolist() == [2, 2, 5]
    assert r.assignments[0] == r.assignments[3] != r.assignments[1] == r.assignments[2]


def test_label_vector_classes():
    labels = torch.tensor([[1, 0], [0, 0], [1, 0], [1, 1]])
    ids, rows = label_vector_classes(labels)
    assert ids[0] == ids[2] and len(set(ids.tolist())) == 3
    assert torch.equal(rows[ids], labels)


def test_satisfies_constraint_on_nested_geometry():
    # class 0: two sub-clusters around e0 +- 0.7 e1 (centroid cos = 0.51/1.49 = 0.34);
    # class 1: one cluster at e2 (cos 0 to class 0) -> Eq 3 holds for every sample
    g = torch.Generator().manual_seed(0)
    e = torch.eye(8)
    centres = torch.stack([e[0] + 0.7 * e[1], e[0] - 0.7 * e[1], e[2]])
    sub = torch.arange(3).repeat_interleave(15)
    X = centres[sub] + 0.03 * torch.randn(45, 8, generator=g)
    r = cluster_per_class(X, torch.tensor([0, 0, 1])[sub])
    assert adjusted_rand_score(sub.numpy(), r.assignments.numpy()) == 1.0
    assert satisfies_constraint(X, r) == 1.0


def test_satisfies_constraint_hand_example():
    e = torch.eye(3)
    r = ClusterResult(centroids=e, assignments=torch.tensor([0, 0, 2]),
                      cluster_class=torch.tensor([0, 0, 1]), sizes=torch.tensor([2, 0, 1]),
                      k_per_class={0: 2, 1: 1})
    X = torch.stack([e[0] + 0.5 * e[1],   # own .89 > same .45 > other 0 -> ok
                     e[0] + 0.5 * e[2],   # own .89, same 0 < other .45 -> violates
                     e[2]])               # single-cluster class: own 1 > other 0 -> ok
    assert satisfies_constraint(X, r) == pytest.approx(2 / 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors():
    X, sub = planted(4, 30)
    r = cluster_per_class(X.cuda(), (sub // 2).cuda())
    assert r.centroids.is_cuda and r.assignments.is_cuda
    assert adjusted_rand_score(sub.numpy(), r.assignments.cpu().numpy()) == 1.0
