"""Audacity label tracks and Raven selection tables (evaluation/event_formats.py): round trips, the exact
layout, per-file names, one-line errors."""

import pytest

from raresound.errors import DataError
from raresound.evaluation.event_formats import (RAVEN_COLUMNS, per_file_names, read_audacity_labels,
                                                read_raven_table, write_audacity_labels, write_events_as,
                                                write_raven_table)
from raresound.evaluation.events import Event, read_event_list

EVENTS = [Event("a.wav", 20.05, 22.05, "dog"), Event("a.wav", 5.3, 7.3, "baby cry")]


def test_audacity_round_trip_and_layout(tmp_path):
    path = write_audacity_labels(EVENTS, tmp_path / "a.txt")
    assert path.read_text() == "5.3\t7.3\tbaby cry\n20.05\t22.05\tdog\n"  # onset order
    assert read_audacity_labels(path, "a.wav") == sorted(EVENTS, key=lambda e: e.onset)


def test_audacity_reader_skips_spectral_lines_and_names_bad_lines(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("1.0\t2.0\tdog\n\\\t100.0\t2000.0\n3.5\t3.5\tpoint\n")
    assert read_audacity_labels(p, "x.wav") == [Event("x.wav", 1.0, 2.0, "dog"), Event("x.wav", 3.5, 3.5, "point")]
    p.write_text("1.0\t2.0\tdog\nsoon\t2\tcat\n")
    with pytest.raises(DataError, match=r"l.txt:2: times must be numbers"):
        read_audacity_labels(p, "x.wav")
    p.write_text("3.0\t2.0\tdog\n")
    with pytest.raises(DataError, match=r"l.txt:1"):
        read_audacity_labels(p, "x.wav")
    with pytest.raises(DataError, match="missing.txt: cannot read Audacity label track"):
        read_audacity_labels(tmp_path / "missing.txt", "x.wav")


def test_raven_round_trip_and_layout(tmp_path):
    path = write_raven_table(EVENTS, tmp_path / "a.Table.1.selections.txt", freq_range=(0.0, 8000.0))
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == list(RAVEN_COLUMNS)
    assert lines[0] == ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"
                        "\tAnnotation")
    assert lines[1] == "1\tSpectrogram 1\t1\t5.3\t7.3\t0.0\t8000.0\tbaby cry"
    assert read_raven_table(path, "a.wav") == sorted(EVENTS, key=lambda e: e.onset)


def test_raven_reader_takes_each_selection_once_and_other_label_columns(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tSpecies\n"
                 "1\tWaveform 1\t1\t1.0\t2.0\tdog\n1\tSpectrogram 1\t1\t1.0\t2.0\tdog\n2\tSpectrogram 1\t1\t4\t5\tcat\n")
    assert read_raven_table(p, "r.wav", label_column="Species") == [Event("r.wav", 1.0, 2.0, "dog"),
                                                                    Event("r.wav", 4.0, 5.0, "cat")]
    with pytest.raises(DataError, match="no column 'Annotation'"):
        read_raven_table(p, "r.wav")
    p.write_text("")
    with pytest.raises(DataError, match="t.txt: empty"):
        read_raven_table(p, "r.wav")


def test_per_file_names():
    assert per_file_names(["a.wav", "b.flac"], ".txt") == {"a.wav": "a.txt", "b.flac": "b.txt"}
    assert per_file_names(["a.wav", "a.flac"], ".txt") == {"a.wav": "a.wav.txt", "a.flac": "a.flac.txt"}
    assert per_file_names(["x/a.wav", "y/a.wav"], ".txt") == {"x/a.wav": "x__a.txt", "y/a.wav": "y__a.txt"}


def test_write_events_as_file_or_directory(tmp_path):
    by_file = {"a.wav": EVENTS, "b.wav": []}
    written = write_events_as("audacity", by_file, tmp_path / "labels")
    assert sorted(p.name for p in written) == ["a.txt", "b.txt"] and (tmp_path / "labels" / "b.txt").read_text() == ""
    (one,) = write_events_as("raven", {"a.wav": EVENTS}, tmp_path / "one.txt")
    assert one == tmp_path / "one.txt" and len(read_raven_table(one, "a.wav")) == 2
    (tmp_path / "dir").mkdir()
    (inside,) = write_events_as("raven", {"a.wav": EVENTS}, tmp_path / "dir")
    assert inside == tmp_path / "dir" / "a.Table.1.selections.txt"
    (listed,) = write_events_as("dcase", by_file, tmp_path / "ev.tsv")
    assert read_event_list(listed) == EVENTS
    with pytest.raises(DataError, match="unknown event format 'csv'"):
        write_events_as("csv", by_file, tmp_path / "x")
    with pytest.raises(DataError, match="one.txt: is a file"):
        write_events_as("raven", by_file, tmp_path / "one.txt")


def test_read_events_for_any_format(tmp_path):
    from raresound.evaluation.event_formats import read_events_for, sniff_format

    aud = write_audacity_labels(EVENTS, tmp_path / "a.txt")
    rav = write_raven_table(EVENTS, tmp_path / "a.sel.txt")
    dc = tmp_path / "ref.tsv"
    dc.write_text("dir/a.wav\t5.3\t7.3\tbaby cry\nb.wav\t1\t2\tdog\nc.wav\n")
    assert [sniff_format(p) for p in (aud, rav, dc)] == ["audacity", "raven", "dcase"]
    assert read_events_for(aud, "a.wav") == read_events_for(rav, "a.wav") == sorted(EVENTS, key=lambda e: e.onset)
    assert read_events_for(dc, "a.wav") == [Event("a.wav", 5.3, 7.3, "baby cry")]  # matched by basename
    assert read_events_for(dc, "c.wav") == []  # listed without events
    with pytest.raises(DataError, match=r"ref.tsv: lists no events for d.wav \(it lists b.wav, c.wav, dir/a.wav\)"):
        read_events_for(dc, "d.wav")
