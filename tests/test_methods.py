"""The method registry: every method declared once, every list derived from it, no import circle."""

import dataclasses
import subprocess
import sys

import pytest

from raresound.training import methods
from raresound.training.config import LossConfig, RecipeConfig


def test_every_list_is_derived_from_the_registry():
    import raresound.reproduce as rp
    from raresound.training import config

    names = [m.name for m in methods.REGISTRY]
    assert config.METHODS == tuple(names) and len(set(names)) == len(names)
    assert config.REFERENCE_METHODS == ("probe",)
    assert rp.METHOD_MODELS == {m.name: list(m.models) for m in methods.REGISTRY}
    assert set(rp.MODEL_LABELS) == {model for m in methods.REGISTRY for model in m.models}
    assert rp.LOSS_FIELDS_READ["gamma"] == ("focal", "cb")
    # every loss.* field is read by some method (a new field must be declared where it is read)
    assert set(rp.LOSS_FIELDS_READ) == {f.name for f in dataclasses.fields(LossConfig)}


def test_every_recipe_and_declared_loss_resolves():
    import importlib

    for m in methods.REGISTRY:
        assert callable(m.recipe_fn()), m.name
        for qualified in m.losses:
            module, _, cls = qualified.partition(":")
            assert isinstance(getattr(importlib.import_module(module), cls), type), qualified
        assert set(m.labels) == set(m.models), m.name
    assert all(m.losses for m in methods.REGISTRY if not m.reference)


def test_the_registry_imports_no_recipe_module():
    code = ("import sys; import raresound.training.methods, raresound.training.config; "
            "mods = [m for m in sys.modules if m.startswith('raresound.training.') or m == 'torch']; "
            "print(sorted(mods))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["raresound.training.config", "raresound.training.methods"]


@pytest.mark.parametrize("mode, label", [("undersample", "Resampling (background undersampling)"),
                                         ("class-balanced", "Resampling (class-balanced)")])
def test_resample_label_follows_the_configured_mode(mode, label):
    cfg = RecipeConfig(method="resample")
    cfg.loss.resample_mode = mode
    assert methods.model_label("resample", cfg) == label
    assert methods.model_label("resample") == "Resampling (background undersampling)"
    assert methods.model_label("unknown-model") == "unknown-model"
