"""Streaming detection gives the offline events on the same audio, with bounded memory and the
stated latency (planted bundle: see tests/test_detect.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from raresound.detect import WindowDetector
from raresound.errors import ConfigError
from raresound.streaming import StreamingDetector, latency_bound, run_pcm_stream
from helpers import SR, planted_bundle, planted_wave, write_wav

pytestmark = pytest.mark.usefixtures("one_thread")  # 1 torch thread: fast on a busy 2-core box

EVENTS = [(3.3, 5.3), (12.05, 13.55), (14.6, 15.6), (27.7, 29.2)]


@pytest.fixture(scope="module")
def bundle():
    return planted_bundle(clip_seconds=4.0, p0=0.05)


def _stream(detector, wave, seed, max_chunk=30000):
    """Push `wave` in random-size chunks; record (event, seconds received) and every scored window."""
    windows = []
    original = detector.score_windows

    def recording(w):
        windows.append(w.contiguous().clone())
        return original(w)

    detector.score_windows = recording
    sd = StreamingDetector(detector)
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < wave.size:
        n = int(rng.integers(1, max_chunk))
        out += [(e, sd.seconds) for e in sd.push(wave[i : i + n])]
        i += n
    out += [(e, None) for e in sd.finish()]
    del detector.score_windows
    return out, torch.cat(windows), sd


@pytest.mark.parametrize("median,min_gap", [(1, 0.0), (3, 1.5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_equals_offline_on_random_chunks(bundle, median, min_gap, seed):
    wave = planted_wave(31.23, EVENTS, seed=seed)
    detector = WindowDetector(bundle, hop=0.5, median=median, min_gap=min_gap)
    offline = detector.detect_wave(wave, SR)
    streamed, windows, sd = _stream(detector, wave, seed)
    events = [e for e, _ in streamed]
    assert len(offline.events) >= 3
    assert sorted(events, key=lambda e: (e.onset, e.event_label)) == offline.events
    # same front end, same blocks: the streamed windows are bit-identical to the offline ones
    g = detector.grid
    frames = detector.frontend.frames(wave, g.frames_needed(wave.size))
    offline_windows = frames.unfold(0, g.window_frames, g.hop_frames)[: g.n_windows(wave.size)].transpose(1, 2)
    assert windows.shape == offline_windows.shape
    assert torch.equal(windows, offline_windows)
    assert sd.n_windows == offline.scores.shape[0]


def test_streaming_memory_is_bounded_independently_of_length(bundle):
    detector = WindowDetector(bundle, hop=0.5)
    g = detector.grid
    chunk = 8000
    peaks = []
    for seconds in (20.0, 80.0):
        sd = StreamingDetector(detector)
        wave = planted_wave(seconds, [(5.0, 6.0)], seed=2)
        for i in range(0, wave.size, chunk):
            sd.push(wave[i : i + chunk])
        sd.finish()
        assert sd.peak_samples <= g.block_samples + 2 * g.context + chunk
        assert sd.peak_frames <= g.window_frames + g.block_frames
        peaks.append((sd.peak_samples, sd.peak_frames))
    assert peaks[0] == peaks[1]


def test_events_are_confirmed_within_the_stated_latency(bundle):
    detector = WindowDetector(bundle, hop=0.5, median=3, min_gap=0.5)
    wave = planted_wave(40.0, EVENTS, seed=4)
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
    got = []
    summary = run_pcm_stream(detector, io.BytesIO(pcm), SR, 0.3, lambda e, t: got.append((e, t)))
    bound = latency_bound(detector.grid, 3, 0.5, 0.3)
    assert 4.0 < bound < 7.0  # window 4 + 2 context... stated, not vacuous
    assert len(got) == summary.n_events >= 3
    for event, confirmed_at in got:
        assert confirmed_at < 40.0  # all of these are confirmed before the stream ends
        assert event.offset <= confirmed_at <= event.offset + bound, (event, confirmed_at)


def test_pcm_stream_matches_offline_detection_of_the_wav(bundle, tmp_path):
    detector = WindowDetector(bundle, hop=0.5)
    wave = planted_wave(25.0, EVENTS[:3], seed=6)
    path = write_wav(tmp_path / "x.wav", wave)
    offline = detector.detect_file(path)
    pcm = sf.read(str(path), dtype="int16")[0].astype("<i2").tobytes()
    got = []
    summary = run_pcm_stream(detector, io.BytesIO(pcm), SR, 0.37, lambda e, t: got.append(e))
    assert summary.seconds == 25.0 and summary.trailing_bytes == 0
    assert sorted(got, key=lambda e: e.onset) == offline.events and len(got) >= 2


def test_resampled_stream_still_finds_the_events(bundle):
    detector = WindowDetector(bundle, hop=0.5)
    rate = 22050
    wave = planted_wave(20.0, EVENTS[:2], seed=7, sr=rate)
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes() + b"\x01"  # odd trailing byte
    got = []
    summary = run_pcm_stream(detector, io.BytesIO(pcm), rate, 0.5, lambda e, t: got.append(e))
    assert summary.trailing_bytes == 1 and summary.seconds == 20.0
    assert len(got) == 2
    for e, (a, b) in zip(sorted(got, key=lambda e: e.onset), EVENTS[:2]):
        assert abs(e.onset - a) < 0.5 and abs(e.offset - b) < 0.5


def test_stream_options_are_checked(bundle):
    detector = WindowDetector(bundle, hop=0.5)
    with pytest.raises(ConfigError, match="config field 'rate'"):  # the parameters; detect says --rate
        run_pcm_stream(detector, io.BytesIO(b""), 4000)
    with pytest.raises(ConfigError, match="config field 'chunk_seconds'"):
        run_pcm_stream(detector, io.BytesIO(b""), SR, 0.0)
    empty = run_pcm_stream(detector, io.BytesIO(b""), SR, 0.5)
    assert (empty.n_events, empty.n_windows) == (0, 0)
