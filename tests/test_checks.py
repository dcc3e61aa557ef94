"""Small data is caught before work: each command checks positives per split and class up front
(data.checks), errors name split, class, count and the minimum, warnings state the minimum, and a
failure leaves no partial output."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raresound.cli import main
from raresound.data.checks import MIN_POSITIVES, check_counts, check_records, count_labels, describe
from raresound.data.manifest import ClipRecord, write_manifest
from raresound.errors import DataError
from helpers import make_store

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "demo"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def recs(split: str, **per_class: int) -> list[ClipRecord]:
    return [ClipRecord(f"/{split}/{cls}{i}.wav", () if cls == "background" else (cls,), split, f"{cls}{i}")
            for cls, n in per_class.items() for i in range(n)]


def test_rules_error_and_warn_with_numbers():
    ok = recs("train", dog=3, baby=1, background=5) + recs("val", dog=12, baby=3, background=20)
    warnings = check_records(ok, ["dog", "baby"], "raise --n-clips")
    assert warnings == [f"split 'val' has fewer than {MIN_POSITIVES} clips of baby (3): a class's EER there "
                        f"moves in steps of 1/positives (here up to 33 %); raise --n-clips"]
    no_test_baby = ok + recs("test", dog=2, background=4)
    with pytest.raises(DataError, match=r"^split 'test' has 0 clips of baby \(need >= 1 positive per class in val "
                                        r"and test to compute an EER; raise --n-clips\)$"):
        check_records(no_test_baby, ["dog", "baby"], "raise --n-clips")
    with pytest.raises(DataError, match=r"^split 'train' has 0 clips of baby \(need >= 1 positive per class to learn"):
        check_records(recs("train", dog=2, background=2), ["dog", "baby"])
    with pytest.raises(DataError, match=r"^S: split 'val' has no clip without dog \(need >= 1 negative"):
        check_records(recs("val", dog=12), ["dog"], where="S")
    # warn_only turns the refusal into a warning
    assert check_records(no_test_baby, ["dog", "baby"], warn_only=("test",))[1].startswith("split 'test' has 0 clips")
    counts = count_labels("test", torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]), ["dog", "baby"])
    assert describe(counts) == "split 'test' (3 clips), positives/negatives: dog 2/1, baby 1/2"
    assert check_counts([count_labels("val", torch.zeros((0, 1)), ["dog"])], warn_only=("val",))


def test_data_synth_refuses_before_writing_anything(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--n-clips", "60", "--workers", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "raresound: error: split 'test' has 0 clips of baby (need >= 1 positive per class in val and test to "
        "compute an EER; raise --n-clips)")
    assert not out.exists()
    # a class dropped on purpose (weight 0) is not asked for
    assert main(["data", "synth", "--out", str(out), "--n-clips", "9", "--ratio", "dog=1,baby=0,gunshot=0,background=2",
                 "--workers", "1"]) == 0
    assert "fewer than 10 clips of dog" in capsys.readouterr().err


def test_data_ratio_and_features_warn_up_front(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    write_manifest(recs("train", dog=4, background=8) + recs("val", dog=2, background=6) + recs("test", background=3),
                   manifest)
    assert main(["data", "ratio", str(manifest), "--ratio", "dog=1,background=2", "--out", str(tmp_path / "r.csv")]) == 0
    err = capsys.readouterr().err
    assert "split 'val' has fewer than 10 clips of dog (2)" in err and "split 'test' has 0 clips of dog" in err
    # features: the same counts are said before any clip is decoded (the clips here do not exist)
    assert main(["features", "--manifest", str(manifest), "--out", str(tmp_path / "store"), "--workers", "1",
                 "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: split 'val' has fewer than 10 clips of dog (2)")
    assert err[1].startswith("warning: split 'test' has 0 clips of dog")


def test_ratio_infeasibility_says_how_many(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    write_manifest(recs("train", dog=4, background=8) + recs("val", dog=1, background=6), manifest)
    assert main(["data", "ratio", str(manifest), "--ratio", "dog=2,background=4", "--out", str(tmp_path / "r.csv")]) == 2
    assert capsys.readouterr().err.strip() == ("raresound: error: split 'val' has too few clips for ratio dog=2 "
                                               "background=4: dog 1 (need >= 2)")
    assert not (tmp_path / "r.csv").exists()


def _train(store, out, config) -> int:
    return main(["train", "--config", str(config), "--data", str(store), "--out", str(out), "--no-progress",
                 "--threads", "1", "--set", "training.max_epochs=1"])


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("model:\n  hidden_size: 8\ntraining:\n  batch_size: 16\n  device: cpu\n")
    return path


def test_train_refuses_a_val_split_without_a_class(tmp_path, config, capsys):
    store = make_store(tmp_path / "store", {"train": {"alarm": 6, "knock": 6, "": 12},
                                            "val": {"alarm": 4, "": 8}})
    assert _train(store, tmp_path / "run", config) == 2
    assert capsys.readouterr().err.strip() == (
        f"raresound: error: {store}: split 'val' has 0 clips of knock (need >= 1 positive per class in val and "
        f"test to compute an EER)")
    assert not (tmp_path / "run").exists()


def test_evaluate_refuses_before_writing_and_calibrate_counts(tmp_path, config, capsys):
    store = make_store(tmp_path / "store", {"train": {"alarm": 6, "knock": 6, "": 12},
                                            "val": {"alarm": 4, "knock": 3, "": 8},
                                            "test": {"alarm": 3, "": 8}})
    run = tmp_path / "run"
    assert _train(store, run, config) == 0
    err = capsys.readouterr().err
    # train needs no test split, so its problem is only a warning here; evaluate refuses it
    assert f"warning: {store}: split 'test' has 0 clips of knock" in err
    assert main(["evaluate", str(run)]) == 2
    assert "split 'test' has 0 clips of knock" in capsys.readouterr().err
    assert not (run / "eval").exists()

    assert main(["calibrate", str(run), "--target", "far=2/h"]) == 0
    out, err = capsys.readouterr()
    assert "split 'val' (15 clips), positives/negatives: alarm 4/11, knock 3/12" in out
    assert "split 'val' has fewer than 10 clips of alarm (4), knock (3)" in err
    # 0.5-s clips: one false alarm per 2 h needs 3600 / (2 * 0.5) = 3600 negative clips
    assert ("alarm: far=2/h on 11 negative clips (0.0015 h) allows 0 false alarms, so the threshold rises above "
            "every negative; need >= 3600 negative clips of 0.5 s for a budget of one") in err

    assert main(["evaluate", str(run), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("split 'val' (15 clips), positives/negatives: alarm 4/11, knock 3/12\n")


def test_demo_checks_counts_and_ratio_before_synthesising(tmp_path, capsys):
    out = tmp_path / "demo"
    configs = [str(CONFIGS / name) for name in ("baseline.yaml", "probe.yaml")]
    assert main(["demo", "--out", str(out), "--counts", "dog=8,baby=8,gunshot=8,background=40", "--workers", "1",
                 "--threads", "1", "--configs", *configs]) == 2
    assert capsys.readouterr().err.strip() == (
        "raresound: error: recipe baseline: split 'train' has too few clips for ratio dog=6 baby=1 gunshot=2 "
        "background=16: dog 3 (need >= 6); raise --counts")
    assert not out.exists()
