"""StoreDataset / make_loader over a store split: values, normalisation, seeded order, workers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import SequentialSampler

from raresound.data.loader import StoreDataset, make_loader
from raresound.data.manifest import ClipRecord
from raresound.errors import DataError
from raresound.features import FeatureConfig, Normalizer
from raresound.store import FeatureStore, StoreSplit, build_store

N, F, M, L = 37, 5, 4, 3


@pytest.fixture
def split(tmp_path):
    """A split whose row i holds known float16 values, opened read-only like FeatureStore does."""
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, size=(N, F, M)).astype(np.float16)
    path = tmp_path / "train.f16"
    values.tofile(path)
    features = np.memmap(path, dtype=np.float16, mode="r", shape=(N, F, M))
    labels = (rng.random((N, L)) < 0.3).astype(np.float32)
    records = [ClipRecord(f"/x/{i}.wav", (), "train", f"s{i}") for i in range(N)]
    return StoreSplit(features, labels, records, name="train")


def test_items_are_normalised_float32_with_labels_and_index(split):
    norm = Normalizer().fit(split.features)
    ds = StoreDataset(split, norm)
    assert len(ds) == N
    x, y, i = ds[7]
    assert x.dtype == torch.float32 and x.shape == (F, M) and i == 7
    expected = (split.features[7].astype(np.float64) - norm.mean) / norm.std
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(y.numpy(), split.labels[7])
    raw, _, _ = StoreDataset(split)[-1]
    np.testing.assert_array_equal(raw.numpy(), split.features[N - 1].astype(np.float32))
    with pytest.raises(IndexError):
        ds[N]
    with pytest.raises(DataError, match="mel bands"):
        StoreDataset(split, Normalizer(np.zeros(M + 1), np.ones(M + 1)))


def test_batched_fetch_equals_item_fetch_in_the_requested_order(split):
    ds = StoreDataset(split, Normalizer().fit(split.features))
    order = [30, 2, 2, 17, 0, 36]
    batch = ds.__getitems__(order)
    for (x, y, i), want in zip(batch, order):
        xi, yi, ii = ds[want]
        assert i == ii == want
        torch.testing.assert_close(x, xi, rtol=0, atol=0)
        torch.testing.assert_close(y, yi)


def test_loader_is_seeded_and_covers_every_row_once_per_epoch(split):
    ds = StoreDataset(split)
    loader = make_loader(ds, batch_size=8, shuffle=True, seed=3)
    epoch1 = torch.cat([idx for _, _, idx in loader]).tolist()
    epoch2 = torch.cat([idx for _, _, idx in loader]).tolist()
    assert sorted(epoch1) == sorted(epoch2) == list(range(N))
    assert epoch1 != epoch2  # a new permutation each epoch
    again = make_loader(ds, batch_size=8, shuffle=True, seed=3)
    assert torch.cat([idx for _, _, idx in again]).tolist() == epoch1
    other = make_loader(ds, batch_size=8, shuffle=True, seed=4)
    assert torch.cat([idx for _, _, idx in other]).tolist() != epoch1

    x, y, idx = next(iter(make_loader(ds, batch_size=8, shuffle=False)))
    assert x.shape == (8, F, M) and x.dtype == torch.float32 and y.shape == (8, L)
    assert idx.tolist() == list(range(8))
    np.testing.assert_array_equal(x.numpy(), split.features[:8].astype(np.float32))
    assert sum(1 for _ in make_loader(ds, batch_size=8, drop_last=True)) == N // 8


def test_loader_follows_a_given_sampler(split):
    class Reversed(SequentialSampler):
        def __iter__(self):
            return iter(range(N - 1, -1, -1))

    ds = StoreDataset(split)
    loader = make_loader(ds, batch_size=10, shuffle=True, sampler=Reversed(ds))
    assert torch.cat([idx for _, _, idx in loader]).tolist() == list(range(N - 1, -1, -1))


def test_dataset_pickles_without_copying_the_memmap_and_works_in_workers(split):
    ds = StoreDataset(split, Normalizer().fit(split.features))
    blob = pickle.dumps(ds)
    in_ram = StoreSplit(np.array(split.features), split.labels, split.records, split.name)
    copied = pickle.dumps(StoreDataset(in_ram, ds.normalizer))
    # The memmap is reopened by path, not copied (the path/shape it pickles instead cost ~100 bytes).
    assert len(copied) - len(blob) >= 0.9 * split.features.nbytes
    clone = pickle.loads(blob)
    assert isinstance(clone.features, np.memmap)
    torch.testing.assert_close(clone[5][0], ds[5][0])
    in_workers = make_loader(ds, batch_size=16, shuffle=True, seed=1, num_workers=1)
    in_process = make_loader(ds, batch_size=16, shuffle=True, seed=1)
    for (xa, ya, ia), (xb, yb, ib) in zip(in_workers, in_process):
        assert torch.equal(ia, ib) and torch.equal(xa, xb) and torch.equal(ya, yb)


def test_loader_over_a_built_store_with_train_only_normaliser(tmp_path):
    rng = np.random.default_rng(5)
    rows = ["path,labels,split,source_id"]
    for i in range(6):
        gain = 0.5 if i < 4 else 0.01  # val clips are much quieter: different statistics
        sf.write(tmp_path / f"c{i}.wav", (gain * rng.standard_normal(8000)).astype(np.float32), 16000)
        rows.append(f"c{i}.wav,{'dog' if i % 2 else ''},{'train' if i < 4 else 'val'},s{i}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    build_store(tmp_path / "m.csv", tmp_path / "store", FeatureConfig(clip_seconds=0.5), workers=1, progress=False)
    store = FeatureStore(tmp_path / "store")
    train, val = store.split("train"), store.split("val")
    norm = Normalizer().fit(train.features)
    x, y, idx = next(iter(make_loader(StoreDataset(train, norm), batch_size=4, shuffle=False)))
    assert x.shape == (4, 50, 64)
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std(unbiased=False)) - 1) < 1e-2
    np.testing.assert_array_equal(y[:, 0].numpy(), [0, 1, 0, 1])
    xv, _, _ = next(iter(make_loader(StoreDataset(val, norm), batch_size=2, shuffle=False)))
    assert float(xv.mean()) < -1.0  # quiet val clips stay below the train mean: no leakage
