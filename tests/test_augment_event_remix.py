"""EventRemix (data/augment/event_remix.py): a fresh mixture per call at a drawn EBR and offset."""

import math

import numpy as np
import pytest
import torch

from raresound.data.augment import EventRemix, ParameterError
from raresound.data.mixtures import measured_ebr_db

SR = 8000


def _sources():
    rng = np.random.default_rng(0)
    t = np.arange(int(0.5 * SR)) / SR
    events = [(0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32), "tone"),
              ((0.3 * rng.standard_normal(int(0.3 * SR))).astype(np.float32), "burst")]
    background = (0.05 * rng.standard_normal(2 * SR)).astype(np.float32)
    return events, background


def test_measured_ebr_within_half_a_db_and_onsets_fit():
    events, background = _sources()
    remix = EventRemix(events, [background], clip_seconds=2.0, sample_rate=SR)
    g = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        clip = remix(g)
        assert clip.wave.shape == (2 * SR,) and clip.wave.dtype == np.float32
        assert 0 <= clip.start < clip.stop <= clip.wave.size
        assert math.isclose(clip.onset, clip.start / SR) and math.isclose(clip.offset, clip.stop / SR)
        assert clip.stop - clip.start == dict((lab, w.size) for w, lab in events)[clip.label]
        assert abs(measured_ebr_db(clip.wave, background, clip.start, clip.stop) - clip.ebr_db) < 0.5
        seen.add((clip.label, clip.ebr_db, clip.start))
    assert {e for _, e, _ in seen} == {-6.0, 0.0, 6.0} and {l for l, _, _ in seen} == {"tone", "burst"}
    assert len({s for _, _, s in seen}) > 10  # fresh offsets


def test_same_seed_same_mixture_and_background_only():
    events, background = _sources()
    remix = EventRemix(events, [background, background[::-1].copy()], clip_seconds=1.0, sample_rate=SR, p=0.5)
    a = [remix(torch.Generator().manual_seed(4)) for _ in range(2)]
    assert np.array_equal(a[0].wave, a[1].wave) and a[0].label == a[1].label
    none = EventRemix(events, [background], clip_seconds=1.0, sample_rate=SR, p=0.0)(torch.Generator())
    assert none.label is None and none.onset is None and math.isnan(none.ebr_db) and none.wave.size == SR


def test_short_background_is_padded_and_long_event_cropped():
    events, background = _sources()
    long_event = [(np.ones(3 * SR, np.float32) * 0.1, "hum")]
    clip = EventRemix(long_event, [background[: SR // 2]], clip_seconds=1.0, sample_rate=SR)(torch.Generator())
    assert clip.wave.size == SR and (clip.start, clip.stop) == (0, SR)


@pytest.mark.parametrize("kwargs, name", [({"ebr_db": []}, "ebr_db"), ({"backgrounds": []}, "backgrounds"),
                                          ({"events": [(np.zeros(10), "x")]}, "events"), ({"p": -0.1}, "p")])
def test_bad_parameters(kwargs, name):
    events, background = _sources()
    args = {"events": events, "backgrounds": [background], **kwargs}
    with pytest.raises(ParameterError) as info:
        EventRemix(**args)
    assert info.value.parameter == name
