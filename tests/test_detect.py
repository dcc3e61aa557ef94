"""Long-file detection: window grid, shared front end, event formula, median filter, merging, and
planted events found within one hop by a bundle whose score is a known function of the input.

The planted bundle (also used by the streaming / CLI / calibration tests) is a hand-built LSTM with
one hidden unit whose gates are pinned open/closed (input and output gate bias +20, forget gate
-20), so h_t = tanh(tanh(2 * x_t[k] - 6)) with x_t[k] the normalised log-mel of the mel band k that
holds 1 kHz: about -tanh(1) on noise, +tanh(1) during a loud 1 kHz tone. Mean pooling gives
h = tanh(1) * (2p - 1), p = the fraction of the window's frames holding the tone, and the head maps
it to score = sigmoid(alpha * 2 tanh(1) * (p - p0)): a window is positive (threshold 0.5) when the
tone fills more than p0 of it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import PLANTED, SR, planted_bundle, planted_wave, write_wav
from raresound.detect import (DetectedEvent, EventTracker, FrontEnd, MedianFilter, WindowDetector, WindowGrid,
                              detect_files, output_names, parse_threshold_args, resolve_thresholds)
from raresound.errors import ConfigError, DataError
from raresound.features import FeatureConfig, LogMel
from raresound.models.factory import ModelSpec, build_model

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------


def test_grid_counts_windows_and_pads_short_files():
    g = WindowGrid.for_config(FeatureConfig(clip_seconds=4.0), 0.5)
    assert (g.window_frames, g.hop_frames, g.hop_seconds, g.window_seconds) == (400, 50, 0.5, 4.0)
    assert g.n_windows(10 * SR) == 13 and g.frames_needed(10 * SR) == 1000  # starts 0, 0.5, ..., 6.0
    assert g.n_windows(int(10.2 * SR)) == 14  # the last window runs 0.3 s past the end
    assert g.n_windows(SR) == 1 and g.frames_needed(SR) == 400  # shorter than a window: padded
    assert g.window_start(3) == 1.5
    d = WindowGrid.for_config(FeatureConfig(), 1.0)
    assert (d.window_frames, d.hop_frames, d.n_windows(60 * SR)) == (1000, 100, 51)


@pytest.mark.parametrize("hop", [0.0125, 0.0, -1.0, 4.5, float("nan")])
def test_hop_must_be_whole_frames_within_the_window(hop):
    with pytest.raises(ConfigError, match="detect.hop"):
        WindowGrid.for_config(FeatureConfig(clip_seconds=4.0), hop)


def test_block_front_end_equals_logmel_of_the_whole_file():
    bundle = planted_bundle()
    g = WindowGrid.for_config(bundle.feature_config, 0.5)
    wave = planted_wave(7.37, [(2.0, 3.0)], seed=3)
    frames = FrontEnd(bundle.feature_config, bundle.normalizer, g).frames(wave, g.frames_needed(wave.size))
    logmel = LogMel(bundle.feature_config)
    n = wave.size // g.frame_hop
    whole = bundle.normalizer.transform(logmel(torch.from_numpy(wave)))
    assert frames.shape[0] >= g.frames_needed(wave.size) and whole.shape[0] == n
    torch.testing.assert_close(frames[:n], whole, atol=1e-4, rtol=0)
    # frames past the end are those of the zero-padded signal
    padded = np.concatenate([wave, np.zeros(frames.shape[0] * g.frame_hop, np.float32)])
    whole_padded = bundle.normalizer.transform(logmel(torch.from_numpy(padded)))
    torch.testing.assert_close(frames, whole_padded[: frames.shape[0]], atol=1e-4, rtol=0)


def _track(decisions, grid, min_gap=0.0, duration=1e9, scores=None):
    tracker = EventTracker(grid, ["x"], min_gap)
    out = []
    for k, d in enumerate(decisions):
        s = np.array([scores[k] if scores is not None else float(d)])
        out += tracker.push(k, np.array([bool(d)]), s)
    return out + tracker.finish(duration)


def test_event_extent_formula_known_answers():
    g = WindowGrid.for_config(FeatureConfig(clip_seconds=4.0), 0.5)  # T = 4, H = 0.5
    # short run, windows 2..5 (t_f = 1, t_l = 2.5): intersection [2.5, 5)
    ev = _track([0, 0, 1, 1, 1, 1, 0, 0], g)
    assert [(e.onset, e.offset) for e in ev] == [(2.5, 5.0)]
    # long run, windows 0..12 (t_f = 0, t_l = 6): all-positive stretch [3.5, 6.5)
    ev = _track([1] * 13 + [0], g)
    assert [(e.onset, e.offset) for e in ev] == [(3.5, 6.5)]
    # run still open at the end: offset clipped to the file length
    ev = _track([0, 1, 1], g, duration=4.7)
    assert [(e.onset, e.offset) for e in ev] == [(1.0, 4.5)]
    # event score = highest window score of the run
    ev = _track([0, 1, 1, 1, 0], g, scores=[0.1, 0.6, 0.9, 0.7, 0.2])
    assert ev[0].score == 0.9


@pytest.mark.parametrize("model", ["contains", "overlaps"])
def test_event_extent_is_within_one_hop_for_both_limiting_detectors(model):
    rng = np.random.default_rng(0)
    for T, H in [(4.0, 0.5), (10.0, 1.0), (2.0, 0.25)]:
        g = WindowGrid.for_config(FeatureConfig(clip_seconds=T), H)
        for _ in range(200):
            L = rng.uniform(0.05, T - H if model == "contains" else 3 * T)  # contained: some window must fit it
            a = rng.uniform(T + H, 4 * T)
            b = a + L
            starts = np.arange(int((b + 2 * T) / H)) * H
            if model == "contains":
                dec = (starts <= a) & (starts + T >= b)
            else:
                dec = (starts < b) & (starts + T > a)
            (e,) = _track(dec.astype(int), g)
            assert a - H < e.onset <= a + 1e-9, (T, H, a, b, e)
            assert b - 1e-9 <= e.offset < b + H, (T, H, a, b, e)


def test_median_filter_majority_with_replicated_edges():
    d = [0, 1, 0, 1, 1, 0, 0, 1, 1, 1]
    f = MedianFilter(3)
    out = []
    for k, x in enumerate(d):
        out += f.push(np.array([x]), np.array([float(k)]))
        assert len(f._raw) <= 3  # bounded
    out += f.finish()
    assert [k for k, _, _ in out] == list(range(10))
    assert [int(dec[0]) for _, dec, _ in out] == [0, 0, 1, 1, 1, 0, 0, 1, 1, 1]
    assert [float(s[0]) for _, _, s in out] == [float(k) for k in range(10)]  # scores ride along
    f5 = MedianFilter(5)
    out = [o for x in [1, 0, 0, 1, 1, 0, 1] for o in f5.push(np.array([x]), np.zeros(1))] + f5.finish()
    # padded with replicated edges: 1 1 | 1 0 0 1 1 0 1 | 1 1 -> majorities of 5
    assert [int(dec[0]) for _, dec, _ in out] == [1, 1, 1, 0, 1, 1, 1]
    for bad in (0, 2, -1, 1.0):
        with pytest.raises(ConfigError):
            MedianFilter(bad)


def test_min_gap_merges_events_of_a_class():
    g = WindowGrid.for_config(FeatureConfig(clip_seconds=4.0), 0.5)
    d = [1] * 10 + [0] * 4 + [1] * 10 + [0]  # events [3.5, 5.0) and [10.5, 12.0): gap 5.5 s
    assert [(e.onset, e.offset) for e in _track(d, g, min_gap=5.4)] == [(3.5, 5.0), (10.5, 12.0)]
    assert [(e.onset, e.offset) for e in _track(d, g, min_gap=5.5)] == [(3.5, 12.0)]
    # overlapping extents always merge: windows 1..4 -> [2.0, 4.5), windows 6..7 -> [3.5, 7.0)
    assert [(e.onset, e.offset) for e in _track([0, 1, 1, 1, 1, 0, 1, 1, 0], g)] == [(2.0, 7.0)]
    with pytest.raises(ConfigError):
        EventTracker(g, ["x"], -1.0)




@pytest.mark.parametrize("p0", [0.05, 0.475], ids=["fires-on-overlap", "fires-when-contained"])
def test_planted_events_are_found_within_one_hop(p0):
    # p0 = 0.05: positive once 0.2 s of the 2 s tone is inside the 4 s window; p0 = 0.475: only when
    # 1.9 s of it is (nearly contained). Either way onsets/offsets are within one hop.
    detector = WindowDetector(planted_bundle(p0=p0), hop=0.5)
    result = detector.detect_wave(planted_wave(40.0, PLANTED), SR, "f.wav")
    assert result.scores.shape == (detector.grid.n_windows(40 * SR), 2)
    assert [e.event_label for e in result.events] == ["tone"] * 3
    for e, (a, b) in zip(result.events, PLANTED):
        assert abs(e.onset - a) < 0.5 and abs(e.offset - b) < 0.5, (e, a, b)
        assert e.score > 0.99
    assert (result.scores[:, 1] < 1e-3).all()


def test_default_ten_second_window_finds_events_within_one_hop():
    bundle = planted_bundle(clip_seconds=10.0, p0=0.05)
    events = [(12.4, 14.9), (31.25, 33.0)]
    result = WindowDetector(bundle, hop=1.0).detect_wave(planted_wave(45.0, events, seed=5), SR, "long.wav")
    assert result.scores.shape[0] == 36  # starts 0..35 s
    assert len(result.events) == 2
    for e, (a, b) in zip(result.events, events):
        assert abs(e.onset - a) < 1.0 and abs(e.offset - b) < 1.0, (e, a, b)


def test_file_shorter_than_a_window_is_padded_not_rejected(tmp_path):
    detector = WindowDetector(planted_bundle(), hop=0.5)
    path = write_wav(tmp_path / "short.wav", planted_wave(1.5, [(0.2, 1.2)]))
    result = detector.detect_file(path)
    assert result.scores.shape[0] == 1 and result.duration == 1.5
    # one positive window [0, 4): onset min(0, 0 + 4 - 0.5) = 0, offset max(4, 0.5) = 4 clipped to 1.5
    assert [(e.onset, e.offset, e.event_label) for e in result.events] == [(0.0, 1.5, "tone")]
    quiet = detector.detect_file(write_wav(tmp_path / "quiet.wav", planted_wave(0.3, [])))
    assert quiet.events == [] and quiet.scores.shape[0] == 1


def batched_rounding_bound(bundle, alpha: float = 200.0) -> float:
    """How far float32 rounding alone may move a planted-bundle score when windows are batched
    differently (streaming.py: batching regroups the GEMMs). Each of the window's T LSTM outputs
    (|h| <= 1) carries a rounding error of a few ulps, and the mean pooling sums T of them: the classic
    summation bound gives |d pooled| <= T * eps32. The head scales it by alpha * 2 tanh(1) (helpers),
    and the sigmoid's slope is at most 1/4."""
    n_frames = bundle.feature_config.n_frames(int(bundle.feature_config.clip_seconds * SR))
    eps32 = float(np.finfo(np.float32).eps)
    return 0.25 * alpha * 2 * np.tanh(1.0) * n_frames * eps32


