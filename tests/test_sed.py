"""train-sed: a CRNN trained end to end on strong labels finds planted tones in the validation
clips, its post-processing is tuned on validation events and `detect` runs the bundle in one pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raresound.bundle import load_bundle
from raresound.cli import main
from raresound.errors import ConfigError
from raresound.evaluation.sed import markdown_table, protocol_metrics
from raresound.store import FeatureStore
from raresound.training.sed import (_crop_starts, _objective, detect_split, lr_factor, positive_weights, sed_config,
                                    train_sed)
from test_frames import _event_store

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"model": {"kwargs": {"channels": [4, 8], "time_pools": [2, 2], "freq_pools": [8, 8], "hidden_size": 8}},
         "epochs": 25, "patience": 25, "lr": 1e-2, "batch_size": 12, "crop_seconds": None, "clip_weight": 0.5}


@pytest.fixture(scope="module")
def sed_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("sed")
    store, _ = _event_store(root)
    torch.manual_seed(0)
    return store, train_sed(store, root / "run", SMALL, progress=False, log=lambda *_: None)


def test_the_trained_detector_finds_the_planted_tones(sed_bundle):
    store, bundle_dir = sed_bundle
    bundle = load_bundle(bundle_dir)
    pp = bundle.info["frames"]["postprocessing"]["tone"]
    assert pp["val_event_f1"] >= 0.9 and 0.0 < pp["threshold"] < 1.0
    ref, est, scores, durations = detect_split(bundle, FeatureStore(store).split("val"), keep_scores=True)
    m = protocol_metrics(ref, est, ["tone"], frame_scores=scores, durations=durations)
    tone = m["class_wise"]["tone"]
    assert tone["Nref"] == 12 and tone["f_measure"] >= 0.9 and tone["error_rate"] <= 0.2
    assert tone["onset_error_median"] < 0.1
    assert "| tone |" in markdown_table(m)


def test_detect_runs_the_bundle_in_one_pass_on_a_file(sed_bundle, tmp_path, capsys):
    from helpers import planted_wave, write_wav

    _, bundle_dir = sed_bundle
    wav = write_wav(tmp_path / "long.wav", planted_wave(6.0, [(1.0, 1.5), (4.0, 4.6)], seed=3))
    assert main(["detect", str(bundle_dir), str(wav), "--out", str(tmp_path / "ev.tsv")]) == 0
    rows = [line.split("\t") for line in (tmp_path / "ev.tsv").read_text().splitlines() if line and "onset" not in line]
    onsets = sorted(float(r[1]) for r in rows)
    assert len(onsets) == 2 and abs(onsets[0] - 1.0) < 0.2 and abs(onsets[1] - 4.0) < 0.2


def test_crops_hold_a_positive_step_of_every_clip_with_an_event():
    torch.manual_seed(0)
    y = torch.zeros(50, 100, 2)
    for b in range(0, 50, 2):
        y[b, 70 + b % 20 : 75 + b % 20, 0] = 1
    starts = _crop_starts(y, 25)
    for b in range(50):
        s = int(starts[b])
        assert 0 <= s <= 75
        if b % 2 == 0:
            assert y[b, s : s + 25].sum() > 0


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="epochs"):
        sed_config({"epochs": 0})
    with pytest.raises(ConfigError, match="nope"):
        sed_config({"nope": 1})
    with pytest.raises(ConfigError, match="crop_seconds"):
        sed_config({"crop_seconds": -1.0})
    with pytest.raises(ConfigError, match="lr_schedule"):
        sed_config({"lr_schedule": "linear"})
    with pytest.raises(ConfigError, match="grad_clip"):
        sed_config({"grad_clip": 0})
    with pytest.raises(ConfigError, match="pos_balance"):
        sed_config({"pos_balance": 1.5})


def test_positive_weights_are_the_class_odds_to_the_balance_power():
    y = np.zeros((2, 10, 2), np.uint8)
    y[0, :2, 0] = 1       # class 0: 2 positive steps of 20 -> odds 18 / 2 = 9
    y[1, :5, 1] = 1       # class 1: 5 of 20 -> 15 / 5 = 3
    assert positive_weights(y, 0.0) is None
    assert positive_weights(y, 1.0).tolist() == pytest.approx([9.0, 3.0])
    assert positive_weights(y, 0.5).tolist() == pytest.approx([3.0, 3.0 ** 0.5])


def test_weighted_frame_loss_by_hand():
    """Zero logits: every term is log 2, a positive one times its weight. Targets [1 step of 4
    positive] with weight 3: frame BCE = (3 + 1 + 1 + 1) / 4 log 2; the clip term (max-pooled
    logit 0 against 1) is log 2, unweighted, times clip_weight 0.5."""
    y = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]])

    def net(x, output):
        assert output == "frames+logits"
        return torch.zeros(1, 4, 1), torch.zeros(1, 1)

    loss = _objective(y, 1, None, 0.5, pos_weight=torch.tensor([3.0]))(net, (torch.zeros(1, 4, 8), None, [0]))
    assert float(loss) == pytest.approx((6 / 4 + 0.5) * np.log(2))


def test_cosine_schedule_halves_at_mid_run_and_floors_at_five_percent():
    f = lr_factor("cosine", 10)
    assert f(0) == 1.0 and f(5) == pytest.approx(0.5) and f(10) == 0.05
    assert f(9) == pytest.approx(max(0.05, 0.5 * (1 + np.cos(0.9 * np.pi))))
    assert lr_factor("constant", 10) is None


def test_augmentation_from_the_config_trains(tmp_path):
    store, _ = _event_store(tmp_path, counts=(("train", 12), ("val", 8)))
    cfg = {**SMALL, "epochs": 1, "augment": {"time_mask": {"n_masks": 1, "max_width": 10, "p": 1.0},
                                             "freq_mask": {"n_masks": 1, "max_width": 4, "p": 1.0}}}
    bundle = train_sed(store, tmp_path / "run", cfg, progress=False, log=lambda *_: None)
    assert load_bundle(bundle).info["frames"]["config"]["augment"]["time_mask"]["max_width"] == 10
    with pytest.raises(ConfigError, match="augment"):
        train_sed(store, tmp_path / "bad", {**cfg, "augment": {"wobble": {}}}, progress=False, log=lambda *_: None)


def test_a_rerun_resumes_under_the_same_settings_and_is_refused_under_others(sed_bundle):
    from raresound.errors import RunMismatchError

    store, bundle_dir = sed_bundle
    run = bundle_dir.parent
    weights = (bundle_dir / "model.safetensors").read_bytes() if (bundle_dir / "model.safetensors").exists() else None
    assert train_sed(store, run, SMALL, progress=False, log=lambda *_: None) == bundle_dir  # finished: kept
    with pytest.raises(RunMismatchError, match=r"pos_balance.*0\.0 -> 0\.5"):
        train_sed(store, run, {**SMALL, "pos_balance": 0.5}, progress=False, log=lambda *_: None)
    if weights is not None:
        assert (bundle_dir / "model.safetensors").read_bytes() == weights
