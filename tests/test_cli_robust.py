"""Bad inputs and faulty outputs end in one line (`raresound: error: ...`, exit 2), never a traceback,
and special output paths (/dev/stdout and links to it, FIFOs) are written into, never replaced."""

from __future__ import annotations

import errno
import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from raresound.cli import main
from helpers import make_bundle
from helpers import make_store


def one_line_error(capsys, argv, *expected):
    code = main(argv)
    # warnings about small splits (data.checks) may come first; the error itself is one line
    err = "".join(l for l in capsys.readouterr().err.splitlines(keepends=True) if not l.startswith("warning: "))
    assert code == 2, err
    assert err.startswith("raresound: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    return err


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "bundle")


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.3, 0.3, 24000).astype(np.float32), 16000)
    return path


def test_evaluate_missing_run_or_run_json(tmp_path, capsys, bundle):
    one_line_error(capsys, ["evaluate", str(tmp_path / "nonexistent")], "no such run directory")
    run = tmp_path / "run"
    (run / "models").mkdir(parents=True)
    os.symlink(bundle, run / "models" / "m")
    one_line_error(capsys, ["evaluate", str(run)], "no run.json", "--data")


def test_compare_rejects_pickled_scores(tmp_path, capsys):
    folder = tmp_path / "run" / "eval" / "test"
    folder.mkdir(parents=True)
    (folder / "eer.json").write_text('{"m": {"classes": ["a"], "eer": {"a": 0.1}}}')
    np.save(folder / "targets.npy", np.zeros((4, 1), np.float32))
    with open(folder / "m.scores.npy", "wb") as fh:
        np.save(fh, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    one_line_error(capsys, ["compare", str(tmp_path / "run"), "--out", str(tmp_path / "cmp")],
                   "m.scores.npy: not a plain numpy array")
    (folder / "m.scores.npy").write_bytes(pickle.dumps([1, 2]))
    one_line_error(capsys, ["compare", str(tmp_path / "run"), "--out", str(tmp_path / "cmp")], "m.scores.npy")


@pytest.mark.slow
def test_detect_scores_to_dev_stdout_keep_the_link_and_the_redirected_output(tmp_path, bundle, wav):
    # The issue: a temp file was renamed over the /dev/stdout symlink. Run as a user would, with
    # stdout redirected to a file: events (printed) and scores (written via the link) both arrive.
    import subprocess
    import sys

    link = tmp_path / "stdout-link"
    link.symlink_to("/dev/stdout")
    out = tmp_path / "out.txt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    with open(out, "w") as fh:
        subprocess.run([sys.executable, "-m", "raresound", "detect", str(bundle), str(wav), "--threshold", "0.5",
                        "--scores", str(link), "--threads", "1"], stdout=fh, env=env, check=True, timeout=300)
    text = out.read_text()
    assert "x.wav\t0.0\t1.5\t" in text and "filename,window,start,end,a,b,c\nx.wav,0,0.0,1.0," in text
    assert link.is_symlink() and os.readlink(link) == "/dev/stdout"


def test_detect_scores_to_dash_and_fifo(tmp_path, capsys, bundle, wav):
    import threading

    assert main(["detect", str(bundle), str(wav), "--threshold", "0.5", "--scores", "-"]) == 0
    assert "filename,window,start,end,a,b,c" in capsys.readouterr().out
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert main(["detect", str(bundle), str(wav), "--threshold", "0.5", "--scores", str(fifo)]) == 0
    reader.join(30)
    assert got and got[0].startswith("filename,window") and stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("flag", ["--out", "--json", "--scores"])
def test_detect_output_that_is_a_directory_or_unreachable(tmp_path, capsys, bundle, wav, flag):
    base = ["detect", str(bundle), str(wav), "--threshold", "0.5"]
    one_line_error(capsys, [*base, flag, str(tmp_path)], "is a directory")
    one_line_error(capsys, [*base, flag, str(wav / "out.txt")], "Not a directory")


def test_export_features_train_data_outputs(tmp_path, capsys, bundle, wav):
    one_line_error(capsys, ["export", str(bundle), "--format", "torchscript", "--out", str(tmp_path)], "is a directory")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,labels,split,source_id\n{wav},a,train,s\n")
    one_line_error(capsys, ["features", "--manifest", str(manifest), "--out", str(wav), "--workers", "1", "--quiet"],
                   str(wav))
    store = make_store(tmp_path / "store", classes=("alarm", "knock"))
    one_line_error(capsys, ["train", "--config", "configs/baseline-lstm.yaml", "--data", str(store), "--out", str(wav),
                            "--threads", "1", "--no-progress"], str(wav))
    one_line_error(capsys, ["data", "synth", "--out", str(wav), "--n-clips", "75", "--workers", "1"], str(wav))


def test_disk_full_is_one_line_naming_the_path(tmp_path, capsys, bundle, wav, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    one_line_error(capsys, ["detect", str(bundle), str(wav), "--threshold", "0.5", "--out", str(tmp_path / "ev.tsv")],
                   "ev.tsv: cannot write (No space left on device)")
    assert not (tmp_path / "ev.tsv").exists()


@pytest.mark.parametrize("clip", ["0.001", "1e9"])
def test_features_clip_seconds_out_of_range(tmp_path, capsys, clip):
    one_line_error(capsys, ["features", "--manifest", str(tmp_path / "m.csv"), "--out", str(tmp_path / "s"),
                            "--clip-seconds", clip], "clip_seconds")
    assert not (tmp_path / "s").exists()


def test_stream_chunk_seconds_bound(capsys, bundle):
    one_line_error(capsys, ["detect", str(bundle), "--stream", "--chunk-seconds", "1e12"], "--chunk-seconds")


def test_evaluate_events_binary_file(tmp_path, capsys):
    ref = tmp_path / "ref.tsv"
    ref.write_text("a.wav\t1.0\t2.0\tdog\n")
    binary = tmp_path / "bin.tsv"
    binary.write_bytes(bytes(range(256)) * 8)
    one_line_error(capsys, ["evaluate-events", str(ref), str(binary)], "bin.tsv: a binary file, not an event list")
    one_line_error(capsys, ["evaluate-events", str(binary), str(ref)], "bin.tsv: a binary file, not an event list")