def test_batch_size_does_not_change_results():
    bundle = planted_bundle()
    wave = planted_wave(20.0, [(5.3, 7.3)])
    a = WindowDetector(bundle, hop=0.5, batch=1).detect_wave(wave, SR)
    b = WindowDetector(bundle, hop=0.5, batch=64).detect_wave(wave, SR)
    tol = batched_rounding_bound(bundle)
    assert tol < 0.01  # far below any real difference (a wrong window moves a score by ~1)
    np.testing.assert_allclose(a.scores, b.scores, atol=tol, rtol=0)
    assert a.events == b.events


def test_a_waveform_is_detected_at_its_own_sample_rate(tmp_path):
    # 3 s of 44.1 kHz audio used to be taken for 8.27 s of 16 kHz audio (no rate was asked for)
    detector = WindowDetector(planted_bundle(), hop=0.5)
    wave = planted_wave(40.0, PLANTED, sr=44100)
    result = detector.detect_wave(wave, 44100, "f.wav")
    assert result.duration == 40.0 and result.scores.shape[0] == detector.grid.n_windows(40 * SR)
    assert [e.event_label for e in result.events] == ["tone"] * 3
    for e, (a, b) in zip(result.events, PLANTED):
        assert abs(e.onset - a) < 0.5 and abs(e.offset - b) < 0.5, (e, a, b)
    # resampled exactly as a 44.1 kHz file is
    from raresound.audio import load

    path = tmp_path / "f.wav"
    sf.write(str(path), wave, 44100, subtype="FLOAT")
    from_file = detector.detect_wave(load(path, sr=SR), SR, "f.wav")
    np.testing.assert_array_equal(result.scores, from_file.scores)
    assert result.events == from_file.events


