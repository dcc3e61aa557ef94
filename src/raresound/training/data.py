"""From a feature store to what the recipes consume: datasets, loaders, class statistics.

The normaliser is fitted on the (possibly ratio-subsampled) training split only and travels with
every model bundle. Items are `(x [F, M] float32, y [L] float32, i)` where `i` is the position in
*this* dataset — clustering assignments are indexed by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from raresound.data.checks import check_counts, count_labels, shared_sources, warn
from raresound.data.loader import StoreDataset, make_loader
from raresound.data.ratio import BACKGROUND, check_ratio_classes, parse_ratio, subsample_to_ratio
from raresound.errors import DataError
from raresound.features import Normalizer
from raresound.store import FeatureStore
from raresound.training import distributed as dist
from raresound.workers import die_with_parent


class SplitDataset(Dataset):
    """A store split restricted to `indices` (all by default), normalised on the fly."""

    def __init__(self, split, normalizer: Normalizer, indices: np.ndarray | None = None):
        self.base = StoreDataset(split, normalizer)
        self.indices = np.arange(len(split)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.targets = np.asarray(split.labels, dtype=np.float32)[self.indices]
        self.features = split.features  # raw float16 memmap (shape only; reading goes through base)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        x, y, _ = self.base[int(self.indices[i])]
        return x, y, i

    def __getitems__(self, positions):
        """Batched read: one sorted gather from the memmap for the whole batch."""
        items = self.base.__getitems__([int(self.indices[p]) for p in positions])
        return [(x, y, int(p)) for (x, y, _), p in zip(items, positions)]

    def rows(self, positions) -> torch.Tensor:
        """Normalised features [len(positions), F, M] for dataset positions."""
        return torch.from_numpy(self.base._rows([int(self.indices[p]) for p in positions]))


@dataclass
class TrainingData:
    store: FeatureStore
    classes: list[str]
    normalizer: Normalizer
    train: SplitDataset
    val: Optional[SplitDataset]

    @property
    def train_targets(self) -> np.ndarray:
        return self.train.targets

    def class_counts(self) -> np.ndarray:
        """I_l: positives per event class in the training split."""
        return self.train_targets.sum(axis=0)


def label_vector_ids(targets: np.ndarray, vocabulary: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paper's 'class': each distinct label vector (background is a class) -> an integer id.
    With `vocabulary` (from the training split), rows not in it get -1."""
    targets = (np.asarray(targets) > 0.5).astype(np.int8)
    if vocabulary is None:
        vocabulary, ids = np.unique(targets, axis=0, return_inverse=True)
        return ids.reshape(-1).astype(np.int64), vocabulary
    lookup = {row.tobytes(): i for i, row in enumerate(vocabulary.astype(np.int8))}
    ids = np.array([lookup.get(row.tobytes(), -1) for row in targets], dtype=np.int64)
    return ids, vocabulary


def store_ratio(ratio: str, classes: str | None, store_classes) -> dict[str, int]:
    """A recipe's ratio as {class: weight}, checked against the store: a positional ratio needs
    `classes` (the store's own order is alphabetical, not the paper's), and the names must be
    exactly the store's classes + background."""
    weights = parse_ratio(ratio, classes, field="data.ratio")
    check_ratio_classes(weights, [*store_classes, BACKGROUND], "data.ratio", where="the store's classes")
    return weights


def ratio_indices(split, ratio: str | Mapping[str, int], classes: str | None, seed: int) -> np.ndarray:
    """Indices of a split subsampled to a class ratio (deterministic, see data.ratio)."""
    weights = parse_ratio(ratio, classes, field="data.ratio")
    records = list(split.records)
    kept = subsample_to_ratio(records, weights, seed=seed, splits=(records[0].split,)) if records else []
    keep = {(r.path, r.onset, r.offset) for r in kept}
    return np.array([i for i, r in enumerate(records) if (r.path, r.onset, r.offset) in keep], dtype=np.int64)


def load_training_data(store_dir: str | Path, ratio: str | None = None, ratio_classes: str | None = None,
                       seed: int = 0, require_val: bool = False) -> TrainingData:
    """The store's splits as datasets, checked first (`_check_splits`): with `require_val` (every
    method that trains stages: early stopping and the val EER need it) a missing or empty 'val'
    split is refused, where training would otherwise run to the end with `val nan`."""
    store = FeatureStore(store_dir)
    if "train" not in store.splits:
        raise DataError(f"{store_dir}: the store has no 'train' split (splits: {store.splits})")

    weights = store_ratio(ratio, ratio_classes, store.classes) if ratio is not None else None

    def subset(name: str) -> SplitDataset | None:
        if name not in store.splits:
            return None
        split = store.split(name)
        indices = None
        if weights is not None:
            indices = ratio_indices(split, weights, None, seed)
        return split, indices

    train_split, train_idx = subset("train")
    if len(train_split) == 0 or (train_idx is not None and len(train_idx) == 0):
        raise DataError(f"{store_dir}: the 'train' split is empty")
    targets = np.asarray(train_split.labels)[train_idx if train_idx is not None else slice(None)]
    val_pair = subset("val")
    if len(targets) < 2:
        raise DataError(f"{store_dir}: the 'train' split has {len(targets)} clip; a detector needs clips with and "
                        "without each class to learn from")
    always = [c for c, n in zip(store.classes, (np.asarray(targets) > 0.5).sum(axis=0)) if n == len(targets)]
    if always:
        raise DataError(f"{store_dir}: every 'train' clip carries {', '.join(always)} (need >= 1 clip without "
                        "each class to learn a detector for it)")
    if require_val and (val_pair is None or len(val_pair[0]) == 0 or
                        (val_pair[1] is not None and len(val_pair[1]) == 0)):
        raise DataError(f"{store_dir}: the store has no 'val' clips (splits: {', '.join(store.splits)}); training "
                        "needs a validation split for early stopping and the val EER (give some clips split 'val')")
    _check_splits(store, store_dir, targets, val_pair)
    rows = np.sort(train_idx) if train_idx is not None else None
    normalizer = Normalizer().fit(_chunks(train_split.features, rows))
    train = SplitDataset(train_split, normalizer, train_idx)
    val = SplitDataset(val_pair[0], normalizer, val_pair[1]) if val_pair is not None and len(val_pair[0]) else None
    return TrainingData(store, list(store.classes), normalizer, train, val)


