import os

import pytest
import torch

from raresound.errors import ConfigError
from raresound.training import threads


@pytest.fixture
def cores(monkeypatch):
    """Pretend this process may run on `n` cores, with no thread-related environment."""
    for var in ("OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)

    def set_cores(n):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
    return set_cores


def test_share_of_usable_cores_per_local_process(cores, monkeypatch):
    cores(2)
    assert threads.choose_threads() == (2, "2 cores / 1 local process; override with threads")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert threads.choose_threads(name="--threads") == (1, "2 cores / 2 local processes; override with --threads")
    cores(16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    assert threads.choose_threads()[0] == 5
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    cores(2)
    assert threads.choose_threads()[0] == 1  # never below one


def test_without_affinity_falls_back_to_cpu_count(cores, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert threads.choose_threads()[0] == 6


def test_requested_wins_and_must_be_positive(cores, monkeypatch):
    cores(8)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_threads(4) == (4, "threads")
    with pytest.raises(ConfigError, match="config field 'threads'"):  # the library's parameter
        threads.choose_threads(0)
    with pytest.raises(ConfigError, match="config field '--threads'"):  # the command line's name for it
        threads.choose_threads(0, name="--threads")


def test_the_command_line_names_its_flag(capsys):
    from raresound.cli import main

    assert main(["train-frames", "no-bundle", "--data", "no-store", "--threads", "0"]) == 2
    assert "config field '--threads': must be >= 1, got 0" in capsys.readouterr().err


def test_omp_num_threads_is_honoured_outside_torchrun_only(cores, monkeypatch):
    cores(8)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_threads()[0] == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun exports OMP_NUM_THREADS=1 itself
    assert threads.choose_threads()[0] == 4
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert threads.choose_threads()[0] == 8


def test_apply_sets_torch_and_tolerates_a_second_call(cores):
    before = torch.get_num_threads()
    try:
        assert threads.apply_threads(1) == "threads: 1 (threads)"
        assert torch.get_num_threads() == 1
        assert threads.apply_threads(1, "--threads") == "threads: 1 (--threads)"  # inter-op threads are set once
    finally:
        torch.set_num_threads(before)
