"""build_augmentation / build_remix (data/augment/config.py) and Compose: off by default, the canonical
order, ConfigErrors naming the dotted field."""

import numpy as np
import pytest
import torch

from raresound.data.augment import (Compose, EventRemix, FreqMask, Mixup, RandomGain, TimeMask, TimeShift,
                                    build_augmentation, build_remix)
from raresound.errors import ConfigError
from raresound.features import FeatureConfig, Normalizer


def _normalizer():
    return Normalizer().fit(np.random.default_rng(0).normal(size=(2, 10, 4)))


@pytest.mark.parametrize("config", [None, {}, {"mixup": None, "time_mask": False}])
def test_no_augmentation_is_the_identity(config):
    chain = build_augmentation(config)
    x, y = torch.randn(2, 5, 4), torch.ones(2, 3)
    out = chain(x, y, torch.Generator())
    assert len(chain) == 0 and out[0] is x and out[1] is y


def test_chain_in_canonical_order_with_the_given_parameters():
    cfg = {"time_mask": {"n_masks": 2, "max_width": 50, "p": 0.5}, "freq_mask": {"max_width": 3},
           "mixup": {"alpha": 0.2, "p": 0.5}, "gain": {"max_gain_db": 3}, "time_shift": {"max_shift": 8}}
    chain = build_augmentation(cfg, _normalizer(), FeatureConfig(n_mels=4))
    assert [type(t) for t in chain] == [RandomGain, TimeShift, Mixup, FreqMask, TimeMask]
    tm = chain.transforms[-1]
    assert (tm.n_masks, tm.max_width, tm.p) == (2, 50, 0.5)
    assert chain.transforms[0].max_gain_db == 3.0 and chain.transforms[0].mean is not None
    x, y = torch.randn(4, 16, 4), (torch.rand(4, 4, 2) > 0.5).float()
    a = chain(x, y, torch.Generator().manual_seed(1))
    b = chain(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("config, field", [
    ({"spec_augment": {}}, "augment.spec_augment"),
    ({"time_mask": {"max_widht": 3}}, "augment.time_mask.max_widht"),
    ({"time_mask": {"max_width": -1}}, "augment.time_mask.max_width"),
    ({"time_mask": {"max_width": "50"}}, "augment.time_mask.max_width"),
    ({"mixup": {"alpha": 0}}, "augment.mixup.alpha"),
    ({"mixup": {"p": 2}}, "augment.mixup.p"),
    ({"freq_mask": {"fill": "noise"}}, "augment.freq_mask.fill"),
    ({"time_shift": 3}, "augment.time_shift"),
    ({"gain": {}}, "augment.gain"),  # no normaliser given
    ({"remix": {"ebr_db": "0"}}, "augment.remix.ebr_db"),
    ([1, 2], "augment"),
])
def test_bad_config_names_the_field(config, field):
    with pytest.raises(ConfigError) as info:
        build_augmentation(config)
    assert info.value.field == field


def test_remix_from_config():
    events = [(np.ones(100, np.float32) * 0.1, "x")]
    backgrounds = [np.random.default_rng(0).normal(0, 0.01, 1600).astype(np.float32)]
    assert build_remix({"mixup": {}}, events, backgrounds) is None
    remix = build_remix({"remix": {"ebr_db": [0, 3], "p": 0.5}}, events, backgrounds, clip_seconds=0.1)
    assert isinstance(remix, EventRemix) and remix.ebr_db == [0.0, 3.0] and remix.p == 0.5
    assert len(build_augmentation({"remix": {"p": 1.0}})) == 0  # waveform level: not in the feature chain
    with pytest.raises(ConfigError) as info:
        build_remix({"remix": {"p": 0.5}}, [], backgrounds)
    assert info.value.field == "augment.remix.events"


def test_compose_applies_in_order():
    calls = []

    def tag(name):
        def t(x, y, g):
            calls.append(name)
            return x + 1, y
        return t

    x, y = torch.zeros(1, 2, 2), torch.zeros(1, 2)
    out, _ = Compose([tag("a"), tag("b")])(x, y, torch.Generator())
    assert calls == ["a", "b"] and torch.equal(out, x + 2)
