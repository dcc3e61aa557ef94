"""Post-processing tuned on validation events: the fast decoder equals the streaming one, and the
grid search finds the setting a hand-made case calls for."""

from __future__ import annotations

import numpy as np
import pytest

from raresound.detection.frame_events import frame_decoder
from raresound.detection.tuning import (PostProcessing, filtered_decisions, onset_hits, plateau, runs, runs_to_events,
                                        tune_class, tune_postprocessing)
from raresound.errors import DataError

STEP = 0.04


def _fast(scores, threshold, median, gap, min_dur, duration):
    (starts, stops), = runs(filtered_decisions(scores, np.array([threshold]), median))
    return runs_to_events(starts, stops, STEP, gap, min_dur, duration)


@pytest.mark.parametrize("seed", range(30))
def test_fast_decoding_equals_the_frame_event_decoder(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    scores = np.clip(np.cumsum(rng.normal(0, 0.15, n)) % 1.0, 0, 1)  # runs, not white noise
    threshold = float(rng.uniform(0.2, 0.8))
    median = int(rng.choice([1, 3, 5, 9]))
    gap, min_dur = float(rng.choice([0.0, 0.04, 0.1, 0.5])), float(rng.choice([0.0, 0.08, 0.2]))
    duration = n * STEP - float(rng.uniform(0, STEP))
    decoder = frame_decoder(STEP, ["a"], np.array([threshold]), median, gap, min_dur)
    events = []
    for block in np.array_split(scores, int(rng.integers(1, 5))):
        events += decoder.push(block[:, None])
    events += decoder.finish(duration)
    want = [(round(e.onset, 9), round(e.offset, 9)) for e in events]
    got = [(round(a, 9), round(b, 9)) for a, b in _fast(scores, threshold, median, gap, min_dur, duration)]
    assert got == want


def test_per_class_settings_decode_each_class_with_its_own():
    scores = np.zeros((50, 2))
    scores[10:12, 0] = scores[10:12, 1] = 0.9  # a 2-step blip in both classes
    scores[20:30, 0] = scores[20:30, 1] = 0.9
    dec = frame_decoder(STEP, ["a", "b"], np.array([0.5, 0.5]), [1, 1], [0.0, 0.0], [0.0, 0.2])
    events = dec.push(scores) + dec.finish(2.0)
    a = sorted((round(e.onset, 6), round(e.offset, 6)) for e in events if e.event_label == "a")
    b = sorted((round(e.onset, 6), round(e.offset, 6)) for e in events if e.event_label == "b")
    assert a == [(0.4, 0.48), (0.8, 1.2)] and b == [(0.8, 1.2)]  # b drops the 0.08-s blip


def test_onset_hits_is_a_one_to_one_matching_within_the_collar():
    assert onset_hits([1.0, 2.0], [1.4, 1.6, 2.6], 0.5) == 2
    assert onset_hits([1.0], [1.0, 1.1], 0.5) == 1
    assert onset_hits([1.0, 1.2], [1.1], 0.5) == 1
    assert onset_hits([], [1.0], 0.5) == 0


def test_tuning_finds_the_threshold_between_events_and_noise_and_the_gap_that_joins_pieces():
    # every file: one event of 1 s at 2 s whose scores dip in the middle (0.12 s), plus noise at 0.4
    files, refs = [], []
    for _ in range(4):
        s = np.full(250, 0.1)
        s[50:75] = 0.8
        s[61:64] = 0.2
        s[150:152] = 0.4
        files.append(s)
        refs.append([2.0])
    p = tune_class(files, refs, [10.0] * 4, STEP, thresholds=(0.3, 0.5), median_seconds=(0.0,),
                   min_gaps=(0.0, 0.2), min_durations=(0.0,))
    # 0.3 admits the noise bump (F1 8/12), 0.5 without a gap splits the event (F1 8/12), 0.5 + gap: F1 1
    assert (p.threshold, p.median, p.min_gap, p.val_f1) == (0.5, 1, 0.2, 1.0)
    # a median filter of 7 steps also bridges the 3-step dip (and is preferred: earlier in grid order)
    q = tune_class(files, refs, [10.0] * 4, STEP, thresholds=(0.5,), median_seconds=(0.0, 0.28),
                   min_gaps=(0.0,), min_durations=(0.0,))
    assert q.median == 7 and q.val_f1 == 1.0


def test_tune_postprocessing_per_class_and_its_errors():
    s = np.zeros((100, 2))
    s[20:40, 0] = 0.9
    tuned = tune_postprocessing([s], [[(0.8, 1.6, "a"), (2.0, 3.0, "b")]], [4.0], ["a", "b"], STEP,
                                thresholds=(0.5,), median_seconds=(0.0,), min_gaps=(0.0,), min_durations=(0.0,))
    assert isinstance(tuned["a"], PostProcessing) and tuned["a"].val_f1 == 1.0 and tuned["b"].val_f1 == 0.0
    with pytest.raises(DataError, match="no 'b' event"):
        tune_postprocessing([s], [[(0.8, 1.6, "a")]], [4.0], ["a", "b"], STEP)
    with pytest.raises(DataError, match="same number"):
        tune_postprocessing([s], [], [4.0], ["a", "b"], STEP)


def test_plateau_prefers_a_threshold_whose_neighbours_score_as_well():
    # thresholds on axis 1: an isolated peak 0.9 at index 1, a plateau of 0.8 at indices 3-5
    f1 = np.array([[0.2, 0.9, 0.2, 0.8, 0.8, 0.8, 0.1]])[:, :, None, None]
    smooth = plateau(f1)[0, :, 0, 0]
    np.testing.assert_allclose(smooth, [(0.2 + 0.2 + 0.9) / 3, (0.2 + 0.9 + 0.2) / 3, (0.9 + 0.2 + 0.8) / 3,
                                        (0.2 + 0.8 + 0.8) / 3, 0.8, (0.8 + 0.8 + 0.1) / 3, (0.8 + 0.1 + 0.1) / 3])
    assert int(np.argmax(smooth)) == 4  # the middle of the plateau, not the isolated peak


def test_a_class_found_at_no_setting_is_switched_off_not_set_to_fire_everywhere():
    rng = np.random.default_rng(0)
    scores = [0.02 + 0.01 * rng.random(250) for _ in range(4)]  # a collapsed output: flat, near the prior
    p = tune_class(scores, [[2.0], [], [5.5], []], [10.0] * 4, 0.04, thresholds=[0.5, 0.9])  # never reached
    assert p.threshold > 1.0 and p.val_f1 == 0.0
    decoder = frame_decoder(0.04, ["gunshot"], np.array([p.threshold]))
    assert decoder.push(np.ones((250, 1), np.float32)) + decoder.finish(10.0) == []
