"""Spherical k-means and per-class clustering of embeddings (paper Section 3.1).

Every function is a pure function of (embeddings, class ids, seed): under DDP the caller gathers
embeddings on rank 0, calls `cluster_per_class` there and broadcasts the result.

Similarity is cosine (inputs are L2-normalised here); all [N, k] similarity matrices are built in
row chunks so memory stays bounded for N = 160K and beyond. Tensors may live on CPU or GPU;
results are returned on the input's device (numpy input -> CPU tensors).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from raresound.errors import DataError

CHUNK_ELEMENTS = 1 << 22  # similarity entries per chunk (16 MiB of float32)
DUPLICATE_EPS = 1e-6  # 1 - cos below this: the two unit vectors count as the same point


def _unit_rows(X) -> Tensor:
    X = torch.as_tensor(X)
    if X.dim() != 2 or X.shape[0] == 0:
        raise DataError(f"embeddings must be a non-empty [N, D] array, got shape {tuple(X.shape)}")
    return F.normalize(X.float(), dim=1)


def _chunks(X: Tensor, k: int):
    rows = max(1, CHUNK_ELEMENTS // max(k, 1))
    for start in range(0, X.shape[0], rows):
        yield start, X[start:start + rows]


def _best(X: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """Max cosine and argmax centroid per row (ties go to the lowest index)."""
    best = torch.empty(X.shape[0], device=X.device)
    idx = torch.empty(X.shape[0], dtype=torch.long, device=X.device)
    for start, chunk in _chunks(X, C.shape[0]):
        best[start:start + chunk.shape[0]], idx[start:start + chunk.shape[0]] = (chunk @ C.t()).max(dim=1)
    return best, idx


def _seed_centroids(X: Tensor, k: int, rng: np.random.Generator) -> Tensor:
    """k-means++ on the sphere: D^2 sampling with D^2 = 1 - cos (proportional to ||x - c||^2).

    Returns the indices of up to k distinct points; fewer when X has fewer distinct points.
    """
    chosen = [int(rng.integers(X.shape[0]))]
    closest = X @ X[chosen[0]]
    while len(chosen) < k:
        d2 = (1.0 - closest).clamp_min(0).double().cpu().numpy()
        d2[d2 < DUPLICATE_EPS] = 0.0
        total = d2.sum()
        if total <= 0:  # every point coincides with a chosen centre
            break
        chosen.append(int(rng.choice(X.shape[0], p=d2 / total)))
        closest = torch.maximum(closest, X @ X[chosen[-1]])
    return torch.tensor(chosen, dtype=torch.long, device=X.device)


def _balanced_assign(X: Tensor, C: Tensor) -> Tensor:
    """Greedy size-balanced assignment: points in order of decreasing best similarity each take
    their most similar centroid that still has room; r = N mod k clusters hold ceil(N/k) points,
    the others floor(N/k)."""
    n, k = X.shape[0], C.shape[0]
    sims = torch.empty(n, k)
    for start, chunk in _chunks(X, k):
        sims[start:start + chunk.shape[0]] = (chunk @ C.t()).cpu()
    preference = torch.argsort(sims, dim=1, descending=True).numpy()
    order = torch.argsort(sims.max(dim=1).values, descending=True, stable=True).numpy()
    q, r = divmod(n, k)
    counts = np.zeros(k, dtype=np.int64)
    n_big = 0
    assign = np.empty(n, dtype=np.int64)
    for i in order:
        for c in preference[i]:
            if counts[c] < q or (counts[c] == q and n_big < r):
                if counts[c] == q:
                    n_big += 1
                counts[c] += 1
                assign[i] = c
                break
    return torch.from_numpy(assign).to(X.device)


def _update_centroids(X: Tensor, assign: Tensor, old: Tensor) -> Tensor:
    k = old.shape[0]
    sums = torch.zeros_like(old)
    # one-hot^T @ X per chunk: a BLAS matmul, several times faster than index_add_ on CPU
    for start, chunk in _chunks(X, k):
        a = assign[start:start + chunk.shape[0]]
        onehot = torch.zeros(chunk.shape[0], k, device=X.device).scatter_(1, a[:, None], 1.0)
        sums += onehot.t() @ chunk
    norms = sums.norm(dim=1, keepdim=True)
    # a cluster whose points cancel out (or that is empty) keeps its previous direction
    return torch.where(norms > 1e-12, sums / norms.clamp_min(1e-12), old)


def _reseed_empty(X: Tensor, C: Tensor, assign: Tensor, sim_own: Tensor) -> None:
    """In place: move each empty centroid onto the point farthest from its own centroid and assign
    that point to it (never emptying a donor cluster)."""
    k = C.shape[0]
    sizes = torch.bincount(assign, minlength=k)
    empty = torch.nonzero(sizes == 0).flatten().tolist()
    if not empty:
        return
    sizes = sizes.tolist()
    for i in torch.argsort(sim_own, stable=True).tolist():
        if not empty:
            break
        donor = int(assign[i])
        if sizes[donor] > 1:
            c = empty.pop(0)
            C[c] = X[i]
            assign[i] = c
            sizes[donor] -= 1
            sizes[c] = 1


def _spherical_kmeans(X: Tensor, k: int, seed: int, max_iter: int, balanced: bool,
                      init: Tensor | None = None):
    """Core loop on unit rows X; may return fewer than k clusters when X has < k distinct points."""
    if init is not None:
        C = _unit_rows(init).to(X.device).clone()
    else:
        C = X[_seed_centroids(X, k, np.random.default_rng(seed))].clone()
    assign = None
    for _ in range(max_iter):
        if balanced:
            new = _balanced_assign(X, C)
        else:
            sim_own, new = _best(X, C)
            _reseed_empty(X, C, new, sim_own)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        C = _update_centroids(X, assign, C)
    return C, assign


def spherical_kmeans(X, k: int, seed: int = 0, max_iter: int = 100, balanced: bool = False,
                     init=None) -> tuple[Tensor, Tensor]:
    """Cluster rows of X [N, D] by cosine similarity -> (centroids [k, D] unit-norm, assignments [N]).

    Seeding is k-means++ with D^2 = 1 - cos; Lloyd iterations stop when assignments settle
    (or after max_iter). Empty clusters are re-seeded from the points farthest from their
    centroid. `balanced=True` replaces the nearest-centroid step by a greedy size-balanced
    assignment (each cluster gets floor(N/k) or ceil(N/k) points). Plain spherical k-means keeps
    every sample nearest its own centroid (Eq 3's first inequality) but follows the data's own
    sizes; the balanced variant gives the paper's roughly equal-size clusters, which is why the
    recipes use it by default (`proposed.balanced_clusters`), at a Python pass over N per iteration.
    `init` [k, D] replaces seeding (e.g. warm start from the previous round's centroids).
    Raises DataError when k exceeds the number of distinct points.
    """
    X = _unit_rows(X)
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}")
    if init is not None and tuple(torch.as_tensor(init).shape) != (k, X.shape[1]):
        raise DataError(f"init must be [{k}, {X.shape[1]}], got {tuple(torch.as_tensor(init).shape)}")
    if k > X.shape[0]:
        raise DataError(f"cannot make {k} clusters from {X.shape[0]} points")
    C, assign = _spherical_kmeans(X, k, seed, max_iter, balanced, init)
    if C.shape[0] < k:
        raise DataError(f"cannot make {k} clusters from {C.shape[0]} distinct points")
    return C, assign


def clusters_per_class(counts):
    """K_c = floor(I_c / min_c' I_c') (>= 1). dict -> dict, array-like -> np.ndarray of ints."""
    values = np.asarray(list(counts.values()) if isinstance(counts, dict) else counts, dtype=np.int64)
    if values.size == 0 or (values <= 0).any():
        raise DataError(f"every class needs at least one sample, got counts {values.tolist()}")
    k = np.maximum(values // values.min(), 1)
    return dict(zip(counts.keys(), k.tolist())) if isinstance(counts, dict) else k


@dataclass
class ClusterResult:
    centroids: Tensor      # [K, D] unit-norm, grouped by class (ascending class id)
    assignments: Tensor    # [I] global cluster index per sample
    cluster_class: Tensor  # [K] class id of each cluster
    sizes: Tensor          # [K] samples per cluster
    k_per_class: dict      # class id -> number of clusters actually used


def cluster_per_class(embeddings, class_ids, seed: int = 0, balanced: bool = False,
                      max_iter: int = 100) -> ClusterResult:
    """Spherical k-means inside each class with K_c = floor(I_c / min I) clusters.

    `class_ids` [I] are ints, one per sample (a class is a distinct label vector; see
    `label_vector_classes`). A class with fewer distinct points than K_c gets one cluster per
    distinct point and a warning. Each class is clustered with its own seed derived from
    (seed, class id), so the result does not depend on class order or on other classes.
    """
    X = _unit_rows(embeddings)
    ids = torch.as_tensor(class_ids).to(device=X.device, dtype=torch.long).flatten()
    if ids.shape[0] != X.shape[0]:
        raise DataError(f"{X.shape[0]} embeddings but {ids.shape[0]} class ids")
    classes, counts = torch.unique(ids, return_counts=True)
    wanted = clusters_per_class(counts.cpu().numpy())
    centroids, cluster_class, k_used = [], [], {}
    assignments = torch.empty_like(ids)
    offset = 0
    for cls, k in zip(classes.tolist(), wanted.tolist()):
        members = torch.nonzero(ids == cls).flatten()
        class_seed = int(np.random.SeedSequence([seed, cls]).generate_state(1)[0])
        C, a = _spherical_kmeans(X[members], k, class_seed, max_iter, balanced)
        if C.shape[0] < k:
            warnings.warn(f"class {cls}: K_c={k} but only {C.shape[0]} distinct embeddings; "
                          f"using {C.shape[0]} clusters", stacklevel=2)
        centroids.append(C)
        cluster_class += [cls] * C.shape[0]
        assignments[members] = a + offset
        k_used[cls] = C.shape[0]
        offset += C.shape[0]
    K = offset
    return ClusterResult(
        centroids=torch.cat(centroids),
        assignments=assignments,
        cluster_class=torch.tensor(cluster_class, dtype=torch.long, device=X.device),
        sizes=torch.bincount(assignments, minlength=K),
        k_per_class=k_used,
    )


def label_vector_classes(labels) -> tuple[Tensor, Tensor]:
    """Map multi-hot label rows [I, L] to class ids: (class_ids [I], distinct rows [C, L])."""
    rows, ids = torch.unique(torch.as_tensor(labels), dim=0, return_inverse=True)
    return ids, rows


def satisfies_constraint(embeddings, result: ClusterResult) -> float:
    """Fraction of samples meeting the paper's Eq 3 ordering of cosine similarities:

        cos(e, own centroid) > max cos(e, other centroids of its class) > max cos(e, other classes)

    When the sample's class has a single cluster the middle term is vacuous and the test is
    own > other classes; with a single class overall the last term is vacuous too.
    """
    X = _unit_rows(embeddings)
    C = result.centroids.to(X.device).float()
    cc = result.cluster_class.to(X.device)
    assign = result.assignments.to(X.device)
    ok = 0
    K = C.shape[0]
    for start, chunk in _chunks(X, K):
        a = assign[start:start + chunk.shape[0]]
        sims = chunk @ C.t()
        own = sims.gather(1, a[:, None]).squeeze(1)
        same_class = cc[None, :] == cc[a][:, None]
        not_own = torch.ones_like(same_class)
        not_own[torch.arange(a.shape[0]), a] = False
        minus_inf = torch.tensor(float("-inf"), device=X.device)
        same = torch.where(same_class & not_own, sims, minus_inf).max(dim=1).values
        other = torch.where(~same_class, sims, minus_inf).max(dim=1).values
        has_same = torch.isfinite(same)
        good = torch.where(has_same, (own > same) & (same > other), own > other)
        ok += int(good.sum())
    return ok / X.shape[0]
