"""PSDS through sed_scores_eval on cases with known answers, and the score files it reads."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from raresound.errors import DataError, RaresoundError
from raresound.evaluation.events import Event
from raresound.evaluation.psds import SCENARIO_1, psds
from raresound.evaluation.score_files import read_durations, read_score_files, write_score_files

CLASSES = ["cat", "dog"]
TIMES = np.arange(0, 201) / 10  # 0.1-s frames over 20 s
REFERENCE = [Event("a.wav", 1.0, 2.0, "dog"), Event("a.wav", 3.0, 4.5, "cat"), Event("b.wav", 5.0, 6.0, "cat")]


def perfect_scores() -> dict:
    """1 inside each reference event of its class, 0 elsewhere."""
    out = {}
    for name in ("a.wav", "b.wav"):
        scores = np.zeros((len(TIMES) - 1, len(CLASSES)))
        for e in REFERENCE:
            if e.filename == name:
                scores[round(e.onset * 10):round(e.offset * 10), CLASSES.index(e.event_label)] = 1.0
        out[name] = (TIMES, scores)
    return out


def test_scenario_1_settings():
    assert SCENARIO_1 == {"dtc_threshold": 0.7, "gtc_threshold": 0.7, "cttc_threshold": None, "alpha_ct": 0.0,
                          "alpha_st": 1.0, "max_efpr": 100.0}


def test_perfect_scores_give_one_inverted_give_zero(tmp_path):
    write_score_files(tmp_path / "scores", perfect_scores(), CLASSES)
    result = psds(tmp_path / "scores", REFERENCE)
    assert result["psds"] == pytest.approx(1.0, abs=1e-9)
    assert result["class_wise"] == pytest.approx({"cat": 1.0, "dog": 1.0}, abs=1e-9)
    assert result["files"] == 2 and result["settings"] == SCENARIO_1
    inverted = {name: (t, 1.0 - s) for name, (t, s) in perfect_scores().items()}
    assert psds(inverted, REFERENCE, classes=CLASSES)["psds"] == pytest.approx(0.0, abs=1e-9)
    noise = np.random.default_rng(0)
    uncorrelated = {name: (t, noise.random(s.shape)) for name, (t, s) in perfect_scores().items()}
    assert psds(uncorrelated, REFERENCE, classes=CLASSES)["psds"] < 0.05


def test_hand_worked_roc_area():
    # One class, one 20-s file counted as an hour. Events 2-4 s (score 0.9) and 10-12 s (0.5); a
    # false alarm at 15-17 s scores 0.7. Thresholds in (0.7, 0.9]: TPR 1/2 with no false positive;
    # down to 0.5: TPR 1 at 1 false positive per hour. Area up to 100/h: (0.5 * 1 + 1 * 99) / 100.
    times = np.arange(0, 21, dtype=float)
    scores = np.zeros((20, 1))
    scores[2:4], scores[10:12], scores[15:17] = 0.9, 0.5, 0.7
    reference = [Event("a.wav", 2.0, 4.0, "dog"), Event("a.wav", 10.0, 12.0, "dog")]
    result = psds({"a.wav": (times, scores)}, reference, durations={"a.wav": 3600.0}, classes=["dog"])
    assert result["psds"] == pytest.approx(0.995, abs=1e-9)
    # with the file's own 20 s, one false alarm is 180 per hour, past max_efpr: only TPR 1/2 counts
    assert psds({"a.wav": (times, scores)}, reference, classes=["dog"])["psds"] == pytest.approx(0.5, abs=1e-9)


def test_overlapping_reference_events_are_merged():
    reference = REFERENCE + [Event("a.wav", 1.5, 2.0, "dog")]  # inside the 1-2 s dog: same activity
    assert psds(perfect_scores(), reference, classes=CLASSES)["psds"] == pytest.approx(1.0, abs=1e-9)


def test_score_files_round_trip_through_sed_scores_eval(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sed_scores_eval.base_modules.io import read_sed_scores
    rng = np.random.default_rng(1)
    written = {"clips/x.wav": (np.cumsum(rng.uniform(0.01, 0.2, 31)), rng.random((30, 2))),
               "y.flac": (np.arange(11) * 0.1, rng.random((10, 2)))}
    write_score_files(tmp_path, written, CLASSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tsv", "y.tsv"]
    theirs = read_sed_scores(tmp_path)
    classes, ours = read_score_files(tmp_path)
    assert classes == CLASSES and sorted(theirs) == sorted(ours) == ["x", "y"]
    for name, (times, scores) in written.items():
        aid = name.split("/")[-1].rsplit(".", 1)[0]
        frame = theirs[aid]
        assert list(frame.columns) == ["onset", "offset", *CLASSES]
        # pandas' default float parser may land a few ulps off the written repr; ours reads it exactly
        np.testing.assert_allclose(frame[CLASSES].to_numpy(), scores, rtol=1e-13, atol=0)
        np.testing.assert_allclose(np.r_[frame["onset"].to_numpy(), frame["offset"].to_numpy()[-1]], times,
                                   rtol=1e-13, atol=0)
        np.testing.assert_array_equal(ours[aid][0], times)
        np.testing.assert_array_equal(ours[aid][1], scores)


def test_score_file_errors_name_the_file(tmp_path):
    d = tmp_path / "s"
    write_score_files(d, perfect_scores(), CLASSES)
    header = "onset\toffset\tcat\tdog\n"
    cases = [
        ("onset\toffset\tcat\n0.0\t0.1\t0.5\n", r"b\.tsv: class columns \['cat'\] differ from \['cat', 'dog'\] in a\.tsv"),
        (header + "0.0\t0.1\t0.5\t0.5\n0.2\t0.3\t0.5\t0.5\n", r"b\.tsv: frame 2 starts at 0\.2 s, not where frame 1 ends"),
        (header + "0.0\t0.1\t0.5\t0.5\n0.1\t0.05\t0.5\t0.5\n", r"b\.tsv: frame times are not increasing"),
        (header + "0.0\t0.1\tnan\t0.5\n", r"b\.tsv: non-finite score nan in frame 1"),
        (header + "0.0\t0.1\t0.5\n", r"b\.tsv:2: expected 4 fields"),
        (header + "0.0\t0.1\thigh\t0.5\n", r"b\.tsv:2: fields must be numbers"),
        (header, r"b\.tsv: no frames"),
        ("a.wav\t1.0\t2.0\tdog\n", r"b\.tsv: not a score file"),
    ]
    for text, message in cases:
        (d / "b.tsv").write_text(text)
        with pytest.raises(DataError, match=message):
            read_score_files(d)
    (d / "b.tsv").unlink()
    (d / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt: not a score file"):
        read_score_files(d)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no score files"):
        read_score_files(tmp_path / "empty")
    with pytest.raises(DataError, match="not a directory of score files"):
        read_score_files(d / "a.tsv")


def test_psds_input_errors(tmp_path):
    scores = perfect_scores()
    with pytest.raises(DataError, match="reference label 'owl'"):
        psds(scores, REFERENCE + [Event("a.wav", 7, 8, "owl")], classes=CLASSES)
    with pytest.raises(DataError, match=r"reference file 'c.wav' has events but no score file c\.tsv"):
        psds(scores, REFERENCE + [Event("c.wav", 7, 8, "dog")], classes=CLASSES)
    with pytest.raises(DataError, match=r"classes \['dog'\] .* have no reference events"):
        psds(scores, REFERENCE[1:], classes=CLASSES)
    with pytest.raises(DataError, match="no duration given for b"):
        psds(scores, REFERENCE, durations={"a.wav": 20.0}, classes=CLASSES)
    with pytest.raises(DataError, match=r"a\.wav: scores of shape \(200, 2\) .* do not fit 3 classes"):
        psds(scores, REFERENCE, classes=CLASSES + ["owl"])
    bad = {"a.wav": (TIMES[::-1], scores["a.wav"][1])}
    with pytest.raises(DataError, match="a.wav: frame times are not increasing"):
        psds(bad, REFERENCE, classes=CLASSES)
    with pytest.raises(DataError, match="share the score file a.tsv"):
        write_score_files(tmp_path, {"a.wav": scores["a.wav"], "x/a.flac": scores["a.wav"]}, CLASSES)
    with pytest.raises(TypeError, match="unknown PSDS settings"):
        psds(scores, REFERENCE, classes=CLASSES, dtc=0.5)


def test_durations_file(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text("filename\tduration\na.wav\t10.5\nb.wav\t3\n")
    assert read_durations(p) == {"a.wav": 10.5, "b.wav": 3.0}
    p.write_text("a.wav\tlong\n")
    with pytest.raises(DataError, match=r"d\.tsv:1: expected filename<TAB>duration"):
        read_durations(p)


def test_missing_package_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "sed_scores_eval", None)
    with pytest.raises(RaresoundError, match=r"PSDS needs the sed_scores_eval package: pip install 'raresound\[psds\]'"):
        psds(perfect_scores(), REFERENCE, classes=CLASSES)
