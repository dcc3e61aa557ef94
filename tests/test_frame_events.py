"""Vectorised frame decoding gives DecisionEngine's events on a step grid, whatever the blocks."""

import numpy as np
import pytest

from raresound.detection.frame_events import StepGrid
from raresound.detection.frame_events import FrameEventDecoder
from raresound.detection.postprocess import DecisionEngine


def _reference(scores, thresholds, median, min_gap, step, duration):
    engine = DecisionEngine(StepGrid(step), ["a", "b"], thresholds, median, min_gap)
    events = []
    for row in scores:
        events += engine.push(row)
    return sorted(events + engine.finish(duration), key=lambda e: (e.event_label, e.onset))


@pytest.mark.parametrize("median", [1, 3, 5])
@pytest.mark.parametrize("min_gap", [0.0, 0.05])
@pytest.mark.parametrize("seed", range(4))
def test_blockwise_decoding_equals_the_step_by_step_engine(median, min_gap, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    # runs of high scores on a low background, plus isolated blips the median filter must remove
    scores = np.clip(rng.normal(0.2, 0.25, (n, 2)), 0, 1)
    for _ in range(5):
        a = int(rng.integers(0, n))
        scores[a : a + int(rng.integers(1, 30)), int(rng.integers(2))] = 0.9
    thresholds = np.array([0.5, 0.6])
    step, duration = 0.04, n * 0.04 - 0.01
    expected = _reference(scores, thresholds, median, min_gap, step, duration)
    decoder = FrameEventDecoder(step, ["a", "b"], thresholds, median, min_gap)
    got, start = [], 0
    while start < n:  # random block sizes, including 1-step blocks
        size = int(rng.integers(1, 40))
        got += decoder.push(scores[start : start + size])
        start += size
    got = sorted(got + decoder.finish(duration), key=lambda e: (e.event_label, e.onset))
    assert got == expected


def test_an_event_is_a_run_of_steps_and_its_peak():
    scores = np.array([[0.1], [0.7], [0.9], [0.6], [0.2], [0.8]])
    decoder = FrameEventDecoder(0.1, ["x"], np.array([0.5]))
    events = decoder.push(scores) + decoder.finish(0.55)
    assert [(round(e.onset, 9), round(e.offset, 9), e.score) for e in events] == [(0.1, 0.4, 0.9), (0.5, 0.55, 0.8)]
