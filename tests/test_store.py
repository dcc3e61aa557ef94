"""build_store / FeatureStore: content, skipping bad files, resume after a kill, parallel == serial."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import raresound.store as store_mod
from helpers import DATASET_CFG as CFG
from helpers import write_dataset as _write_dataset
from raresound.audio import AudioWarning, load
from raresound.errors import DataError
from raresound.features import FeatureConfig, LogMel
from raresound.store import FeatureStore, build_store

SRC = Path(__file__).resolve().parents[1] / "src"


def _store_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file() and p.name != "meta.json"}


@pytest.fixture
def dataset(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return _write_dataset(data)


def test_store_content_equals_direct_logmel_and_bad_files_are_reported(dataset, tmp_path):
    out = tmp_path / "store"
    report = build_store(dataset, out, CFG, workers=1, chunk_size=2, progress=False)
    assert report.counts == {"train": 6, "val": 3}
    assert sorted(Path(p).name for p, _ in report.skipped) == ["broken.wav", "missing.flac"]

    with open(out / "report.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["path", "reason"]
    reasons = {Path(p).name: r for p, r in rows[1:]}
    assert "not found" in reasons["missing.flac"] and "not a readable audio file" in reasons["broken.wav"]

    store = FeatureStore(out)
    assert store.splits == ["train", "val"]
    assert store.classes == ["baby", "dog", "gunshot"]  # over the whole manifest, skipped clips included
    assert store.feature_config == CFG
    lm = LogMel(CFG)
    for name, expected_clips in (("train", [0, 1, 2, 3, 4, 5]), ("val", [6, 7, 8])):
        split = store.split(name)
        assert isinstance(split.features, np.memmap) and split.features.mode == "r"
        assert split.features.shape == (len(expected_clips), 100, 64) and split.features.dtype == np.float16
        assert [Path(r.path).name for r in split.records] == [f"clip{i}.flac" for i in expected_clips]
        for row, rec in enumerate(split.records):
            direct = lm(torch.from_numpy(load(rec.path, sr=16000, duration=1.0))).numpy()
            # float16 storage: half-ulp of values up to ~16 in magnitude is < 0.008.
            np.testing.assert_allclose(split.features[row].astype(np.float32), direct, atol=8e-3, rtol=0)
    val = store.split("val")
    np.testing.assert_array_equal(val.labels, [[0, 1, 0], [0, 1, 1], [0, 1, 0]])
    assert val.labels.dtype == np.float32
    assert not (out / ".partial").exists()


@pytest.mark.slow
def test_parallel_build_is_byte_identical_to_serial(dataset, tmp_path):
    serial = build_store(dataset, tmp_path / "serial", CFG, workers=1, chunk_size=2, progress=False)
    parallel = build_store(dataset, tmp_path / "parallel", CFG, workers=2, chunk_size=2, progress=False)
    assert parallel.counts == serial.counts and parallel.skipped == serial.skipped
    assert _store_bytes(tmp_path / "parallel") == _store_bytes(tmp_path / "serial")


def _build_dying_after(dataset, out, monkeypatch, n_chunks: int, error: BaseException) -> None:
    """Build a store whose chunk worker raises `error` after `n_chunks` chunks (a simulated kill)."""
    real = store_mod._featurise_chunk
    calls = {"n": 0}

    def dies(task):
        calls["n"] += 1
        if calls["n"] > n_chunks:
            raise error
        return real(task)

    monkeypatch.setattr(store_mod, "_featurise_chunk", dies)
    with pytest.raises(type(error)):
        build_store(dataset, out, CFG, workers=1, chunk_size=2, progress=False)
    monkeypatch.setattr(store_mod, "_featurise_chunk", real)


def test_resume_after_injected_failure_is_byte_identical(dataset, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    build_store(dataset, reference, CFG, workers=1, chunk_size=2, progress=False)

    out = tmp_path / "resumed"
    _build_dying_after(dataset, out, monkeypatch, 3, KeyboardInterrupt("simulated kill"))
    assert not (out / "meta.json").exists()  # an unfinished store is never mistaken for a finished one

    report = build_store(dataset, out, CFG, workers=1, chunk_size=2, progress=False)
    total_chunks = 3 + 3  # train: 7 rows / 2, val: 4 rows / 2
    assert report.resumed_chunks == 3 and report.computed_chunks == total_chunks - 3
    assert _store_bytes(out) == _store_bytes(reference)


@pytest.mark.slow
def test_resume_after_sigkill_is_byte_identical(dataset, tmp_path):
    reference = tmp_path / "reference"
    build_store(dataset, reference, CFG, workers=1, chunk_size=2, progress=False)
    out = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import os, signal
        import raresound.store as s
        from raresound.features import FeatureConfig
        real, n = s._featurise_chunk, [0]
        def featurise(task):
            n[0] += 1
            if n[0] == 3:  # hard kill in the middle of the third chunk: no cleanup runs
                os.kill(os.getpid(), signal.SIGKILL)
            return real(task)
        s._featurise_chunk = featurise
        s.build_store({str(dataset)!r}, {str(out)!r}, FeatureConfig(clip_seconds=1.0), workers=1, chunk_size=2, progress=False)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert not (out / "meta.json").exists() and (out / ".partial").is_dir()

    report = build_store(dataset, out, CFG, workers=1, chunk_size=2, progress=False)
    assert report.resumed_chunks == 2
    assert _store_bytes(out) == _store_bytes(reference)


def test_partial_work_of_a_different_job_is_discarded(dataset, tmp_path, monkeypatch):
    out = tmp_path / "store"
    _build_dying_after(dataset, out, monkeypatch, 2, RuntimeError("boom"))
    other = FeatureConfig(clip_seconds=1.0, n_mels=32)
    report = build_store(dataset, out, other, workers=1, chunk_size=2, progress=False)
    assert report.resumed_chunks == 0
    assert FeatureStore(out).split("train").features.shape == (6, 100, 32)

    again = build_store(dataset, out, other, workers=1, chunk_size=2, progress=False)
    assert again.computed_chunks == 0 and again.counts == report.counts  # finished store: nothing to do



def test_a_rebuild_over_a_finished_store_leaves_it_whole_until_the_new_one_is_complete(dataset, tmp_path,
                                                                                       monkeypatch):
    out = tmp_path / "store"
    build_store(dataset, out, FeatureConfig(clip_seconds=1.0, n_mels=32), workers=1, chunk_size=2, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # a rebuild from other settings fails (disk full, kill) after 2 of its chunks: the old store is untouched
    _build_dying_after(dataset, out, monkeypatch, 2, RuntimeError("boom"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert FeatureStore(out).split("train").features.shape == (6, 100, 32)
    assert (store_mod.staging_dir(out) / ".partial").is_dir()  # the rebuild's work, beside the store

    report = build_store(dataset, out, CFG, workers=1, chunk_size=2, progress=False)  # same settings: resumes
    assert report.resumed_chunks == 2 and report.out_dir == out and report.report_path == out / "report.csv"
    assert FeatureStore(out).split("train").features.shape == (6, 100, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "store"]  # no staging or old store left
    reference = tmp_path / "reference"
    build_store(dataset, reference, CFG, workers=1, chunk_size=2, progress=False)
    assert _store_bytes(out) == _store_bytes(reference)


def test_split_with_every_clip_bad_is_empty_and_warnings_are_listed(tmp_path):
    (tmp_path / "a.wav").write_text("x")
    sf.write(tmp_path / "ok.wav", np.full(8000, 0.1, np.float32), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(8000, np.float32), 16000)
    (tmp_path / "m.csv").write_text(
        "path,labels,split,source_id\na.wav,dog,val,s1\nok.wav,dog,train,s2\nsilent.wav,,train,s3\n"
    )
    report = build_store(tmp_path / "m.csv", tmp_path / "out", CFG, workers=1, progress=False)
    assert report.counts == {"val": 0, "train": 2}  # silent audio is valid, only warned about
    assert [(Path(p).name, "silent" in w) for p, w in report.warned] == [("silent.wav", True)]
    with open(tmp_path / "out" / "warnings.csv", newline="") as fh:
        assert [Path(r[0]).name for r in list(csv.reader(fh))[1:]] == ["silent.wav"]
    val = FeatureStore(tmp_path / "out").split("val")
    assert len(val) == 0 and val.features.shape == (0, 100, 64) and val.labels.shape == (0, 1)


def test_feature_store_errors_name_the_file(dataset, tmp_path):
    with pytest.raises(DataError, match="no meta.json"):
        FeatureStore(tmp_path)
    out = tmp_path / "store"
    build_store(dataset, out, CFG, workers=1, chunk_size=4, progress=False)
    store = FeatureStore(out)
    with pytest.raises(DataError, match="no split 'test'"):
        store.split("test")
    data = out / "train.f16"
    data.write_bytes(data.read_bytes()[:-2])
    with pytest.raises(DataError, match="train.f16"):
        store.split("train")
    with pytest.raises(DataError, match="manifest not found"):
        build_store(tmp_path / "nope.csv", out, CFG, workers=1, progress=False)
    with pytest.raises(DataError, match="workers"):
        build_store(dataset, out, CFG, workers=0, progress=False)


def test_cli_features_builds_a_store_and_reports(dataset, tmp_path, capsys):
    from raresound.cli import main

    out = tmp_path / "cli_store"
    rc = main(["features", "--manifest", str(dataset), "--out", str(out), "--workers", "1",
               "--chunk-size", "3", "--clip-seconds", "1", "--quiet"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert printed[0].startswith("stored 9 clips (train 6, val 3)") and "skipped 2" in printed[0]
    assert printed[1] == f"skipped-file report: {out / 'report.csv'}"
    assert FeatureStore(out).split("train").features.shape == (6, 100, 64)
    assert main(["features", "--manifest", str(tmp_path / "nope.csv"), "--out", str(out)]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_store_over_real_esc50_clips_if_available(tmp_path):
    root = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esc50-subset"
    if not (root / "esc50_subset.csv").exists():
        pytest.skip(f"ESC-50 subset not found at {root}")
    with open(root / "esc50_subset.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:4]
    lines = ["path,labels,split,source_id"] + [
        f"{root / 'audio' / r['filename']},{r['category']},train,{r['src_file']}" for r in rows
    ]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    report = build_store(tmp_path / "m.csv", tmp_path / "store", FeatureConfig(), workers=1, progress=False)
    assert report.counts == {"train": 4} and not report.skipped
    split = FeatureStore(tmp_path / "store").split("train")
    assert split.features.shape == (4, 1000, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioWarning)  # some ESC-50 clips are genuinely clipped
        direct = LogMel()(load(split.records[0].path, duration=10.0)).numpy()
    np.testing.assert_allclose(split.features[0].astype(np.float32), direct, atol=8e-3, rtol=0)


def test_huge_audio_and_non_finite_features_never_reach_the_store(tmp_path, monkeypatch):
    sf.write(tmp_path / "ok.wav", np.full(8000, 0.1, np.float32), 16000)
    sf.write(tmp_path / "huge.wav", np.full(8000, 1e30, np.float32), 16000, subtype="FLOAT")
    sf.write(tmp_path / "sneaky.wav", np.full(8000, 0.2, np.float32), 16000)
    (tmp_path / "m.csv").write_text("path,labels,split,source_id\nok.wav,dog,train,s1\n"
                                    "huge.wav,dog,train,s2\nsneaky.wav,,train,s3\n")
    real_load = store_mod.load

    def overflowing_load(path, **kw):  # stands in for any input that slips past audio.load's checks
        wave = real_load(path, **kw)
        return wave * np.float32(1e25) if Path(path).name == "sneaky.wav" else wave

    monkeypatch.setattr(store_mod, "load", overflowing_load)
    report = build_store(tmp_path / "m.csv", tmp_path / "out", CFG, workers=1, progress=False)
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert "sample magnitude" in reasons["huge.wav"]
    assert "features are not finite" in reasons["sneaky.wav"]
    train = FeatureStore(tmp_path / "out").split("train")
    assert [Path(r.path).name for r in train.records] == ["ok.wav"]
    assert np.isfinite(np.asarray(train.features, dtype=np.float32)).all()


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_swap_in_replaces_the_directory_and_removes_the_old_one(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(store_mod, "_exchange", lambda a, b: False)
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "meta.json").write_text("old")
    (tmp_path / ".store.rebuild").mkdir()
    (tmp_path / ".store.rebuild" / "meta.json").write_text("new")
    store_mod._swap_in(tmp_path / ".store.rebuild", tmp_path / "store")
    assert (tmp_path / "store" / "meta.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["store"]
