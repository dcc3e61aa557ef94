"""`--set KEY=VALUE` is typed by the field it sets (not by YAML 1.1, which reads 6:1:2:16 as the
base-60 integer 1299736 and 1e-4 as a string); bad keys and values are one-line ConfigErrors."""

from __future__ import annotations

import pytest

from raresound.cli import main
from raresound.errors import ConfigError
from raresound.training.config import apply_overrides, load_config, parse_override


@pytest.mark.parametrize("text, key, value", [
    ("data.ratio=6:1:2:16", "data.ratio", "6:1:2:16"),
    ("data.ratio=dog=6,baby=1,gunshot=2,background=16", "data.ratio", "dog=6,baby=1,gunshot=2,background=16"),
    ("training.lr=1e-4", "training.lr", 1e-4),
    ("training.lr=1.0E+2", "training.lr", 100.0),
    ("training.max_epochs= 3", "training.max_epochs", 3),
    ("model.normalize=false", "model.normalize", False),
    ("training.progress=yes", "training.progress", True),
    ("proposed.head_lr=null", "proposed.head_lr", None),
    ("proposed.head_lr=0.05", "proposed.head_lr", 0.05),
    ("training.max_train_batches=none", "training.max_train_batches", None),
    ("proposed.lmle_margins=[0.2, 0.1, 0.1]", "proposed.lmle_margins", [0.2, 0.1, 0.1]),
    ("method=proposed", "method", "proposed"),
    ("data.classes=dog,baby,gunshot,background", "data.classes", "dog,baby,gunshot,background"),
])
def test_values_are_typed_by_the_field(text, key, value):
    parsed = parse_override(text)
    assert parsed == (key, value) and type(parsed[1]) is type(value)


@pytest.mark.parametrize("text, field, message", [
    ("training.lr=[", "training.lr", "must be a finite number, got '['"),
    ("training.lr=fast", "training.lr", "must be a finite number"),
    ("training.lr=.nan", "training.lr", "must be a finite number"),
    ("training.lr=inf", "training.lr", "must be a finite number"),
    ("seed=1e20", "seed", "must be an integer, got '1e20'"),
    ("training.max_epochs=2.5", "training.max_epochs", "must be an integer"),
    ("model.normalize=maybe", "model.normalize", "must be true or false"),
    ("training.lr.x=1", "training.lr.x", "training.lr is a value, not a section"),
    ("training=5", "training", "is a section; set one of its fields"),
    ("training.bogus=1", "training.bogus", "unknown key (known: amp, batch_size"),
    ("bogus=1", "bogus", "unknown key"),
    ("proposed.lmle_margins=[0.1", "proposed.lmle_margins", "not a valid YAML list"),
    ("training.lr", "training.lr", "must look like section.key=value"),
])
def test_bad_overrides_name_the_field(text, field, message):
    with pytest.raises(ConfigError) as err:
        parse_override(text)
    assert err.value.field == field and message in str(err.value) and "\n" not in str(err.value)


def test_a_typed_ratio_reaches_the_config(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("data:\n  classes: dog,baby,gunshot,background\n")
    cfg = load_config(path, dict([parse_override("data.ratio=6:1:2:16"), parse_override("training.lr=1e-4")]))
    assert cfg.data.ratio == "6:1:2:16" and cfg.training.lr == 1e-4


def test_a_scalar_in_the_file_where_a_section_is_overridden(tmp_path):
    with pytest.raises(ConfigError, match="config field 'training': must be a mapping to set training.lr"):
        apply_overrides({"training": 5}, {"training.lr": 0.1})


@pytest.mark.parametrize("setting", ["training.lr=[", "training.lr.x=1", "training=5", "data.ratio=6:1:2:16"])
def test_cli_says_one_line_before_any_work(tmp_path, capsys, setting):
    path = tmp_path / "r.yaml"
    path.write_text("seed: 0\n")
    code = main(["train", "--config", str(path), "--data", str(tmp_path / "no-store"), "--out", str(tmp_path / "run"),
                 "--set", setting])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("raresound: error: config field ") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
