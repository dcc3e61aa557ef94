"""Worker processes: how many, and that they die with their parent.

A worker count comes from user input (`--workers`, `training.num_workers`): 100000 forks until the
machine stops. Every pool is sized by `cap_workers`, at most the cores this process may run on
(with a warning: more processes than cores only queue). `die_with_parent` is every pool's
initialiser, so a parent killed with -9 takes its workers with it instead of leaving orphans.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cap_workers(requested: int, name: str) -> int:
    """`requested` worker processes, at most the usable cores (a warning on stderr names `name`,
    the parameter, when it is lowered). Below 1 is the caller's to refuse."""
    cores = usable_cores()
    if requested > cores:
        print(f"warning: {name}={requested} is more than the {cores} usable core(s); using {cores}",
              file=sys.stderr, flush=True)
        return cores
    return requested


def die_with_parent(*_args) -> None:
    """In a freshly started worker: ask the kernel to kill it when its parent dies (Linux; elsewhere
    a no-op). Accepts and ignores arguments, so it can be chained before another initialiser."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os._exit(1)
