"""data.join: clips of a split end to end (or crossfaded) with their events shifted to match."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from raresound.data.join import join_clips
from raresound.data.manifest import ClipRecord, write_manifest
from raresound.errors import DataError

SR = 16000


def _manifest(tmp_path, seconds=(2.0, 2.0, 2.0)):
    rng = np.random.default_rng(0)
    records = []
    for i, s in enumerate(seconds):
        path = tmp_path / f"c{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(s * SR))).astype(np.float32), SR, subtype="FLOAT")
        records.append(ClipRecord(str(path), ("dog",), "test", f"src{i}", s, 0.5, 1.0))
    write_manifest(records, tmp_path / "m.csv")
    return tmp_path / "m.csv"


def test_butt_join_keeps_every_sample_and_shifts_events_by_clip_length(tmp_path):
    wav, _, seconds, events = join_clips(_manifest(tmp_path), tmp_path / "long.wav", n_clips=3, crossfade=0.0)
    assert seconds == pytest.approx(6.0) and sf.info(wav).frames == 6 * SR
    assert [e.onset for e in events] == pytest.approx([0.5, 2.5, 4.5])


def test_crossfade_overlaps_consecutive_clips_and_moves_their_events_with_them(tmp_path):
    _, _, seconds, events = join_clips(_manifest(tmp_path), tmp_path / "long.wav", n_clips=3, crossfade=0.25)
    assert seconds == pytest.approx(6.0 - 2 * 0.25)
    assert [e.onset for e in events] == pytest.approx([0.5, 2.25, 4.0])
    assert [e.offset - e.onset for e in events] == pytest.approx([0.5] * 3)


def test_equal_power_ramps_keep_the_level_of_uncorrelated_backgrounds_through_the_join(tmp_path):
    wav, *_ = join_clips(_manifest(tmp_path), tmp_path / "long.wav", n_clips=3, crossfade=0.5)
    x, _ = sf.read(wav)
    # Clip 2 starts at 1.5 s: the overlap is 1.5-2.0 s. Its RMS is the clips' 0.1 (sin^2 + cos^2 = 1),
    # where a linear crossfade of uncorrelated noise would dip to 0.1 / sqrt(2) mid-way.
    middle = x[int(1.6 * SR):int(1.9 * SR)]
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("crossfade, match", [(-0.1, "^`crossfade` must be"), (2.5, "^`crossfade` must be"),
                                              (1.5, "too short")])
def test_bad_crossfades_are_refused_before_writing(tmp_path, crossfade, match):
    with pytest.raises(DataError, match=match):
        join_clips(_manifest(tmp_path), tmp_path / "long.wav", n_clips=3, crossfade=crossfade)
    assert not (tmp_path / "long.wav").exists()


def test_the_library_names_its_parameters_and_the_command_line_its_flags(tmp_path, capsys):
    from raresound.cli import main

    with pytest.raises(DataError, match="^`n_clips` must be >= 1, got 0$"):
        join_clips(_manifest(tmp_path), tmp_path / "long.wav", n_clips=0)
    assert main(["data", "join", str(_manifest(tmp_path)), "--out", str(tmp_path / "long.wav"), "--n-clips", "0"]) == 2
    assert capsys.readouterr().err == "raresound: error: --n-clips must be >= 1, got 0\n"
    assert main(["data", "join", str(_manifest(tmp_path)), "--out", str(tmp_path / "long.wav"), "--crossfade", "3"]) == 2
    assert "error: --crossfade must be between 0 and 2 seconds" in capsys.readouterr().err
