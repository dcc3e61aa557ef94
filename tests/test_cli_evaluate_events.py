"""`raresound evaluate-events`: onset+offset, segment-based and PSDS through the CLI, and wrong inputs
ending in one line that names the file (never a silent ER of 1.0 or a traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from raresound.cli import main
from raresound.evaluation.events import Event, write_event_list
from raresound.evaluation.score_files import write_score_files
from raresound.io import read_json

REFERENCE = [Event("a.wav", 1.0, 2.0, "dog"), Event("a.wav", 3.0, 4.5, "cat"), Event("b.wav", 5.0, 6.0, "cat")]
# dog: onset 0.1 s late, offset 0.3 s late (outside max(0.2, 20 % of 1 s)); the cats match.
ESTIMATE = [Event("a.wav", 1.1, 2.3, "dog"), Event("a.wav", 3.0, 4.4, "cat"), Event("b.wav", 5.1, 6.0, "cat")]


@pytest.fixture
def lists(tmp_path):
    write_event_list(REFERENCE, tmp_path / "ref.tsv")
    write_event_list(ESTIMATE, tmp_path / "est.tsv")
    times = np.arange(0, 101) / 10
    scores = {}
    for name in ("a.wav", "b.wav"):
        s = np.zeros((100, 2))
        for e in REFERENCE:
            if e.filename == name:
                s[round(e.onset * 10):round(e.offset * 10), ["cat", "dog"].index(e.event_label)] = 1.0
        scores[name] = (times, s)
    write_score_files(tmp_path / "scores", scores, ["cat", "dog"])
    (tmp_path / "durations.tsv").write_text("filename\tduration\na.wav\t10\nb.wav\t10\n")
    return tmp_path


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["evaluate-events", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_onset_only_default_is_unchanged(lists, capsys):
    rc, out, _ = run(capsys, lists / "ref.tsv", lists / "est.tsv")
    assert rc == 0 and out.startswith("event-based (onset collar 0.5 s)")
    assert "ER 0.000  F1 100.0%" in out and "segment-based" not in out and "PSDS" not in out


def test_offset_segment_and_psds_together(lists, capsys):
    rc, out, _ = run(capsys, lists / "ref.tsv", lists / "est.tsv", "--offset", "--segment", "1",
                     "--scores", lists / "scores", "--durations", lists / "durations.tsv", "--json", lists / "m.json")
    assert rc == 0
    assert "event-based (onset collar 0.2 s, offset collar max(0.2 s, 20% of length))" in out
    assert "(Nref 3, Nsys 3, TP 2, S 0, D 1, I 1)" in out  # the dog's offset is 0.3 s late
    assert "segment-based (1.0 s segments)" in out and "PSDS 1.0000" in out
    m = read_json(lists / "m.json")
    assert m["evaluate_offset"] is True and m["t_collar"] == 0.2 and m["percentage_of_length"] == 0.2
    assert m["overall"]["Ntp"] == 2
    assert m["segment_based"]["time_resolution"] == 1.0 and m["segment_based"]["evaluated_seconds"] == 20.0
    assert m["psds"]["psds"] == pytest.approx(1.0) and m["psds"]["settings"]["dtc_threshold"] == 0.7
    # a larger percentage of length accepts the dog's offset
    rc, out, _ = run(capsys, lists / "ref.tsv", lists / "est.tsv", "--offset", "--percentage-of-length", "0.5")
    assert rc == 0 and "TP 3" in out


def test_scores_alone_or_as_the_estimate(lists, capsys):
    rc, out, _ = run(capsys, lists / "ref.tsv", "--scores", lists / "scores", "--json", lists / "p.json")
    assert rc == 0 and out.startswith("PSDS 1.0000") and "event-based" not in out
    assert set(read_json(lists / "p.json")) == {"psds"}
    assert run(capsys, lists / "ref.tsv", lists / "scores")[1] == out


def one_line_error(capsys, *argv) -> str:
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "", out
    assert err.startswith("raresound: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_wrong_inputs_are_one_line_errors_naming_the_file(lists, capsys):
    ref, est, scores = lists / "ref.tsv", lists / "est.tsv", lists / "scores"
    (lists / "report.json").write_text(json.dumps({"classes": ["dog"]}))
    bad = lists / "bad"
    bad.mkdir()
    (lists / "empty").mkdir()
    cases = [
        # a JSON file, a score directory or a score file where an event list is expected
        ((lists / "report.json", est), "report.json: JSON, but not detect's JSON output, not an event list"),
        ((ref, lists / "report.json"), "report.json: JSON, but not detect's JSON output, not an event list"),
        ((scores, est), "scores: a directory (of score files? give it with --scores), not an event list"),
        ((ref, scores / "a.tsv"), "a.tsv: frame-level scores (a score file; give their directory with --scores)"),
        # an event list where a score directory is expected
        ((ref, "--scores", est), "est.tsv: not a directory of score files"),
        ((ref, "--scores", lists / "empty"), "empty: no score files"),
        ((ref, "--scores", scores, "--durations", lists / "report.json"), "report.json:1: expected filename<TAB>duration"),
        ((ref, "nothing-here.tsv"), "nothing-here.tsv: cannot read event list"),
        ((ref,), "nothing to evaluate"),
        ((ref, est, "--percentage-of-length", "0.3"), "--percentage-of-length sets the offset collar"),
        ((ref, est, "--segment", "0"), "--segment must be a number of seconds >= 0.001"),
        ((ref, "--scores", scores, "--segment", "1"), "--offset, --collar and --segment score an estimated event list"),
    ]
    for argv, message in cases:
        assert message in one_line_error(capsys, *argv), (argv, message)


@pytest.mark.parametrize("text, message", [
    ("onset\toffset\tcat\n0.0\t0.1\t0.5\n", "b.tsv: class columns ['cat'] differ from ['cat', 'dog'] in a.tsv"),
    ("onset\toffset\tcat\tdog\n0.0\t0.1\t0.5\t0.5\n0.1\t0.05\t0.5\t0.5\n", "b.tsv: frame times are not increasing"),
    ("onset\toffset\tcat\tdog\n0.0\t0.1\t0.5\t0.5\n0.2\t0.3\t0.5\t0.5\n", "b.tsv: frame 2 starts at 0.2 s"),
    ("onset\toffset\tcat\tdog\n0.0\t0.1\tnan\t0.5\n", "b.tsv: non-finite score nan in frame 1"),
    ("onset\toffset\tcat\tdog\n0.0\t0.1\t0.5\n", "b.tsv:2: expected 4 fields like the header, got 3"),
    ('{"files": []}\n', "b.tsv: not a score file"),
])
def test_bad_score_files(lists, capsys, text, message):
    (lists / "scores" / "b.tsv").write_text(text)
    assert message in one_line_error(capsys, lists / "ref.tsv", "--scores", lists / "scores")


def test_reference_that_does_not_fit_the_scores(lists, capsys):
    ref = lists / "ref2.tsv"
    write_event_list(REFERENCE + [Event("c.wav", 1.0, 2.0, "dog")], ref)
    assert "reference file 'c.wav' has events but no score file c.tsv" in one_line_error(
        capsys, ref, "--scores", lists / "scores")
    write_event_list(REFERENCE + [Event("a.wav", 7.0, 8.0, "owl")], ref)
    assert "reference label 'owl' (a.wav) has no score column" in one_line_error(capsys, ref, "--scores", lists / "scores")
    (lists / "d.tsv").write_text("a.wav\t10\n")
    assert "no duration given for b.tsv" in one_line_error(capsys, lists / "ref.tsv", "--scores", lists / "scores",
                                                           "--durations", lists / "d.tsv")
    assert "d.tsv: no duration for 'b.wav'" in one_line_error(capsys, lists / "ref.tsv", lists / "est.tsv",
                                                              "--segment", "1", "--durations", lists / "d.tsv")


def test_overlapping_reference_events_are_a_one_line_error_and_nothing_is_written(lists, capsys):
    ref = lists / "overlap.tsv"
    write_event_list(REFERENCE + [Event("a.wav", 1.5, 2.5, "dog")], ref)
    err = one_line_error(capsys, ref, lists / "est.tsv", "--json", lists / "out.json")
    assert "overlap.tsv:4: dog event 1.5-2.5 s overlaps the one at" in err and "must not overlap" in err
    assert not (lists / "out.json").exists()
    # An estimate may overlap itself (a detector's double detections are scored as insertions).
    assert run(capsys, lists / "ref.tsv", ref)[0] == 0
