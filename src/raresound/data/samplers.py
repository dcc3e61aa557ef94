"""Imbalance-aware samplers. All are seeded, reshuffle per epoch via `set_epoch` (like
torch.utils.data.DistributedSampler) and shard under DDP with `num_replicas`/`rank`: every rank
builds the same global epoch order from (seed, epoch), pads it to a multiple of num_replicas by
wrapping around (as DistributedSampler does), and takes positions rank, rank + R, ...

- ClassBalancedSampler: each class equally likely per draw (class-level re-sampling, the classic
  baseline studied in Huang et al., CVPR 2016, Sec. 2).
- BackgroundUndersampler: keeps every event clip, draws a fresh background subset each epoch.
- ClusterBalancedBatchSampler: batches spread evenly over clusters, for LMLE's cluster-level
  balance (Huang et al. 2016) and for THCE-style clustered embeddings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from raresound.errors import DataError


def _as_ids(ids, name: str) -> np.ndarray:
    array = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if array.ndim != 1 or array.size == 0:
        raise DataError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    return array.astype(np.int64)


class _EpochSharded:
    """Shared seed/epoch/replica bookkeeping."""

    def __init__(self, seed: int, num_replicas: int, rank: int):
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need num_replicas >= 1 and 0 <= rank < num_replicas, got {num_replicas}, {rank}")
        self.seed, self.num_replicas, self.rank, self.epoch = int(seed), num_replicas, rank, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])

    def _shard(self, global_order: np.ndarray) -> np.ndarray:
        total = math.ceil(len(global_order) / self.num_replicas) * self.num_replicas
        padded = np.resize(global_order, total) if total != len(global_order) else global_order
        return padded[self.rank::self.num_replicas]


def _members_by_id(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct ids, sizes, indices sorted by id) so members of id k are a contiguous slice."""
    order = np.argsort(ids, kind="stable")
    distinct, sizes = np.unique(ids, return_counts=True)
    return distinct, sizes, order


class ClassBalancedSampler(_EpochSharded, Sampler[int]):
    """Draws `num_samples` indices (default: data set size) with replacement, class uniform, then
    clip uniform within the class. Classes are the distinct values of class_ids (use the
    background id from `to_single_label` for background clips)."""

    def __init__(self, class_ids, num_samples: int | None = None, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        super().__init__(seed, num_replicas, rank)
        self.class_ids = _as_ids(class_ids, "class_ids")
        self.num_samples = len(self.class_ids) if num_samples is None else int(num_samples)
        self.classes, self.sizes, self.by_class = _members_by_id(self.class_ids)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

    def global_order(self) -> np.ndarray:
        rng = self._rng()
        cls = rng.integers(len(self.classes), size=self.num_samples)
        within = rng.integers(self.sizes[cls])  # elementwise upper bounds
        return self.by_class[self.offsets[cls] + within]

    def __iter__(self) -> Iterator[int]:
        return iter(self._shard(self.global_order()).tolist())

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.num_replicas)


class BackgroundUndersampler(_EpochSharded, Sampler[int]):
    """All event clips every epoch plus a fresh random background subset (without replacement),
    shuffled together. Give exactly one of `ratio` (background kept per event clip) or
    `fraction` (share of the background kept)."""

    def __init__(self, class_ids, background_id: int, ratio: float | None = None, fraction: float | None = None,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0):
        super().__init__(seed, num_replicas, rank)
        if (ratio is None) == (fraction is None):
            raise ValueError("give exactly one of ratio or fraction")
        ids = _as_ids(class_ids, "class_ids")
        self.events = np.flatnonzero(ids != background_id)
        self.background = np.flatnonzero(ids == background_id)
        if ratio is not None:
            if ratio < 0:
                raise ValueError(f"ratio must be >= 0, got {ratio}")
            wanted = round(ratio * len(self.events))
        else:
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"fraction must be in [0, 1], got {fraction}")
            wanted = round(fraction * len(self.background))
        self.n_background = min(int(wanted), len(self.background))

    def global_order(self) -> np.ndarray:
        rng = self._rng()
        kept = rng.choice(self.background, size=self.n_background, replace=False)
        return rng.permutation(np.concatenate([self.events, kept]))

    def __iter__(self) -> Iterator[int]:
        return iter(self._shard(self.global_order()).tolist())

    def __len__(self) -> int:
        return math.ceil((len(self.events) + self.n_background) / self.num_replicas)


class ClusterBalancedBatchSampler(_EpochSharded, Sampler[list[int]]):
    """Yields batches (lists of indices) with batch_size // K members from every cluster and the
    remainder from clusters chosen at random per batch. Within a cluster, members are taken from a
    reshuffled cycle, so small clusters are repeated (over-sampled) and large ones are visited
    without repetition until exhausted. num_batches defaults to ceil(I / batch_size)."""

    def __init__(self, cluster_ids, batch_size: int, seed: int = 0, num_batches: int | None = None,
                 num_replicas: int = 1, rank: int = 0):
        super().__init__(seed, num_replicas, rank)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.cluster_ids = _as_ids(cluster_ids, "cluster_ids")
        self.batch_size = batch_size
        self.num_batches = math.ceil(len(self.cluster_ids) / batch_size) if num_batches is None else int(num_batches)
        self.clusters, self.sizes, self.by_cluster = _members_by_id(self.cluster_ids)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

    def _slots_per_cluster(self, rng: np.random.Generator) -> np.ndarray:
        """[num_batches, K] number of members each cluster contributes to each batch."""
        k = len(self.clusters)
        base, extra = divmod(self.batch_size, k)
        slots = np.full((self.num_batches, k), base, dtype=np.int64)
        if extra:
            chosen = np.argsort(rng.random((self.num_batches, k)), axis=1)[:, :extra]
            np.put_along_axis(slots, chosen, base + 1, axis=1)
        return slots

    def global_batches(self) -> list[list[int]]:
        rng = self._rng()
        slots = self._slots_per_cluster(rng)
        batch_of, members = [], []
        for k, size in enumerate(self.sizes):  # loop over clusters, not points
            needed = int(slots[:, k].sum())
            cycles = -(-needed // size)
            # `cycles` independent permutations of the cluster, one row each, read in order
            stream = np.argsort(rng.random((cycles, size)), axis=1).ravel()[:needed]
            members.append(self.by_cluster[self.offsets[k] + stream])
            batch_of.append(np.repeat(np.arange(self.num_batches), slots[:, k]))
        batch_of, members = np.concatenate(batch_of), np.concatenate(members)
        members = members[np.argsort(batch_of, kind="stable")]
        shuffled = [rng.permutation(b) for b in np.split(members, np.cumsum(slots.sum(axis=1))[:-1])]
        return [b.tolist() for b in shuffled]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.global_batches()
        picked = self._shard(np.arange(len(batches)))
        return iter([batches[i] for i in picked])

    def __len__(self) -> int:
        return math.ceil(self.num_batches / self.num_replicas)
