"""Operating points: thresholds hit the requested false-alarm / miss rate on the data they were fitted
on, the EER threshold is evaluation's, and the bundle is rewritten in place (planted bundle from
tests/test_detect.py, scored on a small feature store of 1 s clips)."""

from __future__ import annotations

import math

import numpy as np
import pytest


from raresound.bundle import BUNDLE_JSON, WEIGHTS, load_bundle
from raresound.calibration import Target, calibrate, choose_threshold, parse_target
from raresound.cli import main
from raresound.data.manifest import ClipRecord, write_manifest
from raresound.errors import ConfigError, DataError
from raresound.evaluation import evaluate_scores
from raresound.io import read_json, write_json
from raresound.scoring import score_split
from raresound.store import FeatureStore, build_store
from helpers import planted_bundle, planted_wave, write_wav

pytestmark = pytest.mark.usefixtures("one_thread")  # 1 torch thread: fast on a busy 2-core box

N_POS, N_OTHER, N_NEG = 30, 6, 64


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """RUN/{run.json, models/planted/} over a store with a 'val' split of 1 s clips."""
    root = tmp_path_factory.mktemp("cal")
    rng = np.random.default_rng(0)
    records = []
    for i in range(N_POS + N_OTHER + N_NEG):
        if i < N_POS:  # tone lasting 0.2-0.9 s
            length, labels = rng.uniform(0.2, 0.9), ("tone",)
        elif i < N_POS + N_OTHER:
            length, labels = 0.0, ("whistle",)
        else:  # background, some with a short tone burst (hard negatives)
            length, labels = rng.uniform(0.0, 0.35), ()
        start = rng.uniform(0, 1 - length)
        path = write_wav(root / f"clip{i:03d}.wav", planted_wave(1.0, [(start, start + length)] if length else [], seed=i))
        records.append(ClipRecord(str(path), labels, "val", f"s{i}"))
    write_manifest(records, root / "manifest.csv")
    bundle = planted_bundle(clip_seconds=1.0, p0=0.3, alpha=8.0, thresholds={})
    build_store(root / "manifest.csv", root / "store", bundle.feature_config, workers=1, progress=False)
    run = root / "run"
    bundle.save(run / "models" / "planted")
    write_json(run / "run.json", {"store": str(root / "store")})
    return run


def _scores(run):
    store = FeatureStore(read_json(run / "run.json")["store"])
    split = store.split("val")
    return score_split(load_bundle(run / "models" / "planted"), split).astype(np.float64), split.labels


def test_false_alarm_target_is_met_on_the_fitting_data(run_dir):
    weights = (run_dir / "models" / "planted" / WEIGHTS).read_bytes()
    calibrate(run_dir, "far=300/h", split="val")
    scores, labels = _scores(run_dir)
    assert len(np.unique(scores[:, 0])) > 90  # the planted scores really vary
    bundle = load_bundle(run_dir / "models" / "planted")
    t = bundle.thresholds["tone"]
    neg = labels[:, 0] == 0
    hours = neg.sum() * 1.0 / 3600
    false_alarms = int((scores[neg, 0] >= t).sum())
    assert false_alarms == math.floor(300 * hours)  # 70 negative seconds -> 5 false alarms allowed
    assert 300 - 1 / hours < false_alarms / hours <= 300  # within one clip of the target
    record = bundle.info["calibration"]
    assert record["target"] == "far=300/h" and record["split"] == "val"
    assert record["classes"]["tone"]["false_alarms"] == false_alarms
    assert record["classes"]["tone"]["threshold"] == t
    assert bundle.info["test"] == "planted"  # the rest of info kept
    assert (run_dir / "models" / "planted" / WEIGHTS).read_bytes() == weights  # weights untouched


def test_miss_target_is_met_on_the_fitting_data(run_dir):
    calibrate(run_dir / "models" / "planted", parse_target("miss=20%"), split="val")
    scores, labels = _scores(run_dir)
    t = load_bundle(run_dir / "models" / "planted").thresholds["tone"]
    pos = labels[:, 0] == 1
    assert int((scores[pos, 0] < t).sum()) == math.floor(0.2 * N_POS)
    # the highest such threshold: it sits just below the 7th-lowest positive score
    seventh = np.sort(scores[pos, 0])[6]
    assert t <= seventh and not (scores[:, 0] > t)[scores[:, 0] < seventh].any()


