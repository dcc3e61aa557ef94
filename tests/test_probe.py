"""The reference probe: StatsPooling matches hand-computed statistics, the probe trains in seconds on
a tiny store, its bundle scores equal an independent scikit-learn fit (so the standardisation and the
LR weights really are in the head), C is chosen on val, and it is labelled as a reference in tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raresound.bundle import load_bundle
from raresound.cli import main as cli_main
from raresound.evaluation.eer import eer
from raresound.io import read_json
from raresound.models.backbones import StatsPooling, build_backbone
from raresound.store import FeatureStore
from helpers import make_store


@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = out / "probe.yaml"
    cfg.write_text("method: probe\ntraining: {device: cpu, batch_size: 16}\n")
    assert cli_main(["train", "--config", str(cfg), "--data", str(store), "--out", str(out), "--no-progress"]) == 0
    return out


def raw(store, split: str) -> torch.Tensor:
    return torch.from_numpy(FeatureStore(store).split(split).features[:].astype("float32"))


def test_stats_pooling_on_a_hand_made_clip():
    # band 0: frames 1 3 2 5 4 (sorted 1..5); band 1: 0 0 0 0 10
    x = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [2.0, 0.0], [5.0, 0.0], [4.0, 10.0]]])
    got = build_backbone("stats", n_mels=2)(x)
    # [max - median] [mean] [population std] [99th percentile: position 0.99 * 4 = 3.96 between sorted 4 and 5]
    expected = [5 - 3, 10 - 0, 3.0, 2.0, math.sqrt(2.0), 4.0, 4 + 0.96 * (5 - 4), 0.96 * 10]
    torch.testing.assert_close(got, torch.tensor([expected]), rtol=0, atol=1e-5)


def test_stats_pooling_agrees_with_numpy_on_an_even_frame_count():
    x = torch.randn(3, 10, 4, generator=torch.Generator().manual_seed(0))
    got = StatsPooling(n_mels=4)(x).numpy()
    a = x.numpy()
    median = np.median(a, axis=1)  # even count: the mean of the two middle frames
    expected = np.concatenate([a.max(axis=1) - median, a.mean(axis=1), a.std(axis=1),
                               np.percentile(a, 99, axis=1)], axis=1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert StatsPooling(n_mels=4).embedding_dim == 16 and not list(StatsPooling().parameters())


def test_probe_trains_in_seconds_and_records_its_choice_of_c(run):
    record = read_json(run / "probe.json")
    assert record["selected_on"] == "val" and record["C"] in record["c_grid"] == [0.01, 0.1, 1.0]
    assert set(record["val_eer"]) == {"0.01", "0.1", "1.0"}
    best = min(v["overall"] for v in record["val_eer"].values())
    assert record["val_eer"][str(record["C"])]["overall"] == best
    assert record["n_features"] == 4 * 16 and record["seconds"] < 30
    bundle = load_bundle(run / "models" / "probe")
    assert bundle.info["method"] == "probe" and bundle.info["probe"] == record
    assert bundle.spec.backbone == "stats" and bundle.spec.score == "sigmoid"
    assert (run / "run.json").exists() and (run / "normalizer.json").exists() and (run / "config.yaml").exists()


def test_bundle_scores_equal_an_independent_sklearn_fit(run, store):
    from sklearn.linear_model import LogisticRegression

    bundle = load_bundle(run / "models" / "probe")
    c = read_json(run / "probe.json")["C"]
    pool = StatsPooling(n_mels=16)
    stats = {s: pool(torch.as_tensor(bundle.normalizer.transform(raw(store, s)))).double().numpy()
             for s in ("train", "val")}
    mean, std = stats["train"].mean(axis=0), stats["train"].std(axis=0)
    z = {s: (v - mean) / std for s, v in stats.items()}
    y_train, y_val = FeatureStore(store).split("train").labels, FeatureStore(store).split("val").labels
    expected = np.stack([LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
                         .fit(z["train"], y_train[:, l] > 0.5).predict_proba(z["val"])[:, 1]
                         for l in range(2)], axis=1)
    scores = bundle.score_features(raw(store, "val")).numpy()
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-4)
    assert np.ptp(scores) > 0.5  # confident both ways, not a constant head
    eers = [eer(scores[:, l], y_val[:, l]) for l in range(2)]
    assert max(eers) <= 0.05, eers  # the classes add energy in their own bands: separable


def test_probe_without_val_split_uses_the_default_c(tmp_path):
    store = make_store(tmp_path / "store", counts={"train": {"alarm": 6, "knock": 5, "": 20}})
    cfg = tmp_path / "probe.yaml"
    cfg.write_text("method: probe\ntraining: {device: cpu}\n")
    assert cli_main(["train", "--config", str(cfg), "--data", str(store), "--out", str(tmp_path / "run"),
                     "--no-progress"]) == 0
    record = read_json(tmp_path / "run" / "probe.json")
    assert record["C"] == 1.0 and record["val_eer"] == {} and record["selected_on"].startswith("default")


@pytest.mark.slow
def test_compare_labels_the_probe_as_a_reference(run, tmp_path):
    from raresound.commands.compare import compare_runs
    from raresound.scoring import evaluate_run

    evaluate_run(run, "val")
    results = compare_runs([run], "val", tmp_path / "cmp")
    assert list(results) == ["probe (reference)"]


def test_reproduce_table_puts_the_probe_last_as_a_reference_and_lists_only_fields_it_reads():
    from raresound import reproduce as rp

    cfg = rp.ReproduceConfig()
    cfg.grid.methods = ["probe", "baseline", "proposed"]
    cfg.recipe = {"training": {"max_epochs": 3, "batch_size": 8}}
    entry = {"seeds": [0], "eer": {c: [0.1] for c in cfg.data.classes}, "overall": [0.1]}
    table = rp.main_table(cfg, "lstm", "6:1:2:16", {m: entry for m in ("probe", "baseline", "proposed2")})
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert rows == [rp.MODEL_LABELS["baseline"], rp.MODEL_LABELS["proposed2"], "probe (reference)"]
    diff = {(cell, key) for who, key, _, _ in rp.schedule_diff(cfg) for cell in who.split(", ")}
    assert ("lstm/probe", "training.batch_size") in diff  # embedding batches
    assert ("lstm/probe", "training.max_epochs") not in diff and ("lstm/baseline", "training.max_epochs") in diff