@pytest.mark.parametrize("sr", [None, "f.wav", 16000.0, True, 4000, 192_000])
def test_a_waveform_without_a_usable_sample_rate_is_refused(sr):
    with pytest.raises(DataError, match="x.wav: sample rate must be an integer between 8000 and 96000 Hz"):
        WindowDetector(planted_bundle(), hop=0.5).detect_wave(planted_wave(5.0, []), sr, "x.wav")


def test_unreadable_files_are_skipped_and_reported(tmp_path):
    detector = WindowDetector(planted_bundle(), hop=0.5)
    good = write_wav(tmp_path / "good.wav", planted_wave(8.0, [(3.0, 4.0)]))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all")
    report = detect_files(detector, [good, junk, tmp_path / "missing.wav"])
    assert [r.filename for r in report.results] == ["good.wav"]
    assert [p for p, _ in report.failures] == [str(junk), str(tmp_path / "missing.wav")]
    assert "not found" in report.failures[1][1]
    assert "skipped 2" in report.summary()


def test_output_names_are_basenames_unless_they_collide(tmp_path):
    assert output_names(["a/x.wav", "b/y.wav"]) == ["x.wav", "y.wav"]
    assert output_names(["a/x.wav", "b/x.wav"], full_paths=True) == ["a/x.wav", "b/x.wav"]
    with pytest.raises(ConfigError, match="config field 'full_paths'.*; pass `full_paths`$"):
        output_names(["a/x.wav", "b/x.wav"])


