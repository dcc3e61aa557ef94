"""CLI: detect (files and --stream), outputs, skip-and-report exit codes, evaluate-events round trip."""

from __future__ import annotations

import io
import json
import types

import numpy as np
import pytest

from raresound.cli import main
from raresound.evaluation.events import Event, read_event_list, write_event_list
from raresound.io import read_json
from helpers import planted_wave, saved_planted_bundle, write_wav

pytestmark = pytest.mark.usefixtures("one_thread")  # 1 torch thread: fast on a busy 2-core box

EVENTS = {"a.wav": [(5.3, 7.3), (20.05, 22.05)], "b.wav": [(3.1, 4.6)]}


def _files(tmp_path):
    paths = []
    for i, (name, events) in enumerate(EVENTS.items()):
        paths.append(str(write_wav(tmp_path / name, planted_wave(30.0 if name == "a.wav" else 9.0, events, seed=i))))
    return paths


def test_detect_files_writes_dcase_list_json_and_scores(tmp_path, capsys):
    saved_planted_bundle(tmp_path / "bundle")
    paths = _files(tmp_path)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF nonsense")
    rc = main(["detect", str(tmp_path / "bundle"), *paths, str(junk), "--hop", "0.5", "--out", str(tmp_path / "ev.tsv"),
               "--json", str(tmp_path / "ev.json"), "--scores", str(tmp_path / "scores.csv")])
    err = capsys.readouterr().err
    assert rc == 0
    assert f"skipped {junk}" in err and "detected 3 events in 2 file(s)" in err and "skipped 1" in err
    events = read_event_list(tmp_path / "ev.tsv")
    assert [(e.filename, e.event_label) for e in events] == [("a.wav", "tone"), ("a.wav", "tone"), ("b.wav", "tone")]
    for e, (a, b) in zip(events, EVENTS["a.wav"] + EVENTS["b.wav"]):
        assert abs(e.onset - a) < 0.5 and abs(e.offset - b) < 0.5
    report = read_json(tmp_path / "ev.json")
    assert [f["filename"] for f in report["files"]] == ["a.wav", "b.wav"]
    assert report["files"][0]["n_windows"] == 53 and len(report["files"][0]["scores"]) == 53
    assert report["files"][0]["events"][0]["score"] > 0.99
    assert report["skipped"][0]["path"] == str(junk)
    assert report["thresholds"] == {"tone": 0.5, "whistle": 0.5} and report["hop_seconds"] == 0.5
    rows = (tmp_path / "scores.csv").read_text().splitlines()
    assert rows[0] == "filename,window,start,end,tone,whistle" and len(rows) == 1 + 53 + 11

    # evaluate-events against the truth: every onset within the 0.5 s collar
    write_event_list([Event(f, a, b, "tone") for f, evs in EVENTS.items() for a, b in evs], tmp_path / "ref.tsv")
    assert main(["evaluate-events", str(tmp_path / "ref.tsv"), str(tmp_path / "ev.tsv"),
                 "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "ER 0.000" in out and "F1 100.0%" in out
    metrics = read_json(tmp_path / "m.json")
    assert metrics["overall"]["Ntp"] == 3 and metrics["class_wise"]["tone"]["f_measure"] == 1.0


def test_detect_exit_codes_and_threshold_errors(tmp_path, capsys):
    saved_planted_bundle(tmp_path / "bundle")
    missing = str(tmp_path / "missing.wav")
    assert main(["detect", str(tmp_path / "bundle"), missing]) == 1  # every file failed
    err = capsys.readouterr().err
    assert "skipped" in err and "missing.wav" in err and "detected 0 events in 0 file(s)" in err
    saved_planted_bundle(tmp_path / "uncalibrated", thresholds={})
    (path,) = _files(tmp_path)[1:]
    assert main(["detect", str(tmp_path / "uncalibrated"), path]) == 2
    assert "no decision threshold" in (err := capsys.readouterr().err) and "or pass --threshold\n" in err
    # an explicit threshold works without calibration; printed to stdout without --out
    assert main(["detect", str(tmp_path / "uncalibrated"), path, "--threshold", "0.5", "--hop", "0.5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("b.wav\t") and out[0].endswith("\ttone")
    assert main(["detect", str(tmp_path / "bundle"), path, "--hop", "0.013"]) == 2
    assert main(["detect", str(tmp_path / "bundle"), path, "--median", "2"]) == 2
    assert main(["detect", str(tmp_path / "bundle")]) == 2


def test_detect_stream_prints_json_lines_like_offline(tmp_path, capsys, monkeypatch):
    saved_planted_bundle(tmp_path / "bundle")
    wave = planted_wave(30.0, EVENTS["a.wav"], seed=0)
    write_wav(tmp_path / "a.wav", wave)
    assert main(["detect", str(tmp_path / "bundle"), str(tmp_path / "a.wav"), "--hop", "0.5",
                 "--out", str(tmp_path / "off.tsv")]) == 0
    offline = read_event_list(tmp_path / "off.tsv")
    capsys.readouterr()
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(pcm)))
    assert main(["detect", str(tmp_path / "bundle"), "--stream", "--hop", "0.5", "--chunk-seconds", "0.25"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [(d["onset"], d["offset"], d["event_label"]) for d in lines] == [(e.onset, e.offset, e.event_label)
                                                                            for e in offline]
    assert all(d["confirmed_at"] >= d["offset"] for d in lines)
    assert "events are printed at most" in captured.err and "stream ended: 30.0 s" in captured.err
    assert main(["detect", str(tmp_path / "bundle"), str(tmp_path / "a.wav"), "--stream"]) == 2


def test_detect_formats_audacity_and_raven(tmp_path, capsys):
    from raresound.evaluation.event_formats import read_audacity_labels, read_raven_table

    saved_planted_bundle(tmp_path / "bundle")
    paths = _files(tmp_path)
    assert main(["detect", str(tmp_path / "bundle"), *paths, "--hop", "0.5", "--out", str(tmp_path / "ev.tsv")]) == 0
    dcase = read_event_list(tmp_path / "ev.tsv")
    assert main(["detect", str(tmp_path / "bundle"), *paths, "--hop", "0.5", "--format", "audacity",
                 "--out", str(tmp_path / "labels")]) == 0
    got = read_audacity_labels(tmp_path / "labels" / "a.txt", "a.wav") + read_audacity_labels(
        tmp_path / "labels" / "b.txt", "b.wav")
    assert got == dcase  # the same events as the DCASE list
    assert main(["detect", str(tmp_path / "bundle"), paths[1], "--hop", "0.5", "--format", "raven",
                 "--out", str(tmp_path / "b.selections.txt")]) == 0
    assert read_raven_table(tmp_path / "b.selections.txt", "b.wav") == [e for e in dcase if e.filename == "b.wav"]
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "bundle"), paths[1], "--hop", "0.5", "--format", "audacity"]) == 0
    assert capsys.readouterr().out.count("\ttone\n") == 1  # one file: the label track on stdout
    assert main(["detect", str(tmp_path / "bundle"), *paths, "--format", "audacity"]) == 2
    assert "config field '--out'" in capsys.readouterr().err
    assert main(["detect", str(tmp_path / "bundle"), *paths, "--format", "praat"]) == 2
    err = capsys.readouterr().err
    assert "unknown event format 'praat'" in err and len(err.strip().splitlines()) == 1


def test_batch_sizes_window_detection_and_is_refused_for_a_frame_bundle(tmp_path, capsys):
    from raresound.cli import build_parser
    from raresound.commands.detect import _detector
    from raresound.detect import WINDOW_BATCH
    from helpers import saved_frame_bundle

    saved_planted_bundle(tmp_path / "clip")
    saved_frame_bundle(tmp_path / "frames")
    path = str(write_wav(tmp_path / "a.wav", planted_wave(3.0, [])))
    parse = build_parser().parse_args
    assert _detector(parse(["detect", str(tmp_path / "clip"), path])).batch == WINDOW_BATCH == 64  # as --help says
    assert _detector(parse(["detect", str(tmp_path / "clip"), path, "--batch", "8"])).batch == 8
    assert _detector(parse(["detect", str(tmp_path / "frames"), path, "--batch", "8", "--windows"])).batch == 8
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "frames"), path, "--batch", "8"]) == 2  # one pass: no batches to size
    err = capsys.readouterr().err
    assert "--batch" in err and "one pass" in err
    assert main(["detect", str(tmp_path / "frames"), path]) == 0