def test_eer_threshold_is_evaluations(run_dir):
    calibrate(run_dir, "eer", split="val", model="planted")
    scores, labels = _scores(run_dir)
    expected = evaluate_scores(scores, labels, ["tone", "whistle"])["threshold"]
    got = load_bundle(run_dir / "models" / "planted").thresholds
    assert got["tone"] == pytest.approx(expected["tone"], abs=1e-12)
    assert got["whistle"] == pytest.approx(expected["whistle"], abs=1e-12)


def test_calibrate_cli_writes_thresholds(run_dir, capsys):
    assert main(["calibrate", str(run_dir), "--target", "far=100/h", "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "| planted | tone |" in out
    meta = read_json(run_dir / "models" / "planted" / BUNDLE_JSON)
    assert meta["info"]["calibration"]["target"] == "far=100/h" and set(meta["thresholds"]) == {"tone", "whistle"}
    assert main(["calibrate", str(run_dir), "--target", "far=1/h", "--split", "test"]) == 2
    assert "no split 'test'" in capsys.readouterr().err
    assert main(["calibrate", str(run_dir), "--target", "banana"]) == 2
    assert "config field '--target': expected eer" in capsys.readouterr().err  # the flag; the library says 'target'
    assert main(["calibrate", str(run_dir), "--target", "eer", "--model", "nope"]) == 2
    assert "config field '--model'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="config field 'model'"):
        calibrate(run_dir, "eer", model="nope")


def test_choose_threshold_known_answers():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.35, 0.5, 0.6])
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    # 4 negatives x 900 s = 1 h: far=1/h allows one false alarm (0.4); cut midway to the next score
    assert choose_threshold(scores, labels, Target("far", 1.0), 900.0) == pytest.approx(0.325)
    assert choose_threshold(scores, labels, Target("far", 0.0), 900.0) == pytest.approx(0.45)
    assert choose_threshold(scores, labels, Target("far", 10.0), 900.0) == 0.1  # everything allowed
    # miss=1/3 of 3 positives: miss 0.35, keep 0.5 detected -> midway between 0.4 and 0.5
    assert choose_threshold(scores, labels, Target("miss", 1 / 3), 900.0) == pytest.approx(0.45)
    assert choose_threshold(scores, labels, Target("miss", 0.0), 900.0) == pytest.approx(0.325)
    assert choose_threshold(scores, labels, Target("miss", 1.0), 900.0) > 0.6
    with pytest.raises(DataError, match="no positive"):
        choose_threshold(scores[:4], labels[:4], Target("miss", 0.1), 1.0, "dog")


def test_parse_target():
    assert parse_target("eer") == Target("eer")
    assert parse_target("far=2/h") == Target("far", 2.0) == parse_target("FAR=2")
    assert parse_target("miss=0.05") == Target("miss", 0.05)
    assert parse_target("miss=5%") == Target("miss", 0.05)
    assert str(parse_target("far=0.5/h")) == "far=0.5/h"
    for bad in ("far=-1/h", "miss=1.5", "miss=150%", "far=x", "dcf", "far=inf"):
        with pytest.raises(ConfigError, match="config field 'target'"):
            parse_target(bad)


def test_bundle_outside_a_run_needs_a_store(tmp_path, capsys):
    planted_bundle(clip_seconds=1.0).save(tmp_path / "loose")
    with pytest.raises(DataError, match="not inside a run directory; pass `store`$"):
        calibrate(tmp_path / "loose", "eer")
    assert main(["calibrate", str(tmp_path / "loose"), "--target", "eer"]) == 2
    assert "not inside a run directory; pass --data STORE\n" in capsys.readouterr().err
    with pytest.raises(DataError, match="neither a model bundle"):
        calibrate(tmp_path, "eer")


