"""The reference probe: StatsPooling matches hand-computed statistics."""

from __future__ import annotations

import math

import numpy as np
import torch

from raresound.models.backbones import StatsPooling, build_backbone


def test_stats_pooling_on_a_hand_made_clip():
    # band 0: frames 1 3 2 5 4 (sorted 1..5); band 1: 0 0 0 0 10
    x = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [2.0, 0.0], [5.0, 0.0], [4.0, 10.0]]])
    got = build_backbone("stats", n_mels=2)(x)
    # [max - median] [mean] [population std] [99th percentile: position 0.99 * 4 = 3.96 between sorted 4 and 5]
    expected = [5 - 3, 10 - 0, 3.0, 2.0, math.sqrt(2.0), 4.0, 4 + 0.96 * (5 - 4), 0.96 * 10]
    torch.testing.assert_close(got, torch.tensor([expected]), rtol=0, atol=1e-5)


def test_stats_pooling_agrees_with_numpy_on_an_even_frame_count():
    x = torch.randn(3, 10, 4, generator=torch.Generator().manual_seed(0))
    got = StatsPooling(n_mels=4)(x).numpy()
    a = x.numpy()
    median = np.median(a, axis=1)  # even count: the mean of the two middle frames
    expected = np.concatenate([a.max(axis=1) - median, a.mean(axis=1), a.std(axis=1),
                               np.percentile(a, 99, axis=1)], axis=1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert StatsPooling(n_mels=4).embedding_dim == 16 and not list(StatsPooling().parameters())
