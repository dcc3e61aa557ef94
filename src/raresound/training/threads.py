"""How many intra-op threads torch uses in a training process.

torch defaults to one thread per core of the whole machine. Several processes on one host (torchrun's
local ranks, or other jobs confined to the same cores) then oversubscribe the cores and every op
waits for the others: on 2 shared cores an LSTM step went from 0.6 s to 10-22 s. So each process
takes its share: the cores it may run on (its affinity mask) divided by the local processes.
"""

from __future__ import annotations

import os

from raresound.errors import ConfigError
from raresound.workers import usable_cores  # noqa: F401 - re-exported: its home was here

_interop_set = False


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 1 else None


def choose_threads(threads: int | None = None, name: str = "threads") -> tuple[int, str]:
    """(threads, why): `threads` wins; outside torchrun an exported OMP_NUM_THREADS is honoured
    (under torchrun it is torchrun's own blanket 1, so the share is used instead); else usable
    cores // LOCAL_WORLD_SIZE, at least 1. `name` is what the caller's user sets `threads` by (the
    command line: "--threads"), for the error and the why."""
    if threads is not None:
        if threads < 1:
            raise ConfigError(name, f"must be >= 1, got {threads}")
        return threads, name
    omp = _positive_int(os.environ.get("OMP_NUM_THREADS"))
    if omp is not None and "LOCAL_WORLD_SIZE" not in os.environ:
        return omp, f"OMP_NUM_THREADS; override with {name}"
    cores = usable_cores()
    local = _positive_int(os.environ.get("LOCAL_WORLD_SIZE")) or 1
    noun = "process" if local == 1 else "processes"
    return max(1, cores // local), f"{cores} cores / {local} local {noun}; override with {name}"


def apply_threads(threads: int | None = None, name: str = "threads") -> str:
    """Set torch's intra-op (and, once per process, inter-op) threads (`choose_threads`); returns the
    one-line log."""
    import torch

    global _interop_set
    n, why = choose_threads(threads, name)
    torch.set_num_threads(n)
    if not _interop_set:
        _interop_set = True
        try:  # allowed only once, and only before any inter-op parallel work has started
            torch.set_num_interop_threads(n)
        except RuntimeError:
            pass
    return f"threads: {n} ({why})"
