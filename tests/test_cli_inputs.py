"""Inputs are what they claim: evaluate-events recognises event lists, detect's JSON and score files
(and rejects the wrong kind in one line); a closed pipe ends any command quietly with status 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from raresound.cli import main
from raresound.data.manifest import ClipRecord, write_manifest
from raresound.evaluation.events import Event, write_event_list
from helpers import planted_wave, saved_planted_bundle, write_wav

pytestmark = pytest.mark.usefixtures("one_thread")  # 1 torch thread: fast on a busy 2-core box

SRC = Path(__file__).resolve().parents[1] / "src"
EVENTS = {"a.wav": [(5.3, 7.3)], "b.wav": [(3.1, 4.6)]}


@pytest.fixture(scope="module")
def detected(tmp_path_factory):
    """detect's three outputs (event list, JSON report, window scores) and the true reference."""
    tmp = tmp_path_factory.mktemp("detected")
    saved_planted_bundle(tmp / "bundle")
    paths = [str(write_wav(tmp / name, planted_wave(12.0, events, seed=i))) for i, (name, events) in enumerate(EVENTS.items())]
    assert main(["detect", str(tmp / "bundle"), *paths, "--hop", "0.5", "--out", str(tmp / "ev.tsv"),
                 "--json", str(tmp / "ev.json"), "--scores", str(tmp / "scores.csv")]) == 0
    write_event_list([Event(f, a, b, "tone") for f, evs in EVENTS.items() for a, b in evs], tmp / "ref.tsv")
    return tmp


def evaluate_events(ref, est, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["evaluate-events", str(ref), str(est)])
    out, err = capsys.readouterr()
    return rc, out, err.strip()


def test_detect_json_is_read_as_the_estimate(detected, capsys):
    rc, out, _ = evaluate_events(detected / "ref.tsv", detected / "ev.json", capsys)
    assert rc == 0 and "ER 0.000" in out and "F1 100.0%" in out
    # the same numbers as the event list detect wrote beside it
    assert evaluate_events(detected / "ref.tsv", detected / "ev.tsv", capsys)[1] == out


def test_wrong_kinds_are_rejected_in_one_line(detected, tmp_path, capsys):
    ref, est = detected / "ref.tsv", detected / "ev.tsv"
    np.save(tmp_path / "scores.npy", np.zeros((3, 2), np.float32))
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "latin1.tsv").write_bytes(b"a.wav\t1.0\t2.0\tb\xe9b\xe9\n")
    (tmp_path / "stream.jsonl").write_text(json.dumps({"onset": 1.0, "offset": 2.0, "event_label": "tone",
                                                       "score": 0.9, "confirmed_at": 2.5}) + "\n")
    (tmp_path / "other.json").write_text('{"classes": ["tone"]}')
    write_manifest([ClipRecord("a.wav", ("tone",), "test", "s")], tmp_path / "manifest.csv")
    cases = [
        (detected / "ev.json", est, "detect's JSON output (detected events); the reference must be annotated events"),
        (ref, detected / "scores.csv", "per-window scores (from `detect --scores`), not events"),
        (ref, tmp_path / "scores.npy", "a NumPy array (.npy, e.g. saved scores), not an event list"),
        (ref, tmp_path / "blob.bin", "a binary file, not an event list"),
        (ref, tmp_path / "latin1.tsv", "not UTF-8 text, so not an event list"),
        (ref, tmp_path / "stream.jsonl", "`detect --stream` output (JSON lines without file names"),
        (ref, tmp_path / "other.json", "JSON, but not detect's JSON output, not an event list"),
        (tmp_path / "manifest.csv", est, "a manifest (path, labels, split, ...), not events"),
    ]
    for reference, estimate, message in cases:
        rc, out, err = evaluate_events(reference, estimate, capsys)
        bad = reference if reference != ref else estimate
        assert rc == 2 and out == "", (bad, out)
        assert err.startswith(f"raresound: error: {bad}: {message}") and "\n" not in err, err


def _with_closed_stdout(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "raresound", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the command writes (`| head -0`)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return subprocess.CompletedProcess(argv, proc.wait(), "", err)


@pytest.mark.parametrize("argv", [("info", "{manifest}"), ("--help",)])
def test_a_closed_pipe_ends_quietly(tmp_path, argv):
    write_manifest([ClipRecord(f"c{i}.wav", (), "train", f"s{i}") for i in range(3)], tmp_path / "m.csv")
    result = _with_closed_stdout(*(a.format(manifest=tmp_path / "m.csv") for a in argv))
    assert (result.returncode, result.stderr) == (0, "")
