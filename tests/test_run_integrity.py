"""A run is what its files say: a re-run of `train` resumes only the same config and store, keeps the
calibration, exported side files follow the thresholds, one writer per run or store directory, and
temp files left by a kill are removed on resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from raresound.bundle import load_bundle
from raresound.errors import BusyError, DataError, OutputError, RunMismatchError
from raresound.io import dir_lock, read_json
from helpers import make_store, train

SRC = Path(__file__).resolve().parents[1] / "src"


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def one_line_error(capsys) -> str:
    # warnings about the tiny store's small splits may come first; the error itself is one line
    lines = [l for l in capsys.readouterr().err.strip().splitlines() if not l.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("raresound: error: "), lines
    return lines[0]


def test_another_config_is_refused_before_touching_the_run(config, store, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(config, store, run, "--set", "training.max_epochs=1") == 0
    before = snapshot(run)
    assert train(config, store, run, "--set", "training.max_epochs=3", "--set", "model.hidden_size=16") == 2
    err = one_line_error(capsys)
    assert "training.max_epochs: 1 -> 3" in err and "model.hidden_size: 8 -> 16" in err and "new --out" in err
    assert snapshot(run) == before  # nothing rewritten, nothing added (config.yaml still says 1 epoch)
    assert read_json(run / "run.json")["fingerprint"]["config"]

    # Fields that do not change the models may differ: the run resumes (nothing is retrained) and
    # config.yaml keeps the values of the run that made the models.
    assert train(config, store, run, "--set", "training.max_epochs=1", "--workers", "0",
                 "--set", "training.progress=true") == 0
    after = snapshot(run)
    assert after["config.yaml"] == before["config.yaml"] and after["metrics.jsonl"] == before["metrics.jsonl"]


def test_library_train_checks_config_and_store(config, store, tmp_path):
    from raresound.training.config import load_config
    from raresound.training.fingerprint import config_diff
    from raresound.training.recipes import train as train_lib

    run = tmp_path / "run"
    overrides = {"training.max_epochs": 1, "training.progress": False}
    train_lib(load_config(config, overrides), store, run)
    with pytest.raises(RunMismatchError, match=r"training\.lr: 0\.001 -> 0\.01.*train into a new `run_dir`"):
        train_lib(load_config(config, {**overrides, "training.lr": 0.01}), store, run)  # its parameter, not --out
    other = make_store(tmp_path / "other", counts={"train": {"alarm": 6, "knock": 6, "": 20}})
    with pytest.raises(RunMismatchError, match="store: "):
        train_lib(load_config(config, overrides), other, run)
    # only fields that change how training runs, not what it computes, may differ
    cfg = load_config(config).to_dict()
    execution = {**cfg, "training": {**cfg["training"], "device": "cuda", "progress": False, "num_workers": 4}}
    assert config_diff(cfg, execution) == []
    # a config.yaml edited by hand no longer matches the fingerprint of the models
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("lr: 0.001", "lr: 0.01"))
    with pytest.raises(RunMismatchError, match="lr: 0.01 -> 0.001"):
        train_lib(load_config(config, overrides), store, run)
    with pytest.raises(RunMismatchError, match="edited"):
        train_lib(load_config(config, {**overrides, "training.lr": 0.01}), store, run)


def test_calibration_survives_a_resumed_train_and_exports_follow_thresholds(config, store, tmp_path, capsys):
    pytest.importorskip("onnx", reason="the 'export' extra (onnx, onnxruntime) is not installed")
    from raresound.bundle import keep_calibration
    from raresound.cli import main
    from raresound.export import sync_exports

    run, args = tmp_path / "run", ("--set", "training.max_epochs=1")
    bundle_dir = run / "models" / "baseline"
    assert train(config, store, run, *args) == 0
    assert main(["calibrate", str(run), "--target", "eer"]) == 0
    assert main(["export", str(bundle_dir), "--format", "onnx"]) == 0
    side = bundle_dir / "model.onnx.json"
    calibrated = load_bundle(bundle_dir).thresholds
    assert calibrated and read_json(side)["thresholds"] == calibrated

    assert train(config, store, run, *args) == 0  # resumes: nothing retrained, bundle re-saved
    assert load_bundle(bundle_dir).thresholds == calibrated
    assert load_bundle(bundle_dir).info["calibration"]["target"] == "eer"
    wav = tmp_path / "long.wav"
    sf.write(wav, np.random.default_rng(0).uniform(-0.3, 0.3, 16000 * 3).astype(np.float32), 16000)
    capsys.readouterr()
    assert main(["detect", str(bundle_dir), str(wav), "--hop", "0.25"]) == 0  # no "no decision threshold"

    # new thresholds reach the exported side file (the ONNX graph does not hold them)
    assert main(["calibrate", str(run), "--target", "miss=0.5"]) == 0
    assert "model.onnx.json: thresholds updated" in capsys.readouterr().out
    meta = read_json(bundle_dir / "bundle.json")
    assert read_json(side)["thresholds"] == meta["thresholds"] != calibrated
    assert read_json(side)["calibration"] == "miss=0.5" and "stale" not in read_json(side)

    # other weights saved over the bundle: its thresholds are dropped and the export marked stale
    bundle = load_bundle(bundle_dir)
    with torch.no_grad():
        next(bundle.model.parameters()).add_(1.0)
    bundle.thresholds, bundle.info = {}, {}
    keep_calibration(bundle, bundle_dir)
    assert bundle.thresholds == {} and bundle.info["exports"] == [str(side.resolve())]
    bundle.save(bundle_dir)
    assert sync_exports(bundle_dir) == [(str(side.resolve()), "stale")]
    assert "export it again" in read_json(side)["stale"]


def test_dir_lock_refuses_a_second_holder_and_cleans_up(tmp_path):
    target = tmp_path / "new"
    with dir_lock(target, "train"):
        assert (target / ".lock").read_text().split() == [str(os.getpid()), "train"]
        with pytest.raises(BusyError, match=rf"raresound train` \(pid {os.getpid()}\)"):
            with dir_lock(target, "train"):
                pass
    assert not target.exists()  # created by the lock, nothing written: removed again
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="not a directory"):
        with dir_lock(tmp_path / "file", "train"):
            pass


def test_dir_lock_without_flock_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on Windows: `import fcntl` raises ImportError
    with pytest.raises(OutputError, match="directory locks need POSIX flock"):
        with dir_lock(tmp_path / "run", "train"):
            pass
    assert not (tmp_path / "run").exists()


def test_a_refusal_names_the_command_that_holds_the_lock(tmp_path):
    with dir_lock(tmp_path, "train"):
        with pytest.raises(BusyError, match=rf"another `raresound train` \(pid {os.getpid()}\)"):
            with dir_lock(tmp_path, "calibrate"):
                pass


def _hold_lock(directory: Path) -> subprocess.Popen:
    code = ("import sys, time; from raresound.io import dir_lock\n"
            "with dir_lock(sys.argv[1], 'train'):\n    print('locked', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_concurrent_train_is_refused_and_a_killed_owners_lock_and_temps_are_taken_over(config, store, tmp_path,
                                                                                     capsys):
    run = tmp_path / "run"
    assert train(config, store, run, "--set", "training.max_epochs=1") == 0
    before = snapshot(run)
    owner = _hold_lock(run)
    try:
        assert train(config, store, run, "--set", "training.max_epochs=1") == 2
        err = one_line_error(capsys)
        assert f"pid {owner.pid}" in err and "another `raresound train`" in err
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert (run / ".lock").read_text().split()[0] == str(owner.pid)  # left behind by the kill
    assert {k: v for k, v in snapshot(run).items() if k != ".lock"} == before

    # temp files a kill leaves mid-write, and a file of the user's that only looks alike
    leftovers = [run / ".config.yaml.k2x9_a0q.tmp", run / "models" / "baseline" / ".model.safetensors.abcdefgh.tmp"]
    for p in leftovers:
        p.write_bytes(b"half")
    (run / "notes.tmp").write_text("mine")
    assert train(config, store, run, "--set", "training.max_epochs=1") == 0
    assert not any(p.exists() for p in leftovers) and not (run / ".lock").exists()
    assert (run / "notes.tmp").read_text() == "mine"


def test_concurrent_features_is_refused_and_a_killed_builds_temps_are_removed(tmp_path, capsys):
    from raresound.cli import main
    from raresound.store import build_store
    from helpers import DATASET_CFG as CFG
    from helpers import write_dataset as _write_dataset

    data = tmp_path / "data"
    data.mkdir()
    manifest = _write_dataset(data, n=4, bad=False)
    out = tmp_path / "store"
    with dir_lock(out, "features"):
        with pytest.raises(BusyError, match=rf"`raresound features` \(pid {os.getpid()}\)"):
            build_store(manifest, out, CFG, workers=1, progress=False)
        assert main(["features", "--manifest", str(manifest), "--out", str(out), "--workers", "1", "--quiet"]) == 2
        assert "raresound features" in one_line_error(capsys)
    leftover = out / ".val.f16.ab12cd34.tmp"
    out.mkdir()
    leftover.write_bytes(b"\0" * 64)
    build_store(manifest, out, CFG, workers=1, progress=False)
    assert not leftover.exists() and not (out / ".lock").exists() and (out / "meta.json").exists()
    assert json.loads((out / "meta.json").read_text())["splits"]


def test_calibrate_and_export_take_the_run_lock(config, store, tmp_path, capsys):
    from raresound.cli import main

    run = tmp_path / "run"
    assert train(config, store, run, "--set", "training.max_epochs=1") == 0
    bundle_dir = run / "models" / "baseline"
    before = snapshot(run)
    with dir_lock(run, "train"):  # a `train` of this run is writing
        assert main(["calibrate", str(run), "--target", "eer"]) == 2
        assert "another `raresound train`" in one_line_error(capsys)
        assert main(["calibrate", str(bundle_dir), "--target", "eer"]) == 2  # one bundle: its run's lock too
        assert "another `raresound train`" in one_line_error(capsys)
        assert main(["export", str(bundle_dir), "--format", "torchscript"]) == 2
        assert "another `raresound train`" in one_line_error(capsys)
    assert {k: v for k, v in snapshot(run).items() if k != ".lock"} == before
    assert main(["export", str(bundle_dir), "--format", "torchscript"]) == 0 and not (run / ".lock").exists()


def test_an_export_of_a_bundle_loaded_before_a_calibrate_gets_the_new_thresholds(config, store, tmp_path):
    """Python's export_bundle takes no lock: a bundle object loaded before `calibrate` rewrote
    bundle.json must still not leave a side file with the older thresholds."""
    from raresound.calibration import calibrate
    from raresound.export import export_bundle

    run = tmp_path / "run"
    assert train(config, store, run, "--set", "training.max_epochs=1") == 0
    bundle_dir = run / "models" / "baseline"
    loaded = load_bundle(bundle_dir)  # before calibration: no thresholds
    calibrate(run, "eer")
    out = export_bundle(loaded, "torchscript")
    side = read_json(out.with_name(out.name + ".json"))
    assert side["thresholds"] == load_bundle(bundle_dir).thresholds != {} and side["calibration"] == "eer"
    assert "stale" not in side
