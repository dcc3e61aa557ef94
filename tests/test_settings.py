"""training.settings: a re-run into an output directory resumes only under the same settings."""

from __future__ import annotations

import pytest

from raresound.errors import RunMismatchError
from raresound.training.settings import check_settings, record_settings


def test_same_settings_pass_and_any_changed_added_or_removed_field_is_named(tmp_path):
    check_settings(tmp_path, {"lr": 0.1})  # a new directory
    record_settings(tmp_path, {"lr": 0.1, "augment.gain.p": 0.5, "store": "/a"})
    check_settings(tmp_path, {"lr": 0.1, "augment.gain.p": 0.5, "store": "/moved"})  # path: compared by identity
    with pytest.raises(RunMismatchError, match=r"lr: 0\.1 -> 0\.2"):
        check_settings(tmp_path, {"lr": 0.2, "augment.gain.p": 0.5})
    with pytest.raises(RunMismatchError, match=r"augment\.gain\.p: 0\.5 -> None"):
        check_settings(tmp_path, {"lr": 0.1})  # the option removed
    with pytest.raises(RunMismatchError, match=r"seed: None -> 1"):
        check_settings(tmp_path, {"lr": 0.1, "augment.gain.p": 0.5, "seed": 1})


def test_an_output_without_a_record_is_refused(tmp_path):
    (tmp_path / "training").mkdir()
    with pytest.raises(RunMismatchError, match="no record"):
        check_settings(tmp_path, {"lr": 0.1})
