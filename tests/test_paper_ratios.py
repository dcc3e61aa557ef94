"""The paper's ratio configs, applied to a store, keep dog : baby : gunshot : background at the
paper's 6:1:2:16 and 2:2:1:26, whatever order the store lists its classes in (alphabetical)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from raresound.errors import ConfigError
from raresound.training.config import config_from_dict, load_config, load_recipes
from raresound.training.data import load_training_data
from helpers import make_store

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STORE_CLASSES = ("baby", "dog", "gunshot")  # as a real store lists them: sorted
# Unequal per-class counts, so a ratio applied to the wrong class changes what is kept.
COUNTS = {"train": {"dog": 70, "baby": 50, "gunshot": 45, "": 700},
          "val": {"dog": 20, "baby": 12, "gunshot": 9, "": 200}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("paper-store"), COUNTS, n_mels=4, clip_seconds=0.05,
                      classes=STORE_CLASSES)


def kept(dataset) -> Counter:
    """Class of each kept clip: its single label, or background."""
    names = [STORE_CLASSES[np.argmax(row)] if row.any() else "background" for row in dataset.targets]
    return Counter(names)


def as_ratio(counts: Counter) -> tuple:
    order = ("dog", "baby", "gunshot", "background")
    k = min(counts[c] for c in order)
    return tuple(counts[c] // k if counts[c] % k == 0 else counts[c] / k for c in order)


@pytest.mark.parametrize("ratio, paths", [
    ((6, 1, 2, 16), ["proposed-cnn-6-1-2-16.yaml", "proposed-lstm-6-1-2-16.yaml"]),
    ((2, 2, 1, 26), ["proposed-cnn-2-2-1-26.yaml", "proposed-lstm-2-2-1-26.yaml"]),
])
def test_paper_configs_keep_the_papers_ratio(store, ratio, paths):
    for path in paths:
        cfg = load_config(CONFIGS / path)
        data = load_training_data(store, cfg.data.ratio, cfg.data.classes, cfg.seed)
        train = kept(data.train)
        assert as_ratio(train) == ratio, (path, train)
        assert as_ratio(kept(data.val)) == ratio, path
        # k maximal: another k * ratio would not fit the store
        k = train["dog"] // ratio[0]
        assert any((k + 1) * w > COUNTS["train"][c] for c, w in zip(("dog", "baby", "gunshot", ""), ratio))


def test_demo_and_suite_ratios_are_named():
    recipes = [r for path in ("demo/baseline.yaml", "demo/proposed.yaml", "compare-synthetic.yaml")
               for _, r in load_recipes(CONFIGS / path)]
    assert {r.data.ratio for r in recipes} == {"dog=6,baby=1,gunshot=2,background=16"}


def test_positional_ratio_without_its_classes_is_refused():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"data": {"ratio": "6:1:2:16"}})
    assert info.value.field == "data.ratio" and "dog=6,baby=1,gunshot=2,background=16" in str(info.value)
    assert "\n" not in str(info.value)
    # with its order spelled out it is the same ratio
    cfg = config_from_dict({"data": {"ratio": "6:1:2:16", "classes": "dog,baby,gunshot,background"}})
    assert cfg.data.classes


def test_positional_ratio_with_classes_hits_the_right_class(store):
    data = load_training_data(store, "6:1:2:16", "dog,baby,gunshot,background")
    assert as_ratio(kept(data.train)) == (6, 1, 2, 16)


@pytest.mark.parametrize("ratio, message", [
    ("dog=6,baby=1,glass=2,background=16", "unknown glass; missing gunshot"),
    ("dog=6,baby=1,background=16", "missing gunshot"),
])
def test_names_must_be_the_stores_classes(store, ratio, message):
    with pytest.raises(ConfigError) as info:
        load_training_data(store, ratio)
    assert info.value.field == "data.ratio" and message in str(info.value)
    assert "the store's classes are baby, dog, gunshot, background" in str(info.value)
    assert "\n" not in str(info.value)
