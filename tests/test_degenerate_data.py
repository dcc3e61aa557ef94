"""Degenerate data and recipes are refused before anything is trained or written (issue 24): one
clip, no validation split, a class on every training clip, every epoch count 0; a source shared by
train and test is a loud warning."""

from __future__ import annotations

import pytest

from helpers import make_store, train
from raresound.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("raresound: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("counts,classes,message", [
    ({"train": {"alarm": 1}}, ("alarm",), "the 'train' split has 1 clip; a detector needs clips with and without"),
    ({"train": {"alarm": 6, "knock": 6, "": 12}}, ("alarm", "knock"), "the store has no 'val' clips (splits: train)"),
    ({"train": {"alarm": 6, "knock": 6, "": 12}, "val": {}}, ("alarm", "knock"), "the store has no 'val' clips"),
    ({"train": {"alarm": 6, "knock": 6, "": 12}, "val": {"alarm": 2, "": 4}}, ("alarm", "knock"),
     "split 'val' has 0 clips of knock"),
    ({"train": {"alarm": 6}, "val": {"alarm": 2, "": 2}}, ("alarm",), "every 'train' clip carries alarm"),
])
def test_degenerate_stores_are_refused_before_training(tmp_path, config, capsys, counts, classes, message):
    store = make_store(tmp_path / "store", counts, classes=classes)
    assert train(config, store, tmp_path / "run") == 2
    assert message in _one_error(capsys)
    assert not (tmp_path / "run").exists()  # nothing written, not even the run directory


def test_zero_epoch_recipe_is_refused(tmp_path, store, capsys):
    cfg = tmp_path / "zero.yaml"
    cfg.write_text("method: proposed\nproposed: {layer_epochs: 0, e2e_epochs: 0, last_e2e_epochs: 0, "
                   "head_epochs: 0, finetune_epochs: 0}\ntraining: {device: cpu}\n")
    assert train(cfg, store, tmp_path / "run") == 2
    assert "config field 'proposed.*_epochs': every stage has 0 epochs" in _one_error(capsys)
    cfg.write_text("method: proposed\nproposed: {head_epochs: -1}\n")
    assert train(cfg, store, tmp_path / "run") == 2
    assert "config field 'proposed.head_epochs': must be >= 0, got -1" in _one_error(capsys)
    assert not (tmp_path / "run").exists()


def test_shared_source_between_train_and_test_is_a_loud_warning():
    from raresound.data.checks import shared_sources

    assert shared_sources({"train": ["a", "b", ""], "test": ["c", ""]}) == []
    (line,) = shared_sources({"train": ["s1", "s2", "s3"], "val": ["s1"], "test": ["s3", "s2"]}, where="m.csv")
    assert line.startswith("m.csv: source id 's2' and 1 more in both 'train' and 'test'")
    assert "optimistic" in line


def test_train_warns_about_a_source_shared_with_test(tmp_path, config, capsys):
    # make_store names sources src<i> within each split, so train and test share src0..src5
    store = make_store(tmp_path / "store", {"train": {"alarm": 6, "knock": 6, "": 12},
                                            "val": {"alarm": 2, "knock": 2, "": 4},
                                            "test": {"alarm": 2, "knock": 2, "": 2}})
    assert train(config, store, tmp_path / "run", "--set", "training.max_epochs=1") == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "source id" in x]
    assert lines == [f"warning: {store}: source id 'src0' and 5 more in both 'train' and 'test': the same recording "
                     "is trained on and tested, so 'test' scores are optimistic; give each source one split"]


def test_features_warns_about_a_source_shared_with_test(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    for name in ("a", "b", "c"):
        sf.write(tmp_path / f"{name}.wav", np.random.default_rng(0).uniform(-.3, .3, 16000).astype(np.float32), 16000)
    (tmp_path / "m.csv").write_text("path,labels,split,source_id\na.wav,dog,train,rec1\nb.wav,,train,rec2\n"
                                    "c.wav,dog,test,rec1\n")
    assert main(["features", "--manifest", str(tmp_path / "m.csv"), "--out", str(tmp_path / "s"), "--workers", "1",
                 "--clip-seconds", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'm.csv'}: source id 'rec1' in both 'train' and 'test'" in err
