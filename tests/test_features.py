"""FeatureConfig, LogMel (against librosa) and the train-only Normalizer."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import torch

from raresound.errors import ConfigError, DataError
from raresound.features import FeatureConfig, LogMel, Normalizer

# Log-mel agreement with librosa, on log values, wherever the mel power is above the log offset's
# scale (below it both sides are dominated by the offset and float32 rounding).
LOG_TOLERANCE = 1e-3
POWER_FLOOR = 1e-6


def _test_wave(seconds: float, seed: int = 0, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    chirp = 0.3 * np.sin(2 * np.pi * (200 * t + 300 * t**2))
    return (chirp + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _librosa_logmel(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=wave.astype(np.float64),
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=False,
        norm="slaney",
    )  # [M, T//hop + 1]
    mel = mel[:, : cfg.n_frames(wave.size)].T
    return mel


def test_feature_config_derived_values_and_roundtrip():
    cfg = FeatureConfig()
    assert (cfg.win_length, cfg.hop_length, cfg.n_fft, cfg.n_mels) == (400, 160, 512, 64)
    assert cfg.n_frames(160000) == 1000 and cfg.n_frames() == 1000 and cfg.n_frames(159) == 0
    d = json.loads(json.dumps(cfg.to_dict()))
    assert FeatureConfig.from_dict(d) == cfg
    coerced = FeatureConfig.from_dict({"sample_rate": 16000.0, "n_fft": 512.0})
    assert coerced == cfg and isinstance(coerced.n_fft, int)
    with pytest.raises(ConfigError, match="feature_config.n_mels"):
        FeatureConfig(n_mels=40.5)
    with pytest.raises(ConfigError, match="feature_config.n_mel"):
        FeatureConfig.from_dict({"n_mel": 40})
    with pytest.raises(ConfigError, match="feature_config.win_ms"):
        FeatureConfig(win_ms=100.0)  # 1600 samples > n_fft
    with pytest.raises(ConfigError, match="feature_config.fmax"):
        FeatureConfig(fmax=9000.0)


def test_logmel_shape_is_1000_by_64_for_ten_seconds():
    lm = LogMel()
    out = lm(torch.zeros(2, 160000))
    assert out.shape == (2, 1000, 64) and out.dtype == torch.float32
    # Silence maps exactly to log(log_offset).
    assert torch.allclose(out, torch.full_like(out, np.log(1e-6)))
    assert lm(np.zeros(160000, np.float32)).shape == (1000, 64)
    assert lm(torch.zeros(160159)).shape == (1000, 64)


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(n_mels=40, fmin=50.0, fmax=7000.0, n_fft=1024)])
def test_logmel_agrees_with_librosa(cfg):
    waves = np.stack([_test_wave(3.0, seed=s) for s in range(2)])
    waves[1, 30000:] = 0.0  # a zero-padded tail, as clips shorter than clip_seconds have
    ours = LogMel(cfg)(torch.from_numpy(waves)).numpy()
    for b in range(waves.shape[0]):
        ref_power = _librosa_logmel(waves[b], cfg)
        assert ours[b].shape == ref_power.shape == (cfg.n_frames(waves.shape[1]), cfg.n_mels)
        ref = np.log(ref_power + cfg.log_offset)
        mask = ref_power > POWER_FLOOR
        assert mask.mean() > 0.5
        assert np.max(np.abs(ours[b][mask] - ref[mask])) < LOG_TOLERANCE
        # Where the power is negligible both sides sit at the log offset.
        assert np.max(np.abs(ours[b][~mask] - ref[~mask]), initial=0.0) < 0.7


def test_logmel_batch_equals_single_and_sine_lands_in_right_band():
    lm = LogMel()
    waves = np.stack([_test_wave(1.0, seed=s) for s in range(3)])
    batch = lm(waves)
    for b in range(3):
        torch.testing.assert_close(batch[b], lm(waves[b]), atol=1e-4, rtol=0)
    t = np.arange(16000) / 16000
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    band = int(lm(sine)[10:-10].mean(0).argmax())
    centres = librosa.mel_frequencies(n_mels=64 + 2, fmin=0.0, fmax=8000.0)[1:-1]
    assert abs(centres[band] - 1000) < 100


def test_logmel_follows_device_and_rejects_bad_shapes():
    lm = LogMel()
    assert lm.mel_basis.shape == (257, 64)
    names = {n for n, _ in lm.named_buffers()}
    assert {"mel_basis", "window"} <= names  # both move with .to(device)
    if torch.cuda.is_available():
        out = lm.to("cuda")(torch.zeros(1, 16000, device="cuda"))
        assert out.device.type == "cuda"
    with pytest.raises(ValueError):
        LogMel()(torch.zeros(2, 2, 16000))
    with pytest.raises(ValueError):
        LogMel()(torch.zeros(100))


def test_normalizer_fits_train_only_statistics():
    rng = np.random.default_rng(0)
    band_means = np.linspace(-5, 5, 8)
    train = rng.normal(band_means, 2.0, size=(50, 20, 8))
    val = rng.normal(band_means + 3.0, 0.5, size=(30, 20, 8))

    norm = Normalizer().fit(train)
    np.testing.assert_allclose(norm.mean, train.reshape(-1, 8).mean(0), atol=1e-10)
    np.testing.assert_allclose(norm.std, train.reshape(-1, 8).std(0), atol=1e-10)
    assert norm.count == 50 * 20
    # Stats come from train, not val: val's shifted values stay shifted after transform.
    assert np.all(np.abs(norm.mean - val.reshape(-1, 8).mean(0)) > 2.5)
    z_val = norm.transform(val)
    assert np.all(np.abs(z_val.reshape(-1, 8).mean(0) - 1.5) < 0.1)
    z_train = norm.transform(train)
    np.testing.assert_allclose(z_train.reshape(-1, 8).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z_train.reshape(-1, 8).std(0), 1, atol=1e-5)


def test_normalizer_streaming_equals_one_shot_and_reads_memmap_in_chunks(tmp_path):
    rng = np.random.default_rng(1)
    data = (rng.normal(100.0, 0.01, size=(600, 10, 4))).astype(np.float32)  # large mean, tiny std
    one_shot = Normalizer().fit(data)
    batches = Normalizer().fit(iter([data[:7], data[7:300], data[300]] + [data[301:]]))
    np.testing.assert_allclose(batches.mean, one_shot.mean, rtol=1e-12)
    np.testing.assert_allclose(batches.std, one_shot.std, rtol=1e-9)
    ref = data.astype(np.float64).reshape(-1, 4)
    np.testing.assert_allclose(one_shot.std, ref.std(0), rtol=1e-7)

    mm_path = tmp_path / "feats.f16"
    mm = np.memmap(mm_path, dtype=np.float16, mode="w+", shape=(600, 10, 4))
    mm[:] = rng.normal(0, 1, size=(600, 10, 4))
    mm.flush()
    ro = np.memmap(mm_path, dtype=np.float16, mode="r", shape=(600, 10, 4))
    from_memmap = Normalizer().fit(ro)
    np.testing.assert_allclose(from_memmap.mean, np.asarray(ro, np.float64).reshape(-1, 4).mean(0), atol=1e-12)


def test_normalizer_torch_transform_and_constant_band():
    x = np.zeros((5, 3, 2))
    x[..., 0] = np.arange(15).reshape(5, 3)
    norm = Normalizer().fit(x)
    assert norm.std[1] == Normalizer.MIN_STD  # constant band: no division by zero
    out = norm.transform(torch.from_numpy(x))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and torch.isfinite(out).all()
    np.testing.assert_allclose(out.numpy(), norm.transform(x), atol=1e-6)


def test_normalizer_roundtrip_and_errors(tmp_path):
    norm = Normalizer().fit(np.random.default_rng(2).normal(size=(4, 10, 3)))
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    np.testing.assert_array_equal(again.mean, norm.mean)
    np.testing.assert_array_equal(again.std, norm.std)
    path = tmp_path / "sub" / "normalizer.json"
    norm.save(path)
    loaded = Normalizer.load(path)
    np.testing.assert_array_equal(loaded.std, norm.std)
    assert [p.name for p in path.parent.iterdir()] == ["normalizer.json"]  # no temp files left

    with pytest.raises(DataError, match="not fitted"):
        Normalizer().transform(np.zeros((2, 3)))
    with pytest.raises(DataError, match="bands"):
        norm.transform(np.zeros((2, 5)))
    with pytest.raises(DataError, match="no feature frames"):
        Normalizer().fit([])
    with pytest.raises(DataError):
        Normalizer.from_dict({"mean": [0.0, 1.0], "std": [1.0]})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        Normalizer.load(bad)
    with pytest.raises(DataError, match="missing.json"):
        Normalizer.load(tmp_path / "missing.json")