def test_thresholds_come_from_the_bundle_or_an_override(tmp_path):
    bundle = planted_bundle(thresholds={})
    bundle.path = tmp_path / "b"
    with pytest.raises(DataError, match="no decision threshold for tone, whistle.*calibrate.*pass `thresholds`"):
        resolve_thresholds(bundle)
    assert resolve_thresholds(bundle, 0.3).tolist() == [0.3, 0.3]
    bundle.thresholds = {"tone": 0.7}
    with pytest.raises(DataError, match="for whistle"):
        resolve_thresholds(bundle)
    assert resolve_thresholds(bundle, {"whistle": 0.2}).tolist() == [0.7, 0.2]
    with pytest.raises(ConfigError, match="config field 'thresholds': unknown class"):
        resolve_thresholds(bundle, {"dog": 0.2})
    assert parse_threshold_args(None) is None
    assert parse_threshold_args(["0.4"]) == 0.4
    assert parse_threshold_args(["tone=0.4", "whistle=0.1"]) == {"tone": 0.4, "whistle": 0.1}
    for bad in (["x"], ["tone=abc"], ["=0.3"]):
        with pytest.raises(ConfigError):
            parse_threshold_args(bad)


def test_detected_event_dict():
    e = DetectedEvent(1.0, 2.5, "tone", 0.9)
    assert e.to_dict("f.wav") == {"filename": "f.wav", "onset": 1.0, "offset": 2.5, "event_label": "tone", "score": 0.9}


@pytest.mark.parametrize("sr", [SR, 22050])
def test_files_are_read_in_blocks_with_results_equal_to_the_whole_file(tmp_path, monkeypatch, sr):
    import raresound.detect as detect_mod
    from raresound.audio import load

    events = [(5.3, 7.3), (20.05, 22.05), (33.0, 34.5)]
    path = tmp_path / "long.wav"
    sf.write(str(path), planted_wave(41.3, events, seed=4, sr=sr), sr, subtype="FLOAT")
    detector = WindowDetector(planted_bundle(), hop=0.5, median=3, batch=8)
    whole = detector.detect_wave(load(path, sr=SR), SR, "long.wav", str(path))  # the previous offline path

    requested = []
    real_read = sf.SoundFile.read

    def recording_read(self, frames=-1, *args, **kwargs):
        requested.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", recording_read)
    monkeypatch.setattr(detect_mod, "FILE_BLOCK_SECONDS", 3.0)
    blocked = detector.detect_file(path)
    assert len(requested) == math.ceil(41.3 / 3.0) and max(requested) == 3 * sr  # never the whole file
    assert blocked.filename == "long.wav" and blocked.duration == whole.duration
    np.testing.assert_array_equal(blocked.window_starts, whole.window_starts)
    np.testing.assert_array_equal(blocked.scores, whole.scores)  # same batches: bit-identical
    assert blocked.events == whole.events and len(whole.events) == 3
    assert set(blocked.timings) == {"decode", "features", "network", "events"}
