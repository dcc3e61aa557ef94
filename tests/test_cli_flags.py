"""commands._flags: library errors name parameters; the command line re-raises them under its flags."""

import pytest

from raresound.commands._flags import flag_names
from raresound.errors import ConfigError, DataError, RunMismatchError


def test_a_config_error_of_a_listed_parameter_names_the_flag():
    with pytest.raises(ConfigError, match=r"^config field '--out': pass `store`$") as info:
        with flag_names(out_dir="--out"):
            raise ConfigError("out_dir", "pass `store`")
    assert info.value.field == "--out"


def test_parameters_in_backticks_become_flags_and_the_class_stays():
    with pytest.raises(RunMismatchError, match=r"^runs/a: train into a new --out$"):
        with flag_names(run_dir="--out"):
            raise RunMismatchError("runs/a: train into a new `run_dir`")
    with pytest.raises(ConfigError, match=r"^config field 'model': pass --data STORE$"):
        with flag_names(store="--data STORE"):
            raise ConfigError("model", "pass `store`")


def test_other_errors_pass_unchanged():
    with pytest.raises(DataError, match=r"^runs/run_dir: out_dir `other`$"):  # bare words and paths are kept
        with flag_names(out_dir="--out"):
            raise DataError("runs/run_dir: out_dir `other`")
    with pytest.raises(ConfigError, match=r"^config field 'seed': bad$"):
        with flag_names(out_dir="--out"):
            raise ConfigError("seed", "bad")


# ------------------------------------------------------------------------ --device (add_device_option)

def device_actions() -> dict:
    from raresound.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    return {name: action for name, p in commands.items() for action in p._actions if "--device" in action.option_strings}


def test_every_model_command_has_the_one_device_option():
    from raresound.devices import device_name

    actions = device_actions()
    assert set(actions) == {"train", "train-frames", "detect", "evaluate", "calibrate", "plot"}
    for name, action in actions.items():
        assert action.type is device_name, name
        assert action.help.split("; default")[0] == "where the model runs (auto: cuda when available, else cpu", name
        assert action.default == (None if name == "train" else "cpu"), name  # train: the recipe's


@pytest.mark.parametrize("value, ok", [("auto", True), ("cpu", True), ("cuda", True), ("cuda:1", True), ("mps", True),
                                       ("gpu", False), ("CPU", False), ("cuda:x", False), ("cuda:", False)])
def test_every_device_option_takes_the_same_values(value, ok, capsys):
    from raresound.cli import build_parser

    args = ["detect", "b", "a.wav", "--device", value]
    if ok:
        assert build_parser().parse_args(args).device == value
    else:
        with pytest.raises(SystemExit):
            build_parser().parse_args(args)
        assert "is not a device (auto, cpu, cuda, cuda:N or mps)" in capsys.readouterr().err


def test_auto_is_a_device_for_bundles_and_recipes_alike():
    import torch

    from raresound.bundle import check_device
    from raresound.devices import auto_device
    from raresound.training.config import config_from_dict

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto_device("auto") == expected and auto_device("cpu") == "cpu"
    assert check_device("auto").type == expected
    assert config_from_dict({"training": {"device": "auto"}}).training.device == "auto"
    with pytest.raises(ConfigError, match="training.device"):
        config_from_dict({"training": {"device": "gpu"}})
