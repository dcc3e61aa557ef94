"""Torch Dataset/DataLoader over one split of a feature store.

Reading stays cheap: a batch's float16 rows are gathered from the memmap in one sorted read and
converted + normalised as one array (`__getitems__`, which DataLoader calls with a batch's
indices), rather than per clip. Only the pages of the rows asked for are read, so training never
needs the split in RAM.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from raresound.errors import DataError
from raresound.features import Normalizer
from raresound.store import StoreSplit
from raresound.workers import die_with_parent


class StoreDataset(Dataset):
    """Items are ``(x: float32 Tensor[F, M] (normalised if a normaliser is given), y: float32
    Tensor[L], index: int)``, `index` being the row in the split."""

    def __init__(self, split: StoreSplit, normalizer: Normalizer | None = None):
        self.split_name = split.name
        self.records = split.records
        self.labels = torch.from_numpy(np.ascontiguousarray(split.labels, dtype=np.float32))
        self.normalizer = normalizer
        if normalizer is not None:
            if normalizer.mean.shape[0] != split.features.shape[-1]:
                raise DataError(
                    f"split {split.name!r}: features have {split.features.shape[-1]} mel bands, "
                    f"normaliser {normalizer.mean.shape[0]}"
                )
            self._mean = normalizer.mean.astype(np.float32)
            self._inv_std = (1.0 / normalizer.std).astype(np.float32)
        self._features = split.features
        self._memmap_args = None
        if isinstance(split.features, np.memmap):
            mm = split.features
            self._memmap_args = (mm.filename, mm.dtype, mm.shape, mm.offset)

    # A memmap must not be pickled into DataLoader worker processes (pickling copies the whole
    # array); workers reopen the file instead.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self._memmap_args is not None:
            state["_features"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._features is None:
            filename, dtype, shape, offset = self._memmap_args
            self._features = np.memmap(filename, dtype=dtype, mode="r", shape=shape, offset=offset)

    @property
    def features(self) -> np.ndarray:
        return self._features

    def __len__(self) -> int:
        return self._features.shape[0]

    def _rows(self, indices: Sequence[int]) -> np.ndarray:
        """float32 [len(indices), F, M], normalised; one sorted gather from the memmap."""
        idx = np.asarray(indices, dtype=np.int64)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for split {self.split_name!r} of {n} clips")
        idx = np.where(idx < 0, idx + n, idx)
        order = np.argsort(idx, kind="stable")
        rows = np.empty((idx.size,) + self._features.shape[1:], dtype=np.float32)
        rows[order] = self._features[idx[order]]  # float16 -> float32 in the assignment
        if self.normalizer is not None:
            rows -= self._mean
            rows *= self._inv_std
        return rows

    def __getitem__(self, index: int):
        index = int(index)
        x = torch.from_numpy(self._rows([index])[0])
        if index < 0:
            index += len(self)
        return x, self.labels[index], index

    def __getitems__(self, indices: Sequence[int]) -> list:
        rows = torch.from_numpy(self._rows(indices))
        n = len(self)
        return [(rows[j], self.labels[int(i)], int(i) % n) for j, i in enumerate(indices)]


def make_loader(
    dataset: Dataset,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    sampler: Sampler | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader whose order is fixed by `seed` (its own torch.Generator, not global state).

    With a `sampler` (e.g. class-balanced) the sampler decides the order and `shuffle` is ignored.
    """
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=bool(shuffle) if sampler is None else False,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=num_workers > 0,
        worker_init_fn=die_with_parent if num_workers > 0 else None,  # no orphans after a kill -9
    )
