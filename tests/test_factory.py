"""Models build models (models/factory.py): models raise ValueErrors naming the parameter; the recipe
layer names the config field, bundle loading names the bundle; bundle.py only saves and loads."""

import json
import subprocess
import sys

import pytest

from raresound.bundle import BUNDLE_JSON, load_bundle
from raresound.errors import ConfigError, DataError
from raresound.models.factory import ModelSpec, build_model
from raresound.training.config import config_from_dict
from raresound.training.recipes import build_recipe_model, model_spec
from helpers import make_bundle


def test_bundle_reexports_the_factory():
    from raresound import bundle

    assert bundle.build_model is build_model and bundle.ModelSpec is ModelSpec


def test_bundle_imports_no_loss():
    code = "import sys, raresound.bundle; print(sorted(m for m in sys.modules if m.startswith('raresound.losses')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_with_clusters_is_a_copy():
    spec = ModelSpec(backbone_kwargs={"n_mels": 8, "hidden_size": 4})
    clustered = spec.with_clusters(3, "fixed", 5.0, "z")
    assert spec.cluster_k is None and (clustered.cluster_k, clustered.cluster_mode, clustered.head_input) == (3, "fixed", "z")
    assert build_model(clustered).cluster_layer.K == 3


@pytest.mark.parametrize("spec, field, message", [
    (model_spec(config_from_dict({"model": {"backbone": "cnn"}}), 2, n_frames=50, n_mels=64), "model.n_frames",
     "at least 500 frames"),
    (model_spec(config_from_dict({}), 2, 100, 16).with_clusters(2, "cosine", 10.0, "v"), "proposed.layer_mode",
     "must be one of"),
    (ModelSpec(backbone_kwargs={"n_mels": 16, "pooling": "first"}), "model.pooling", "must be one of"),
])
def test_recipe_builds_name_the_config_field(spec, field, message):
    with pytest.raises(ValueError, match=message):
        build_model(spec)  # the model's own error names the parameter only
    with pytest.raises(ConfigError) as err:
        build_recipe_model(spec)
    assert err.value.field == field and message in str(err.value)


def test_bundle_builds_name_the_bundle(tmp_path):
    path = make_bundle(tmp_path / "b")
    meta = json.loads((path / BUNDLE_JSON).read_text())
    meta["spec"]["backbone_kwargs"]["pooling"] = "first"
    (path / BUNDLE_JSON).write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"b/bundle.json: spec does not build a model \(pooling must be one of"):
        load_bundle(path)


def test_bundle_whose_network_does_not_take_its_features_is_refused(tmp_path):
    path = make_bundle(tmp_path / "b")
    meta = json.loads((path / BUNDLE_JSON).read_text())
    meta["spec"]["backbone_kwargs"]["n_mels"] = 32
    (path / BUNDLE_JSON).write_text(json.dumps(meta))
    with pytest.raises(DataError, match="spec field n_mels is 32, but the feature config makes 64"):
        load_bundle(path)


def test_the_model_errors_docstring_names_functions_that_exist():
    import importlib
    import re

    from raresound.models import errors

    refs = re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", errors.__doc__)
    assert refs == ["training.recipes.build_recipe_model", "bundle.load_bundle"]
    for ref in refs:
        module, name = ref.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(f"raresound.{module}"), name)), ref
