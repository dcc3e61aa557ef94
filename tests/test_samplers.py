import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from raresound.data.samplers import BackgroundUndersampler, ClassBalancedSampler, ClusterBalancedBatchSampler

IMBALANCED = np.array([0] * 90 + [1] * 9 + [2])


def test_class_balanced_frequencies():
    sampler = ClassBalancedSampler(IMBALANCED, num_samples=30000, seed=0)
    drawn = np.array(list(sampler))
    freq = np.bincount(IMBALANCED[drawn], minlength=3) / len(drawn)
    # each class 1/3; binomial std = sqrt(2/9 / 30000) ~ 0.0027, tolerance ~ 7 std
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.02)
    # uniform within a class: the 9 members of class 1 each get ~1/9 of its draws
    within = np.bincount(drawn[IMBALANCED[drawn] == 1] - 90, minlength=9) / (freq[1] * len(drawn))
    np.testing.assert_allclose(within, [1 / 9] * 9, atol=0.02)


def test_determinism_and_epochs():
    a, b = ClassBalancedSampler(IMBALANCED, seed=3), ClassBalancedSampler(IMBALANCED, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and len(list(a)) == len(a) == 100
    assert list(ClassBalancedSampler(IMBALANCED, seed=4)) != first


@pytest.mark.parametrize("make", [
    lambda r, R: ClassBalancedSampler(IMBALANCED, num_samples=50, seed=1, num_replicas=R, rank=r),
    lambda r, R: BackgroundUndersampler(IMBALANCED, background_id=0, ratio=2.0, seed=1, num_replicas=R, rank=r),
])
def test_ddp_shards_interleave_to_the_global_order(make):
    replicas = 3
    shards = [list(make(r, replicas)) for r in range(replicas)]
    assert len({len(s) for s in shards}) == 1  # equal lengths, as DDP needs
    global_order = list(make(0, 1))
    interleaved = [s[i] for i in range(len(shards[0])) for s in shards]
    padded = (global_order * 2)[:len(interleaved)]  # wrap-around padding like DistributedSampler
    assert interleaved == padded


def test_background_undersampler_keeps_all_events_and_resamples_background():
    sampler = BackgroundUndersampler(IMBALANCED, background_id=0, ratio=2.0, seed=0)
    seen_background = set()
    for epoch in range(20):
        sampler.set_epoch(epoch)
        order = np.array(list(sampler))
        assert len(order) == len(sampler) == 10 + 20 and len(set(order)) == len(order)
        assert sorted(order[IMBALANCED[order] != 0]) == list(range(90, 100))
        seen_background |= set(order[IMBALANCED[order] == 0].tolist())
    assert len(seen_background) > 80  # fresh subsets: 20 epochs x 20 of 90 cover nearly all
    kept = len(BackgroundUndersampler(IMBALANCED, background_id=0, fraction=0.5))
    assert kept == 10 + 45
    with pytest.raises(ValueError):
        BackgroundUndersampler(IMBALANCED, background_id=0, ratio=1.0, fraction=0.5)


def test_background_fraction_over_many_epochs():
    sampler = BackgroundUndersampler(IMBALANCED, background_id=0, fraction=0.2, seed=5)
    counts = np.zeros(90)
    for epoch in range(500):
        sampler.set_epoch(epoch)
        order = np.array(list(sampler))
        np.add.at(counts, order[order < 90], 1)
    np.testing.assert_allclose(counts / 500, 0.2, atol=0.08)  # std per clip ~ 0.018


def test_cluster_balanced_batches():
    clusters = np.array([0] * 100 + [1] * 10 + [2] * 2)
    sampler = ClusterBalancedBatchSampler(clusters, batch_size=12, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 10
    for batch in batches:
        assert np.bincount(clusters[batch], minlength=3).tolist() == [4, 4, 4]
    flat = np.concatenate(batches)
    big = flat[clusters[flat] == 0]
    assert len(set(big.tolist())) == 40  # large cluster: no repeats within the epoch
    assert np.bincount(flat[clusters[flat] == 2] - 110).tolist() == [20, 20]  # tiny cluster cycled evenly
    uneven = ClusterBalancedBatchSampler(clusters, batch_size=13, seed=0)
    for batch in uneven:
        assert sorted(np.bincount(clusters[batch], minlength=3).tolist()) == [4, 4, 5]


def test_cluster_batches_ddp_disjoint_cover_and_loader():
    clusters = np.repeat(np.arange(4), 25)
    full = ClusterBalancedBatchSampler(clusters, batch_size=8, seed=2, num_batches=12)
    shards = [list(ClusterBalancedBatchSampler(clusters, batch_size=8, seed=2, num_batches=12,
                                               num_replicas=3, rank=r)) for r in range(3)]
    assert sorted(b for s in shards for b in map(tuple, s)) == sorted(map(tuple, full))
    data = TensorDataset(torch.arange(100))
    loader = DataLoader(data, batch_sampler=full)
    assert [len(b[0]) for b in loader] == [8] * 12
