"""The toy example (paper Fig 1): Algorithm 1 with a 3-unit LSTM on 1000 points at 1:1:4."""

import json

import numpy as np
import pytest
import torch

from raresound.cli import main
from raresound.clustering import clusters_per_class
from raresound.errors import ConfigError
from raresound.toy import CLASS_COUNTS, ToyConfig, as_sequences, knn1_accuracy, make_toy_data, run_toy

# A fast setting of the real run: 2 Algorithm-1 rounds, 1 cluster-layer + 4 end-to-end epochs each.
FAST = dict(n_rounds=2, layer_epochs=1, e2e_epochs=4)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    return out, run_toy(out, seed=0, **FAST)


def test_toy_data_is_1_1_4_with_four_large_submodes():
    x, y, mode, x_te, y_te, mode_te = make_toy_data(seed=0, n_test=500)
    assert x.shape == (1000, 20) and x.dtype == np.float32
    assert np.bincount(y).tolist() == list(CLASS_COUNTS) == [166, 166, 668]
    assert clusters_per_class(np.bincount(y)).tolist() == [1, 1, 4]
    assert np.bincount(mode[y == 2]).tolist()[2:] == [167, 167, 167, 167]
    assert np.bincount(y_te).tolist() == [83, 83, 334] and len(x_te) == 500
    # same distribution, different draws; deterministic per seed
    assert not np.allclose(x[:10], x_te[:10])
    np.testing.assert_array_equal(make_toy_data(seed=0)[0], x)
    assert not np.allclose(make_toy_data(seed=1)[0], x)
    seq = as_sequences(x, 4)
    assert seq.shape == (1000, 4, 5) and torch.equal(seq.reshape(1000, 20), torch.from_numpy(x))


def test_knn1_accuracy_counts_nearest_training_label():
    train = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    test = torch.tensor([[0.9, 0.1, 0], [0.1, 0.2, 0.9], [0, 0.8, 0.3], [0.7, 0.6, 0]])
    assert knn1_accuracy(train, [0, 1, 2], test, [0, 2, 1, 1]) == pytest.approx(0.75)


def test_toy_separates_classes_and_splits_the_large_class_into_four(toy_run):
    out, report = toy_run
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    final = rounds[-1]
    # held-out points, embedded and classified by their nearest training embedding
    assert final["knn1_accuracy"] >= 0.95
    assert final["knn1_accuracy"] > rounds[0]["knn1_accuracy"]  # training, not the data, separates
    for r in rounds[1:]:
        assert r["K"] == 6
        assert r["k_per_class"] == {"small A": 1, "small B": 1, "large": 4}
        assert r["cluster_class"] == ["small A", "small B"] + ["large"] * 4
        assert all(s > 0 for s in r["cluster_sizes"])
        assert r["cluster_sizes"][:2] == [166, 166] and sum(r["cluster_sizes"]) == 1000
    assert final["eq3_fraction_learned_columns"] >= 0.8
    # the shared training loop ran every stage of Algorithm 1
    order = json.loads((out / "train" / "stages" / "order.json").read_text())
    assert order == ["round1-layer", "round1-e2e", "round2-layer", "round2-e2e"]
    for name in order:
        assert (out / "train" / "stages" / name / "final.json").exists()


def test_toy_writes_one_png_per_round_and_json(toy_run):
    out, report = toy_run
    for r in report["rounds"]:
        png = out / r["png"]
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    stored = json.loads((out / "toy.json").read_text())
    assert stored["rounds"] == json.loads(json.dumps(report["rounds"]))
    assert stored["input_layout"] == {"frames": 4, "features_per_frame": 5}


def test_toy_rerun_resumes_and_refuses_other_settings(toy_run):
    out, report = toy_run
    again = run_toy(out, seed=0, **FAST)  # every stage is finished: checkpoints are loaded, not retrained
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(again["rounds"]) == strip(report["rounds"])
    with pytest.raises(ConfigError, match="other settings; use a fresh `out_dir`$"):
        run_toy(out, seed=1, **FAST)


def test_toy_command_names_its_flag(toy_run, capsys):
    from raresound.cli import main

    out, _ = toy_run
    assert main(["toy", "--out", str(out), "--seed", "1"]) == 2  # refused before any training
    assert capsys.readouterr().err.endswith("holds a toy run with other settings; use a fresh --out\n")


def test_toy_rejects_bad_settings(tmp_path):
    with pytest.raises(ConfigError):
        run_toy(tmp_path, n_rounds=0)
    with pytest.raises(ConfigError):
        run_toy(tmp_path, steps=3)
    with pytest.raises(ConfigError, match="unknown"):
        run_toy(tmp_path, epochs=3)
    assert ToyConfig().steps == 4


def test_toy_command(tmp_path, capsys):
    assert main(["toy", "--out", str(tmp_path), "--seed", "3", "--rounds", "1", "--epochs", "2"]) == 0
    text = capsys.readouterr().out
    assert "round 1: held-out 1-NN accuracy" in text
    assert (tmp_path / "round_0.png").exists() and (tmp_path / "round_1.png").exists()
    report = json.loads((tmp_path / "toy.json").read_text())
    assert report["config"]["seed"] == 3 and report["config"]["e2e_epochs"] == 2
    assert len(report["rounds"]) == 2
