"""Boundary errors by hand, and long test files whose reference events sit where the audio is."""

import math

import numpy as np
import pytest
import soundfile as sf

from helpers import planted_wave, write_wav
from raresound.data.manifest import ClipRecord
from raresound.errors import DataError
from raresound.evaluation.events import Event
from raresound.evaluation.localisation import boundary_errors, long_test_files


def test_boundary_errors_match_the_most_overlapping_estimate_of_the_class():
    reference = [Event("f", 1.0, 2.0, "dog"), Event("f", 5.0, 6.0, "dog"), Event("g", 1.0, 3.0, "baby")]
    estimated = [Event("f", 1.1, 1.3, "dog"),   # overlaps the first by 0.2
                 Event("f", 1.25, 2.5, "dog"),  # overlaps it by 0.75: the match (errors .25, .5)
                 Event("f", 5.0, 6.0, "baby"),  # wrong class: no match for the second
                 Event("g", 0.9, 3.2, "baby")]  # errors .1, .2
    r = boundary_errors(reference, estimated)
    assert r["n_matched"] == 2 and r["matched"] == pytest.approx(2 / 3)
    assert r["onset_median"] == pytest.approx((0.25 + 0.1) / 2)
    assert r["offset_median"] == pytest.approx((0.5 + 0.2) / 2)
    assert r["offset_p90"] == pytest.approx(0.2 + 0.9 * 0.3)


def test_no_match_gives_nan_errors():
    r = boundary_errors([Event("f", 1.0, 2.0, "dog")], [])
    assert r["matched"] == 0 and math.isnan(r["onset_median"])


def test_long_files_put_the_reference_events_on_the_planted_audio(tmp_path):
    records = []
    for i in range(6):
        path = tmp_path / f"c{i}.wav"
        if i % 2:
            write_wav(path, planted_wave(2.0, [(0.5, 1.25)], seed=i))
            records.append(ClipRecord(str(path), ("tone",), "test", f"s{i}", 2.0, 0.5, 1.25))
        else:
            write_wav(path, planted_wave(2.0, [], seed=i))
            records.append(ClipRecord(str(path), (), "test", f"s{i}", 2.0))
    paths, reference = long_test_files(records, tmp_path / "long", n_files=2, clips_per_file=4)
    assert [p.name for p in paths] == ["long00.wav", "long01.wav"]
    assert len(reference) == 2  # clip 1 of each file is positive (clips 0, 2, 3 are background)
    for event in reference:
        wave, sr = sf.read(str(tmp_path / "long" / event.filename))
        assert wave.size == 8 * sr
        inside = wave[int(event.onset * sr) : int(event.offset * sr)]
        outside = wave[: int(event.onset * sr) - 10]
        assert event.onset == pytest.approx(2.5) and event.offset == pytest.approx(3.25)
        assert np.sqrt(np.mean(inside ** 2)) > 10 * np.sqrt(np.mean(outside ** 2))


def test_long_files_need_positive_and_background_clips(tmp_path):
    with pytest.raises(DataError, match="onset/offset"):
        long_test_files([ClipRecord("a.wav", ("x",), "test", "s", 1.0)], tmp_path)
