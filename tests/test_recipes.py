"""End-to-end recipes on a tiny audio-free store: every method trains through the CLI, resume of a
killed proposed run reaches the unbroken run's weights, bad configs fail before any work."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import make_store, train
from raresound.bundle import load_bundle
from raresound.evaluation.eer import eer, mean_eer
from raresound.store import FeatureStore

TINY_PROPOSED = ["--set", "proposed.n_iter=2", "--set", "proposed.layer_epochs=1", "--set", "proposed.e2e_epochs=1",
                 "--set", "proposed.last_e2e_epochs=3", "--set", "proposed.head_epochs=2",
                 "--set", "proposed.finetune_epochs=1"]


def val_scores(bundle_dir, store):
    bundle = load_bundle(bundle_dir)
    split = FeatureStore(store).split("val")
    scores = bundle.score_features(torch.from_numpy(split.features[:].astype("float32")))
    return bundle, scores, split.labels


def stage_rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_baseline_learns_the_tiny_task(config, store, tmp_path, capsys):
    assert train(config, store, tmp_path, "--set", "training.max_epochs=12", "--set", "training.lr=0.01") == 0
    bundle, scores, labels = val_scores(tmp_path / "models" / "baseline", store)
    assert scores.shape == (16, 2) and bundle.spec.score == "sigmoid"
    eers = [eer(scores[:, c].numpy(), labels[:, c]) for c in range(2)]
    assert max(eers) < 0.25, eers  # chance is 0.5
    rows = stage_rows(tmp_path)
    assert {r["stage"] for r in rows} == {"baseline"} and 1 <= len(rows) <= 12
    assert (tmp_path / "normalizer.json").exists() and (tmp_path / "run.json").exists()
    # the logged validation EER of the kept (best) epoch is the EER of the saved model's val scores
    best = bundle.info["stages"]["baseline"]["best_epoch"]
    assert rows[best - 1]["val_eer"] == pytest.approx(mean_eer(scores.numpy(), labels), abs=1e-9)
    assert (tmp_path / "learning_curves.png").read_bytes().startswith(PNG_MAGIC)
    assert "barely learned" not in capsys.readouterr().err  # (the tiny val split itself is warned about)
    assert (tmp_path / "train.log").read_text().startswith(f"baseline: val EER {100 * rows[best - 1]['val_eer']:.1f} % "
                                                           f"at the kept epoch {best} of {len(rows)}")


def test_a_model_that_cannot_learn_is_flagged(config, tmp_path, capsys):
    silent = make_store(tmp_path / "silent", noise=0.0, signal=0.0)  # every clip identical: EER 50 %
    assert train(config, silent, tmp_path / "run", "--set", "training.max_epochs=1") == 0
    err = capsys.readouterr().err.strip().splitlines()
    expected = (f"warning: baseline val EER 50.0 % at its best epoch (> 40 %): the model barely learned; "
                f"see {tmp_path / 'run' / 'learning_curves.png'}")
    assert err[0].startswith(f"warning: {tmp_path / 'silent'}: split 'val' has fewer than 10 clips")  # data.checks
    assert err[1:] == [expected]
    assert expected in (tmp_path / "run" / "train.log").read_text()


@pytest.fixture(scope="module")
def trained(config, store, tmp_path_factory) -> dict:
    """The val scores of each method trained so far in this module, starting with the baseline's (the
    same 2 epochs): two methods that train identically score identically, and the second is caught."""
    run = tmp_path_factory.mktemp("baseline")
    assert train(config, store, run, "--set", "training.max_epochs=2") == 0
    return {val_scores(run / "models" / "baseline", store)[1].numpy().tobytes(): "baseline"}


@pytest.mark.parametrize("method, extra, score", [
    ("focal", [], "sigmoid"),
    ("cb", [], "sigmoid"),
    ("cb", ["--set", "loss.cb_base=softmax"], "softmax"),
    ("ldam-drw", ["--set", "loss.drw_start_epoch=1"], "softmax"),  # epoch 2 runs re-weighted
    ("logit-adjust", [], "softmax"),
    ("resample", [], "sigmoid"),
    ("resample", ["--set", "loss.resample_mode=class-balanced"], "sigmoid"),
])
def test_competitor_trains_and_scores(config, store, tmp_path, method, extra, score, trained):
    assert train(config, store, tmp_path, "--method", method, "--set", "training.max_epochs=2", *extra) == 0
    bundle, scores, _ = val_scores(tmp_path / "models" / method, store)
    case = " ".join([method, *extra[1::2]])
    first = trained.setdefault(scores.numpy().tobytes(), case)
    assert first == case, f"{case} trains exactly as {first}: its loss or sampler settings are not used"
    assert bundle.spec.score == score and bundle.info["method"] == method
    assert scores.shape == (16, 2) and bool(((scores >= 0) & (scores <= 1)).all())
    rows = stage_rows(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2] and all(r["train_loss"] == r["train_loss"] for r in rows)
    assert all(0.0 <= r["val_eer"] <= 1.0 for r in rows)


@pytest.mark.slow
def test_lmle_trains_through_rounds_and_heads(config, store, tmp_path):
    assert train(config, store, tmp_path, "--method", "lmle", *TINY_PROPOSED, "--set", "proposed.last_e2e_epochs=1") == 0
    stages = json.loads((tmp_path / "stages" / "order.json").read_text())
    assert stages == ["round1-e2e", "round2-e2e", "lmle1", "lmle2"]
    for name in ("lmle1", "lmle2"):
        _, scores, _ = val_scores(tmp_path / "models" / name, store)
        assert scores.shape == (16, 2)


@pytest.mark.slow
def test_proposed_runs_algorithm_1(config, store, tmp_path, capsys):
    assert train(config, store, tmp_path, "--method", "proposed", *TINY_PROPOSED) == 0
    rounds = json.loads((tmp_path / "rounds.json").read_text())
    assert [r["round"] for r in rounds] == [1, 2]
    assert all(r["K"] >= 3 for r in rounds)  # background + 2 classes, at least one cluster each
    # Balanced clusters (the default): alarm 12 and knock 8 clips -> one cluster each, background
    # 44 -> K = 44 // 8 = 5 clusters of 8 or 9 clips.
    printed = capsys.readouterr().out
    for r in rounds:
        assert r["clusters_per_class"] == {"0": 5, "1": 1, "2": 1} and r["K"] == 7
        assert (r["cluster_size_min"], r["cluster_size_median"], r["cluster_size_max"]) == (8, 9.0, 12)
        assert r["cluster_sizes_per_class"]["0"] == {"min": 8, "median": 9.0, "max": 9}
        assert f"round {r['round']}: K=7 sizes min 8 / median 9 / max 12; Eq 3 holds for " \
               f"{r['eq3_fraction_learned_columns']:.2f} of training clips" in printed
    assert json.loads((tmp_path / "stages" / "order.json").read_text()) == [
        "round1-layer", "round1-e2e", "round2-layer", "round2-e2e", "proposed1", "proposed2"]
    bundle, scores, _ = val_scores(tmp_path / "models" / "proposed2", store)
    assert bundle.spec.cluster_k == rounds[-1]["K"] and bundle.model.head.in_dim == rounds[-1]["K"]  # head on v
    assert scores.shape == (16, 2)
    rows = stage_rows(tmp_path)  # detector stages log validation EER, clustering stages losses only
    assert {r["stage"] for r in rows if "val_eer" in r} == {"proposed1", "proposed2"}
    assert (tmp_path / "learning_curves.png").exists()


@pytest.mark.slow
def test_proposed_killed_mid_way_resumes_to_the_unbroken_weights(config, store, tmp_path, monkeypatch):
    from raresound.training import proposed

    assert train(config, store, tmp_path / "unbroken", "--method", "proposed", *TINY_PROPOSED) == 0

    real = proposed.thce_objectives
    calls = {"n": 0}

    def dying(ctx, result, val_ids):
        objective, val_objective = real(ctx, result, val_ids)

        def train_objective(net, batch):
            calls["n"] += 1
            if calls["n"] == 3 * 4 + 4 + 2:  # 4 batches/epoch: round2-e2e, epoch 2, batch 2
                raise KeyboardInterrupt
            return objective(net, batch)
        return train_objective, val_objective

    monkeypatch.setattr(proposed, "thce_objectives", dying)
    assert train(config, store, tmp_path / "broken", "--method", "proposed", *TINY_PROPOSED) == 130
    last = json.loads((tmp_path / "broken" / "stages" / "round2-e2e" / "last.json").read_text())
    assert last["epoch"] == 1 and not (tmp_path / "broken" / "models").exists()
    monkeypatch.setattr(proposed, "thce_objectives", real)
    assert train(config, store, tmp_path / "broken", "--method", "proposed", *TINY_PROPOSED) == 0
    for name in ("proposed1", "proposed2"):
        a = load_file(str(tmp_path / "unbroken" / "models" / name / "model.safetensors"))
        b = load_file(str(tmp_path / "broken" / "models" / name / "model.safetensors"))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=key)
    assert stage_rows(tmp_path / "broken") == [
        {**r, "seconds": s["seconds"]} for r, s in zip(stage_rows(tmp_path / "unbroken"), stage_rows(tmp_path / "broken"))]


@pytest.mark.parametrize("args, field", [
    (["--set", "training.bogus=1"], "training.bogus"),
    (["--set", "training.batch_size=-4"], "training.batch_size"),
    (["--set", "model.backbone=rnn"], "model.backbone"),
    (["--set", "proposed.lmle_margins=[0.1]"], "proposed.lmle_margins"),
    (["--set", "training.amp=fp16"], "training.amp"),  # fp16 needs CUDA
    (["--set", "nonsense"], "nonsense"),
])
def test_bad_config_fails_in_one_line_before_any_work(config, store, tmp_path, capsys, args, field):
    out = tmp_path / "run"
    assert train(config, store, out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raresound: error: ") and field in err and "\n" not in err
    assert not (out / "stages").exists()


def test_missing_config_and_store_are_one_line_errors(config, tmp_path, capsys):
    assert train(tmp_path / "nope.yaml", tmp_path, tmp_path / "run") == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert train(config, tmp_path / "no-store", tmp_path / "run") == 2
    assert "no-store" in capsys.readouterr().err


def test_resuming_is_a_re_run_so_there_is_no_resume_flag(config, store, tmp_path, capsys):
    from raresound.cli import build_parser

    with pytest.raises(SystemExit):  # the flag was never read: re-running resumes (the test above)
        train(config, store, tmp_path, "--resume")
    assert "unrecognized arguments: --resume" in capsys.readouterr().err
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    assert "into the same --out resumes" in " ".join(train_parser.description.split())
