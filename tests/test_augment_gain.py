"""RandomGain (data/augment/gain.py): a gain of g dB on normalised log-mel equals the waveform scaled by
10^(g/20), featurised and normalised; the additive form shifts each band by g/10*ln(10)/std."""

import math

import numpy as np
import pytest
import torch

from raresound.data.augment import ParameterError, RandomGain
from raresound.features import FeatureConfig, LogMel, Normalizer

CFG = FeatureConfig(n_mels=16, clip_seconds=1.0)


def _features(wave, logmel, normalizer):
    with torch.no_grad():
        return normalizer.transform(logmel(torch.from_numpy(wave)))[None]


def test_exact_gain_matches_the_scaled_waveform():
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    wave[:4000] = 0.0  # digital silence (padding) must stay at the floor, as it does for a waveform gain
    logmel = LogMel(CFG)
    normalizer = Normalizer().fit(logmel(torch.from_numpy(wave)).numpy()[None])
    gain = RandomGain.for_normalizer(normalizer, CFG)
    x = _features(wave, logmel, normalizer)
    for g in (-6.0, 3.5, 6.0):
        expected = _features((wave * 10 ** (g / 20)).astype(np.float32), logmel, normalizer)
        got = gain.shift(x, torch.tensor([g]))
        assert torch.allclose(got, expected, atol=2e-3), g  # float32 STFT rounding in the scaled wave


def test_additive_gain_shifts_each_band_by_the_computed_amount():
    std = np.linspace(0.5, 2.0, 16)
    x = torch.randn(2, 7, 16)
    out = RandomGain(std).shift(x, torch.tensor([6.0, -3.0]))
    step = torch.tensor(math.log(10) / 10 / std, dtype=torch.float32)
    assert torch.allclose(out[0] - x[0], (6.0 * step).expand(7, 16), atol=1e-6)
    assert torch.allclose(out[1] - x[1], (-3.0 * step).expand(7, 16), atol=1e-6)


def test_drawn_gains_are_seeded_and_within_bounds():
    std = np.ones(4)
    x, y = torch.zeros(300, 3, 4), torch.zeros(300, 2)
    t = RandomGain(std, min_gain_db=-2.0, max_gain_db=5.0, p=1.0)
    out, targets = t(x, y, torch.Generator().manual_seed(0))
    db = out[:, 0, 0] / (math.log(10) / 10)
    assert float(db.min()) >= -2.0 - 1e-4 and float(db.max()) <= 5.0 + 1e-4 and float(db.std()) > 1.0
    assert torch.allclose(out, out[:, :1, :1].expand_as(out))  # one gain per example, all bands equal (std 1)
    assert targets is y and torch.equal(x, torch.zeros(300, 3, 4))
    assert torch.equal(out, t(x, y, torch.Generator().manual_seed(0))[0])
    same, _ = RandomGain(std, p=0.0)(x, y, torch.Generator())
    assert same is x


@pytest.mark.parametrize("kwargs, name", [({"std": [1.0, 0.0]}, "std"), ({"min_gain_db": 3, "max_gain_db": 1}, "max_gain_db"),
                                          ({"mean": [0.0, 0.0]}, "log_offset")])
def test_bad_parameters(kwargs, name):
    kwargs = {"std": [1.0, 1.0], **kwargs}
    with pytest.raises(ParameterError) as info:
        RandomGain(**kwargs)
    assert info.value.parameter == name
