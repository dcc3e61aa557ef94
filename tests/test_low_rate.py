"""Audio below the features' 16 kHz: usable, but its upper mel bands are empty; detect and features
warn in one stderr line naming the file and how many bands (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from helpers import planted_wave, saved_planted_bundle, write_wav
from raresound.audio import AudioWarning, load
from raresound.cli import main
from raresound.features import FeatureConfig, LogMel, empty_mel_bands, low_rate_note

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("rate,empty", [(8000, 13), (11025, 6), (12000, 5), (16000, 0), (44100, 0)])
def test_empty_bands_are_those_above_the_nyquist(rate, empty):
    cfg = FeatureConfig()
    assert empty_mel_bands(cfg, rate) == empty
    if 0 < empty:
        # known answer from the filterbank itself: exactly the last `empty` rows have no weight below Nyquist
        basis = LogMel(cfg).mel_basis.numpy()  # [K, M]
        bins = np.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate) < rate / 2
        weight_below = basis[bins].sum(axis=0)
        assert (weight_below[-empty:] == 0).all() and (weight_below[:-empty] > 0).all()


def test_load_warns_with_the_file_and_the_band_count(tmp_path):
    path = tmp_path / "low.wav"
    sf.write(path, np.full(8000, 0.1, np.float32), 8000)
    with pytest.warns(AudioWarning) as record:
        load(path, sr=16000, mel_note=low_rate_note(FeatureConfig()))
    (message,) = [str(w.message) for w in record]
    assert message == (f"{path}: sampled at 8000 Hz, below the 16000 Hz the features use: "
                       "13 of 64 mel bands (above its 4000 Hz Nyquist) are empty")
    with pytest.warns(AudioWarning, match="nothing above its 4000 Hz Nyquist"):
        load(path, sr=16000)


def test_full_rate_audio_is_not_warned_about(tmp_path):
    import warnings

    path = tmp_path / "full.wav"
    sf.write(path, np.full(16000, 0.1, np.float32), 22050)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioWarning)
        load(path, sr=16000, mel_note=low_rate_note(FeatureConfig()))


def test_detect_warns_in_one_line_per_low_rate_file(tmp_path, capsys):
    saved_planted_bundle(tmp_path / "bundle")
    low = write_wav(tmp_path / "low.wav", planted_wave(2.0, [], sr=8000), sr=8000)
    full = write_wav(tmp_path / "full.wav", planted_wave(2.0, []))
    assert main(["detect", str(tmp_path / "bundle"), str(low), str(full), "--out", str(tmp_path / "ev.tsv")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "below the" in line]
    assert lines == [f"raresound: warning: {low}: sampled at 8000 Hz, below the 16000 Hz the features use: "
                     "13 of 64 mel bands (above its 4000 Hz Nyquist) are empty"]


def test_features_lists_low_rate_clips_on_stderr(tmp_path, capsys):
    for name, rate in (("a.wav", 8000), ("b.wav", 16000), ("c.wav", 11025)):
        sf.write(tmp_path / name, np.random.default_rng(0).uniform(-0.3, 0.3, rate).astype(np.float32), rate)
    (tmp_path / "m.csv").write_text("path,labels,split,source_id\na.wav,dog,train,s1\nb.wav,,train,s2\n"
                                    "c.wav,dog,train,s3\n")
    assert main(["features", "--manifest", str(tmp_path / "m.csv"), "--out", str(tmp_path / "store"), "--workers", "1",
                 "--clip-seconds", "1", "--quiet"]) == 0
    lines = sorted(line for line in capsys.readouterr().err.splitlines() if "below the" in line)
    assert len(lines) == 2
    assert "a.wav: sampled at 8000 Hz" in lines[0] and "13 of 64 mel bands" in lines[0]
    assert "c.wav: sampled at 11025 Hz" in lines[1] and "6 of 64 mel bands (above its 5512.5 Hz Nyquist)" in lines[1]
