"""Every method trains with the loss the registry declares for it, with the configured parameters.

Each method of `training.methods.REGISTRY` is trained for one batch per stage on a tiny store with
non-default `loss.*` / `proposed.*` values. A spy on `Loss.__call__` records every loss the trainer
calls (object and inputs); the test then checks that the loss classes used are exactly the
declared ones, and recomputes each recorded value with the loss built here by hand from the
config and the store's known class counts. A competitor that silently fell back to plain BCE, or
ignored a configured parameter, gives a different class or a different number and fails.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from raresound.losses.base import Loss
from raresound.losses.class_balanced import ClassBalancedLoss, effective_number_weights
from raresound.losses.focal import FocalLoss
from raresound.losses.ldam import LDAMLoss
from raresound.losses.lmle import TripleHeaderHingeLoss
from raresound.losses.logit_adjust import LogitAdjustedLoss
from raresound.losses.thce import TripleHeaderCrossEntropy
from raresound.losses.weighted_bce import ClassWeightedBCE
from raresound.training import methods
from raresound.training.config import RecipeConfig
from raresound.training.recipes import train


# helpers.make_store's default training split: alarm 12, knock 8, background 44 clips
EVENT_COUNTS = [12.0, 8.0]
WITH_BACKGROUND = [12.0, 8.0, 44.0]

LOSS_SETTINGS = {"gamma": 1.5, "focal_alpha": 0.4, "cb_beta": 0.99, "cb_base": "focal", "ldam_max_margin": 0.3,
                 "ldam_scale": 10.0, "drw_start_epoch": 0, "drw_beta": 0.95, "tau": 0.7}


def expected_loss(method: str, cfg: RecipeConfig, recorded: Loss) -> Loss:
    """The loss `method` must train with, built by hand (cluster losses take the recorded cluster
    layout, which the round's clustering decides)."""
    loss, p = cfg.loss, cfg.proposed
    if isinstance(recorded, ClassWeightedBCE):
        return ClassWeightedBCE(np.ones(2) if method == "resample" else EVENT_COUNTS)
    if isinstance(recorded, TripleHeaderCrossEntropy):
        return TripleHeaderCrossEntropy(recorded.cluster_class.clone(), beta=p.beta, beta_prime=p.beta_prime)
    return {
        "focal": lambda: FocalLoss(gamma=loss.gamma, alpha=loss.focal_alpha),
        "cb": lambda: ClassBalancedLoss(WITH_BACKGROUND, beta=loss.cb_beta, base=loss.cb_base, gamma=loss.gamma),
        # drw_start_epoch 0: re-weighted from the first epoch on
        "ldam-drw": lambda: LDAMLoss(WITH_BACKGROUND, max_margin=loss.ldam_max_margin, scale=loss.ldam_scale,
                                     weight=effective_number_weights(WITH_BACKGROUND, loss.drw_beta)),
        "logit-adjust": lambda: LogitAdjustedLoss(WITH_BACKGROUND, tau=loss.tau),
        "lmle": lambda: TripleHeaderHingeLoss(tuple(p.lmle_margins)),
    }[method]()


def tiny_config(method: str) -> RecipeConfig:
    cfg = RecipeConfig(method=method, seed=1)
    cfg.model.hidden_size = 8
    cfg.training = dataclasses.replace(cfg.training, batch_size=16, device="cpu", max_epochs=1, max_train_batches=1,
                                       patience=1, progress=False)
    cfg.loss = dataclasses.replace(cfg.loss, **LOSS_SETTINGS)
    cfg.proposed = dataclasses.replace(cfg.proposed, n_iter=1, layer_epochs=1, e2e_epochs=1, last_e2e_epochs=1,
                                       head_epochs=1, finetune_epochs=1, beta=0.5, beta_prime=3.0,
                                       lmle_margins=[0.2, 0.3, 0.4])
    return cfg


def record_losses(monkeypatch, cfg, store, run_dir) -> list:
    calls = []

    def spy(self, *args, **kwargs):
        out = torch.nn.Module.__call__(self, *args, **kwargs)
        snapshot = lambda v: v.detach().clone() if isinstance(v, torch.Tensor) else v  # noqa: E731
        calls.append((self, [snapshot(a) for a in args], {k: snapshot(v) for k, v in kwargs.items()}, out.detach()))
        return out

    with monkeypatch.context() as patch:
        patch.setattr(Loss, "__call__", spy)
        train(cfg, store, run_dir)
    return calls


def check_losses(method: str, cfg: RecipeConfig, calls: list) -> None:
    declared = {q.rpartition(":")[2] for q in methods.get(method).losses}
    assert {type(fn).__name__ for fn, *_ in calls} == declared, method
    for fn, args, kwargs, value in calls:
        want = expected_loss(method, cfg, fn)
        torch.testing.assert_close(value, want(*args, **kwargs), rtol=1e-6, atol=1e-6,
                                   msg=lambda m: f"{method}: {type(fn).__name__} is not the configured loss: {m}")


def test_every_registered_method_is_checked():
    checked = {"baseline", "proposed", "lmle", "focal", "cb", "ldam-drw", "logit-adjust", "resample", "probe"}
    assert set(methods.METHODS) == checked  # a new method needs its expected loss above


@pytest.mark.parametrize("method", methods.METHODS)
def test_method_trains_with_its_declared_loss(method, store, tmp_path, monkeypatch):
    cfg = tiny_config(method)
    calls = record_losses(monkeypatch, cfg, store, tmp_path)
    if methods.get(method).reference:
        assert calls == []  # the probe fits a logistic regression, no gradient loss
        return
    assert calls
    check_losses(method, cfg, calls)


def test_a_competitor_ignoring_its_loss_settings_is_caught(store, tmp_path, monkeypatch):
    import raresound.training.competitors as competitors

    cfg = tiny_config("focal")
    monkeypatch.setattr(competitors, "FocalLoss", lambda gamma, alpha: FocalLoss())  # drops gamma / alpha
    calls = record_losses(monkeypatch, cfg, store, tmp_path)
    with pytest.raises(AssertionError, match="focal"):
        check_losses("focal", cfg, calls)

    cfg = tiny_config("focal")
    monkeypatch.setattr(competitors, "FocalLoss", lambda gamma, alpha: ClassWeightedBCE(np.ones(2)))  # plain BCE
    calls = record_losses(monkeypatch, cfg, store, tmp_path / "bce")
    with pytest.raises(AssertionError, match="focal"):
        check_losses("focal", cfg, calls)
