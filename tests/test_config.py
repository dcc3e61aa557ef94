"""Recipe validation: every key checked before any work, errors name the dotted field."""

from pathlib import Path

import pytest

from raresound.cli import main
from raresound.errors import ConfigError
from raresound.training.config import config_from_dict, load_config, parse_override

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").rglob("*.yaml"))


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"foo": 1}, "foo", "unknown key"),
        ({"training": {"lrate": 0.1}}, "training.lrate", "unknown key"),
        ({"training": {"lr": "fast"}}, "training.lr", "must be a number"),
        ({"training": {"lr": 0}}, "training.lr", "must be > 0"),
        ({"training": {"batch_size": 0}}, "training.batch_size", "must be >= 1"),
        ({"training": {"batch_size": 6.5}}, "training.batch_size", "must be an integer"),
        ({"training": {"patience": -1}}, "training.patience", "must be >= 0"),
        ({"training": {"progress": "yes"}}, "training.progress", "true or false"),
        ({"method": "svm"}, "method", "must be one of"),
        ({"model": {"backbone": "gru"}}, "model.backbone", "must be one of"),
        ({"model": "lstm"}, "model", "must be a mapping"),
        ({"proposed": {"n_iter": 0}}, "proposed.n_iter", "must be >= 1"),
        ({"proposed": {"alpha": -1.0}}, "proposed.alpha", "must be > 0"),
        ({"proposed": {"head_input": "q"}}, "proposed.head_input", "must be one of"),
        ({"proposed": {"lmle_margins": [0.1]}}, "proposed.lmle_margins", "three margins"),
        ({"loss": {"cb_beta": 1.0}}, "loss.cb_beta", "[0, 1)"),
        ({"data": {"ratio": 6}}, "data.ratio", "must be a string"),
        ({"method": "proposed", "model": {"normalize": False}}, "model.normalize", "must be true"),
    ],
)
def test_bad_values_name_the_field(data, field, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert err.value.field == field
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_defaults_are_the_papers():
    cfg = config_from_dict({})
    assert (cfg.training.lr, cfg.training.batch_size, cfg.training.patience) == (1e-3, 64, 10)
    p = cfg.proposed
    assert (p.n_iter, p.layer_epochs, p.e2e_epochs, p.last_e2e_epochs) == (5, 2, 30, 150)
    assert (p.beta, p.beta_prime) == (0.0, 5.0)
    assert p.balanced_clusters  # K_c clusters of roughly equal size, as the paper asks
    assert cfg.model.hidden_size == 128


def test_int_accepted_where_float_expected_and_overrides_apply(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("method: proposed\nproposed:\n  beta_prime: 3\n")
    cfg = load_config(path, dict([parse_override("training.max_epochs=7"), parse_override("proposed.beta=0.5")]))
    assert cfg.proposed.beta_prime == 3.0 and isinstance(cfg.proposed.beta_prime, float)
    assert cfg.training.max_epochs == 7 and cfg.proposed.beta == 0.5


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_recipe_is_valid(path):
    if "reproduce" in path.parts or path.name == "compare-synthetic.yaml":
        pytest.skip("reproduction grids have their own schema (tests/test_reproduce.py)")
    if "sed" in path.parts:  # train-sed configs: their own schema
        from raresound.training.config import read_yaml
        from raresound.training.sed import sed_config

        sed_config(read_yaml(path))
        return
    load_config(path)


def test_cli_rejects_bad_config_before_any_work(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("training:\n  max_epoch: 3\n")
    code = main(["train", "--config", str(path), "--data", str(tmp_path / "no-store"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "config field 'training.max_epoch': unknown key" in err
    assert not (tmp_path / "run").exists()


def test_suite_merges_base_and_names_bad_recipe_fields(tmp_path):
    from raresound.training.config import load_recipes

    suite = tmp_path / "s.yaml"
    suite.write_text("base:\n  training: {max_epochs: 3}\nrecipes:\n  a: {method: focal}\n"
                     "  b: {method: cb, training: {patience: 2}}\n")
    (na, a), (nb, b) = load_recipes(suite, {"seed": 5})
    assert (na, a.method, a.training.max_epochs, a.seed) == ("a", "focal", 3, 5)
    assert (nb, b.training.patience, b.training.max_epochs) == ("b", 2, 3)
    suite.write_text("recipes:\n  a: {method: focal, loss: {gama: 1}}\n")
    with pytest.raises(ConfigError, match=r"recipes.a.loss.gama"):
        load_recipes(suite)
    single = tmp_path / "one.yaml"
    single.write_text("method: lmle\n")
    assert [(n, c.method) for n, c in load_recipes(single)] == [("one", "lmle")]


def test_compare_suite_covers_every_method():
    from raresound.training.config import METHODS, load_recipes

    suite = load_recipes(Path(__file__).resolve().parents[1] / "configs" / "compare-synthetic.yaml")
    assert sorted(cfg.method for _, cfg in suite) == sorted(METHODS)


def test_model_fields_reach_the_backbone():
    from raresound.models.factory import build_model
    from raresound.training.recipes import model_spec

    cfg = config_from_dict({"model": {"backbone": "cnn", "channels_last": True, "dropout": 0.1}})
    spec = model_spec(cfg, n_classes=3, n_frames=1000, n_mels=64)
    assert spec.backbone_kwargs["channels_last"] is True and spec.backbone_kwargs["dropout"] == 0.1
    model = build_model(spec)
    assert model.backbone.embedding_dim == 512


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"training": {"lr": float("nan")}}, "training.lr", "finite"),
        ({"proposed": {"beta": float("inf")}}, "proposed.beta", "finite"),
        ({"training": {"weight_decay": -1}}, "training.weight_decay", ">= 0"),
        ({"training": {"max_train_batches": 0}}, "training.max_train_batches", ">= 1"),
        ({"model": {"hidden_size": 0}}, "model.hidden_size", "between 1 and"),
        ({"model": {"hidden_size": 10_000_000}}, "model.hidden_size", "between 1 and"),
        ({"model": {"dropout": 5}}, "model.dropout", "[0, 1)"),
        ({"loss": {"gamma": -5}}, "loss.gamma", ">= 0"),
        ({"seed": 10**20}, "seed", "between 0 and"),
    ],
)
def test_out_of_range_values_name_the_field(data, field, message):
    test_bad_values_name_the_field(data, field, message)


@pytest.mark.parametrize("setting", ["training.lr=.nan", "training.weight_decay=-1", "model.hidden_size=0",
                                     "model.dropout=5", "loss.gamma=-5", "seed=100000000000000000000",
                                     "training.max_train_batches=0"])
def test_cli_out_of_range_set_is_one_line(tmp_path, capsys, setting):
    code = main(["train", "--config", str(CONFIGS[0]), "--data", str(tmp_path / "s"), "--out", str(tmp_path / "r"),
                 "--set", setting])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("raresound: error: config field") and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_config_that_is_a_directory_binary_or_list_is_one_line_error(tmp_path):
    binary = tmp_path / "b.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    listed = tmp_path / "l.yaml"
    listed.write_text("- method: focal\n- seed: 1\n")
    for path, message in [(tmp_path, "is a directory"), (binary, "not a text file"), (listed, "YAML mapping")]:
        with pytest.raises(ConfigError, match=message) as err:
            load_config(path, {"seed": 1})
        assert "\n" not in str(err.value)


def test_parse_pairs_and_deep_merge_are_the_one_definition():
    from raresound.config_schema import count, deep_merge, parse_pairs

    assert parse_pairs(" dog = 6 ,, baby=1", "f", "CLASS=N") == {"dog": "6", "baby": "1"}
    assert parse_pairs(["a=1", "b=2.5"], "f", "CLASS=VALUE", float) == {"a": 1.0, "b": 2.5}
    for bad, kwargs in (("dog=6,baby", {}), ("=3", {}), ("dog=x", {"convert": count}), ("a=1,,b=2", {"keep_blank": True})):
        with pytest.raises(ConfigError, match=r"config field 'f': expected CLASS=N, got"):
            parse_pairs(bad, "f", "CLASS=N", **kwargs)
    with pytest.raises(ConfigError, match="class 'a' appears twice in 'a=1,a=2'"):
        parse_pairs("a=1,a=2", "f", "CLASS=N", unique="class")
    base = {"training": {"lr": 0.1, "max_epochs": 3}, "tags": [1]}
    merged = deep_merge(base, {"training": {"lr": 0.01}, "tags": [2]})
    assert merged == {"training": {"lr": 0.01, "max_epochs": 3}, "tags": [2]}
    assert base == {"training": {"lr": 0.1, "max_epochs": 3}, "tags": [1]}  # inputs untouched