def _check_splits(store: FeatureStore, store_dir, train_targets: np.ndarray, val_pair) -> None:
    """Before any training: train and val (as subsampled) must be usable (data.checks); the test
    split is only warned about, since training does not need it but `evaluate` will."""
    counts = [count_labels("train", train_targets, store.classes)]
    if val_pair is not None and len(val_pair[0]):
        split, idx = val_pair
        counts.append(count_labels("val", np.asarray(split.labels)[idx if idx is not None else slice(None)],
                                   store.classes))
    if "test" in store.splits:
        counts.append(count_labels("test", store.split("test").labels, store.classes))
    warnings = check_counts(counts, warn_only=("test",), where=str(store_dir))
    if "test" in store.splits:
        sources = {"train": [r.source_id for r in store.split("train").records],
                   "test": [r.source_id for r in store.split("test").records]}
        warnings += shared_sources(sources, where=str(store_dir))
    if dist.is_main():
        warn(warnings)


def _chunks(features, rows: np.ndarray | None, size: int = 256):
    n = len(features) if rows is None else len(rows)
    if isinstance(features, np.memmap) and features.filename:
        yield from _file_chunks(features, rows, n, size)
        return
    for start in range(0, n, size):
        if rows is None:
            yield np.asarray(features[start:start + size], dtype=np.float32)
        else:
            yield np.asarray(features[rows[start:start + size]], dtype=np.float32)


def loader(dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0,
           sampler=None, batch_sampler=None, pin_memory: bool = False) -> DataLoader:
    """Seeded loader; a DistributedSampler shards the data (per-rank batch = batch_size).

    It is used in a single process too (one replica), so the epoch order is a function of
    (seed, epoch) alone and R ranks x batch B see, batch for batch, the same clips as one process
    with batch R*B: a multi-GPU run can be reproduced (and checked) on one device."""
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers, pin_memory=pin_memory,
                          worker_init_fn=die_with_parent if num_workers > 0 else None)
    if sampler is None:
        sampler = DistributedSampler(dataset, num_replicas=dist.world_size(), rank=dist.rank(), shuffle=shuffle,
                                     seed=seed, drop_last=False)
    return make_loader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, seed=seed,
                       sampler=sampler, num_workers=num_workers, pin_memory=pin_memory)


@torch.no_grad()
def embed_dataset(model, dataset, batch_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed a whole split in eval mode. Under DDP each rank embeds its shard and the rows are
    gathered, so every rank returns all (embedding, index) pairs, ordered by index."""
    indices = np.arange(len(dataset))
    if dist.is_distributed():
        indices = indices[dist.rank()::dist.world_size()]
    was_training = model.training
    model.eval()
    chunks, idx_chunks = [], []
    for start in range(0, len(indices), batch_size):
        idx = indices[start:start + batch_size]
        x = dataset.rows(idx).to(device)
        chunks.append(model.embed(x).float())
        idx_chunks.append(torch.as_tensor(idx, device=chunks[-1].device))
    model.train(was_training)
    if not chunks:  # fewer clips than ranks: this rank's shard is empty
        chunks = [torch.zeros((0, model.backbone.embedding_dim), device=device)]
        idx_chunks = [torch.zeros(0, dtype=torch.int64, device=device)]
    emb = dist.all_gather_rows(torch.cat(chunks))
    idx_all = dist.all_gather_rows(torch.cat(idx_chunks))
    order = torch.argsort(idx_all)
    return emb[order].cpu(), idx_all[order].cpu()


def _file_chunks(features: np.memmap, rows: np.ndarray | None, n: int, size: int):
    """The same blocks read with plain file reads: one pass over a paper-size split (~7 GB) then
    goes through the page cache without mapping every page into this process (RSS stays flat)."""
    shape, dtype = features.shape[1:], features.dtype
    row_items = int(np.prod(shape))
    row_bytes = row_items * dtype.itemsize
    with open(features.filename, "rb") as f:
        for start in range(0, n, size):
            if rows is None:
                m = min(size, n - start)
                f.seek(features.offset + start * row_bytes)
                block = np.fromfile(f, dtype=dtype, count=m * row_items).reshape(m, *shape)
            else:
                block = np.empty((len(rows[start:start + size]), *shape), dtype=dtype)
                for j, r in enumerate(rows[start:start + size]):
                    f.seek(features.offset + int(r) * row_bytes)
                    block[j] = np.fromfile(f, dtype=dtype, count=row_items).reshape(shape)
            yield block.astype(np.float32)
