"""Fixtures shared by the test modules (plain helpers are in helpers.py).

`one_thread` is module-scoped: a module opts in with `pytestmark = pytest.mark.usefixtures("one_thread")`.
`store` / `config` are the tiny audio-free store (helpers.make_store's defaults) and recipe of the
end-to-end tests (test_recipes, test_run_integrity, test_method_losses, test_probe, test_degenerate_data)."""

from __future__ import annotations

import pytest
import torch

from helpers import make_store


@pytest.fixture(scope="module")
def one_thread():
    # Small per-block LogMel calls are much slower with intra-op threads on a busy 2-core machine.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    torch.set_num_threads(1)
    return make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "recipe.yaml"
    path.write_text("seed: 1\nmodel:\n  hidden_size: 8\ntraining:\n  batch_size: 16\n  patience: 3\n  device: cpu\n")
    return path
