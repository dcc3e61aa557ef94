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
