"""raresound.audio.load: decoding, resampling, downmix, pad/crop and the bad-file policy."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from raresound.audio import AudioWarning, load
from raresound.errors import AudioError, RaresoundError

ESC50 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esc50-subset"


def _sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_frequency(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * sr / x.size)


# --- bad files: each builder writes one kind of unusable file and returns its path ------------


def _missing(tmp: Path) -> Path:
    return tmp / "does_not_exist.wav"


def _directory(tmp: Path) -> Path:
    d = tmp / "a_dir.wav"
    d.mkdir()
    return d


def _zero_bytes(tmp: Path) -> Path:
    p = tmp / "zero_bytes.wav"
    p.write_bytes(b"")
    return p


def _text_as_wav(tmp: Path) -> Path:
    p = tmp / "notes.wav"
    p.write_text("this is a text file that someone renamed to .wav\n" * 20)
    return p


def _random_bytes_as_flac(tmp: Path) -> Path:
    p = tmp / "noise_bytes.flac"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def _header_only_wav(tmp: Path) -> Path:
    p = tmp / "no_frames.wav"
    sf.write(p, np.zeros(0, np.float32), 16000)
    return p


def _truncate(tmp: Path, name: str, fmt: str, subtype: str) -> Path:
    full = tmp / f"full_{name}"
    sf.write(full, _sine(440, 16000, 2.0), 16000, format=fmt, subtype=subtype)
    data = full.read_bytes()
    p = tmp / name
    p.write_bytes(data[: len(data) // 2])
    return p


def _truncated_wav(tmp: Path) -> Path:
    return _truncate(tmp, "cut.wav", "WAV", "PCM_16")


def _truncated_float_wav(tmp: Path) -> Path:
    return _truncate(tmp, "cut_float.wav", "WAV", "FLOAT")


def _truncated_flac(tmp: Path) -> Path:
    return _truncate(tmp, "cut.flac", "FLAC", "PCM_16")


def _truncated_ogg(tmp: Path) -> Path:
    return _truncate(tmp, "cut.ogg", "OGG", "VORBIS")


def _corrupt_flac(tmp: Path) -> Path:
    full = tmp / "ok.flac"
    sf.write(full, np.random.default_rng(1).uniform(-0.5, 0.5, 32000).astype(np.float32), 16000)
    data = bytearray(full.read_bytes())
    for i in range(200, len(data), 7):  # flip bits throughout the frames, header left intact
        data[i] ^= 0x5A
    p = tmp / "corrupt.flac"
    p.write_bytes(bytes(data))
    return p


def _nan_float_wav(tmp: Path) -> Path:
    x = _sine(440, 16000, 1.0)
    x[100] = np.nan
    p = tmp / "nan.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    return p


def _inf_float_wav(tmp: Path) -> Path:
    x = _sine(440, 16000, 1.0)
    x[5000] = np.inf
    p = tmp / "inf.wav"
    sf.write(p, x, 16000, subtype="DOUBLE")
    return p


def _huge_float_wav(tmp: Path) -> Path:
    x = _sine(440, 16000, 1.0) * np.float32(1e30)  # finite, but its power spectrum overflows float32
    p = tmp / "huge.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    return p


def _noise_ogg(tmp: Path) -> bytes:
    full = tmp / "full_noise.ogg"
    sf.write(full, np.random.default_rng(0).normal(0, 0.2, 48000).astype(np.float32), 16000, format="OGG")
    return full.read_bytes()


def _ogg_cut_mid_page(tmp: Path) -> Path:
    # libsndfile counts frames up to the last complete page, so frames == decoded: only the partial
    # page at the end tells (the "truncated OGG accepted as 0.9 s").
    p = tmp / "cut_mid_page.ogg"
    data = _noise_ogg(tmp)
    p.write_bytes(data[: int(len(data) * 0.6)])
    return p


def _ogg_cut_at_page_boundary(tmp: Path) -> Path:
    p = tmp / "cut_page.ogg"
    data = _noise_ogg(tmp)
    p.write_bytes(data[: data.rfind(b"OggS")])  # every page complete, but no end-of-stream page
    return p


def _rate_too_low(tmp: Path) -> Path:
    p = tmp / "rate_4k.wav"
    sf.write(p, _sine(440, 4000, 1.0), 4000)
    return p


def _rate_too_high(tmp: Path) -> Path:
    p = tmp / "rate_192k.wav"
    sf.write(p, _sine(440, 192000, 0.2), 192000)
    return p


def _resamples_to_nothing(tmp: Path) -> Path:
    p = tmp / "one_frame_96k.wav"
    sf.write(p, np.full(1, 0.1, np.float32), 96000)
    return p


BAD_FILES = [
    _missing,
    _directory,
    _zero_bytes,
    _text_as_wav,
    _random_bytes_as_flac,
    _header_only_wav,
    _truncated_wav,
    _truncated_float_wav,
    _truncated_flac,
    _truncated_ogg,
    _corrupt_flac,
    _nan_float_wav,
    _inf_float_wav,
    _huge_float_wav,
    _ogg_cut_mid_page,
    _ogg_cut_at_page_boundary,
    _rate_too_low,
    _rate_too_high,
    _resamples_to_nothing,
]


@pytest.mark.parametrize("make_bad", BAD_FILES, ids=lambda f: f.__name__.strip("_"))
def test_bad_audio_raises_audio_error_naming_the_file(tmp_path, make_bad):
    path = make_bad(tmp_path)
    with pytest.raises(AudioError) as info:
        load(path)
    err = info.value
    assert isinstance(err, RaresoundError)
    assert err.path == str(path)
    message = str(err)
    assert str(path) in message and "\n" not in message
    assert err.reason


def test_each_bad_kind_gets_its_own_reason(tmp_path):
    reasons = {}
    for make_bad in (_missing, _directory, _header_only_wav, _truncated_wav, _nan_float_wav, _rate_too_low):
        with pytest.raises(AudioError) as info:
            load(make_bad(tmp_path))
        reasons[make_bad.__name__] = info.value.reason
    assert "not found" in reasons["_missing"]
    assert "directory" in reasons["_directory"]
    assert "no audio frames" in reasons["_header_only_wav"]
    assert "truncated" in reasons["_truncated_wav"]
    assert "non-finite" in reasons["_nan_float_wav"]
    assert "4000 Hz" in reasons["_rate_too_low"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions are not enforced for root")
def test_unreadable_file_raises(tmp_path):
    p = tmp_path / "locked.wav"
    sf.write(p, _sine(440, 16000, 0.5), 16000)
    p.chmod(0)
    try:
        with pytest.raises(AudioError, match="permission"):
            load(p)
    finally:
        p.chmod(0o644)


@pytest.mark.parametrize("bad_duration", [0.0, -1.0, 1e-6, float("nan")])
def test_duration_giving_no_samples_raises(tmp_path, bad_duration):
    p = tmp_path / "ok.wav"
    sf.write(p, _sine(440, 16000, 0.5), 16000)
    with pytest.raises(AudioError, match="ok.wav"):
        load(p, duration=bad_duration)


# --- good files -----------------------------------------------------------------------------


@pytest.mark.parametrize("source_rate", [8000, 22050, 44100, 48000, 96000])
def test_resampling_gives_right_length_and_keeps_frequency(tmp_path, source_rate):
    seconds, freq = 2.0, 1000.0
    p = tmp_path / f"sine_{source_rate}.flac" if source_rate <= 48000 else tmp_path / "sine.wav"
    sf.write(p, _sine(freq, source_rate, seconds), source_rate)
    x = load(p, sr=16000)
    assert x.dtype == np.float32 and x.ndim == 1
    assert x.size == 32000
    assert abs(_dominant_frequency(x, 16000) - freq) <= 1.0
    # Amplitude survives (away from the resampler's edge transients).
    assert np.max(np.abs(x[1000:-1000])) == pytest.approx(0.5, abs=0.02)


def test_native_rate_is_returned_bit_exact(tmp_path):
    x = _sine(440, 16000, 1.0)
    p = tmp_path / "f.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load(p), x)


def test_stereo_and_multichannel_are_averaged(tmp_path):
    left = _sine(300, 16000, 1.0, amp=0.4)
    right = _sine(700, 16000, 1.0, amp=0.2)
    p = tmp_path / "stereo.wav"
    sf.write(p, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load(p), (left + right) / 2, atol=1e-7)

    channels = np.stack([left, -left, right, right], axis=1)
    p4 = tmp_path / "quad.wav"
    sf.write(p4, channels, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load(p4), right / 2, atol=1e-7)


@pytest.mark.parametrize("subtype, tolerance", [("PCM_16", 2**-15), ("PCM_24", 2**-23), ("PCM_32", 2**-31), ("FLOAT", 0)])
def test_integer_and_float_depths(tmp_path, subtype, tolerance):
    x = _sine(440, 16000, 0.5)
    p = tmp_path / f"{subtype}.wav"
    sf.write(p, x, 16000, subtype=subtype)
    y = load(p)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=tolerance + 1e-7)


def test_pad_and_crop_to_duration(tmp_path):
    x = _sine(440, 16000, 1.5)
    p = tmp_path / "a.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    padded = load(p, duration=2.0)
    assert padded.size == 32000
    np.testing.assert_array_equal(padded[:24000], x)
    assert not padded[24000:].any()
    cropped = load(p, duration=0.5)
    np.testing.assert_array_equal(cropped, x[:8000])
    assert load(p, duration=1.00003).size == round(1.00003 * 16000)


def test_crop_of_resampled_file_matches_full_decode(tmp_path):
    # load() decodes only what the crop needs; that must not change the samples it returns.
    x = np.random.default_rng(3).uniform(-0.5, 0.5, 44100 * 4).astype(np.float32)
    p = tmp_path / "long.flac"
    sf.write(p, x, 44100, subtype="PCM_24")
    full = load(p)
    cropped = load(p, duration=1.0)
    assert cropped.size == 16000
    np.testing.assert_allclose(cropped, full[:16000], atol=1e-5)


def test_silence_and_clipping_warn_but_load(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    with pytest.warns(AudioWarning, match="silent"):
        assert not load(silent).any()

    clipped = tmp_path / "clipped.wav"
    sf.write(clipped, np.clip(_sine(440, 16000, 1.0, amp=3.0), -1, 1), 16000)
    with pytest.warns(AudioWarning, match="clipped"):
        assert load(clipped).size == 16000

    normal = tmp_path / "normal.wav"
    sf.write(normal, _sine(440, 16000, 1.0), 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(normal)


def test_real_esc50_clip_if_available():
    csv = ESC50 / "esc50_subset.csv"
    if not csv.exists():
        pytest.skip(f"ESC-50 subset not found at {ESC50}")
    clips = sorted((ESC50 / "audio").glob("*.flac")) or sorted(ESC50.rglob("*.flac"))
    assert clips, f"no FLAC clips under {ESC50}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioWarning)  # some ESC-50 clips are genuinely clipped
        x = load(clips[0], sr=16000, duration=10.0)
        assert x.shape == (160000,) and x.dtype == np.float32 and np.isfinite(x).all()
        assert load(clips[0], sr=8000).size == pytest.approx(sf.info(clips[0]).frames / 2, abs=1)


def test_huge_and_truncated_ogg_reasons(tmp_path):
    with pytest.raises(AudioError, match="magnitude 5e\\+29 is beyond"):
        load(_huge_float_wav(tmp_path))
    for make in (_ogg_cut_mid_page, _ogg_cut_at_page_boundary):
        with pytest.raises(AudioError, match="truncated: the Ogg stream ends without its final page"):
            load(make(tmp_path))
    good = tmp_path / "good.ogg"
    good.write_bytes(_noise_ogg(tmp_path))
    assert load(good).size == 48000  # a complete Ogg file is not taken for a cut one


def test_integer_scaled_float_audio_still_loads(tmp_path):
    p = tmp_path / "int_scaled.wav"
    sf.write(p, _sine(440, 16000, 0.5) * np.float32(32767), 16000, subtype="FLOAT")
    with pytest.warns(AudioWarning, match="clipped"):
        assert np.abs(load(p)).max() > 1000


@pytest.mark.parametrize("rate,channels", [(16000, 1), (44100, 2), (8000, 1)])
def test_read_blocks_equals_load(tmp_path, rate, channels):
    from raresound.audio import read_blocks

    x = np.random.default_rng(3).uniform(-0.5, 0.5, (int(rate * 7.3), channels)).astype(np.float32)
    p = tmp_path / f"x{rate}.wav"
    sf.write(p, x, rate, subtype="FLOAT")
    blocks = list(read_blocks(p, sr=16000, block_seconds=2.0))
    assert len(blocks) >= 4
    np.testing.assert_array_equal(np.concatenate(blocks), load(p, sr=16000))


def test_read_blocks_checks_every_block(tmp_path):
    from raresound.audio import read_blocks

    x = _sine(440, 16000, 6.0)
    x[-10] = 1e30  # in the last block only
    p = tmp_path / "late.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="late.wav: sample magnitude"):
        list(read_blocks(p, block_seconds=1.0))
    with pytest.raises(AudioError, match="truncated"):
        list(read_blocks(_truncated_wav(tmp_path), block_seconds=0.25))
    with pytest.warns(AudioWarning, match="silent"):
        sf.write(tmp_path / "z.wav", np.zeros(40000, np.float32), 16000)
        list(read_blocks(tmp_path / "z.wav", block_seconds=1.0))
