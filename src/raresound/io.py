"""Atomic writes: every file is written to a temp file in the same directory and renamed into
place, so a kill never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

from raresound.errors import BusyError, DataError

LOCK_NAME = ".lock"
# atomic_path's temp names: "." + target name + "." + mkstemp's 8 random characters + ".tmp".
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would (umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextlib.contextmanager
def dir_lock(directory: str | Path, what: str) -> Iterator[None]:
    """Hold `directory/.lock` while `raresound <what>` writes into the directory; a second holder
    is refused with a BusyError naming the owner's pid.

    The lock is an flock, which the kernel drops when its process dies (even by kill -9), so a lock
    file left by a dead process is simply taken over; the pid in it only names the owner. A directory
    this call created is removed again if nothing else was written into it."""
    import fcntl

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory}: exists and is not a directory")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    while True:
        fh = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "unknown"
            fh.close()
            raise BusyError(f"{directory}: another `raresound {what}` (pid {owner}) is writing here; "
                            "wait for it to finish or use another --out") from None
        # The previous owner unlinks the file before unlocking: if it did so between our open() and
        # flock(), we hold an orphaned file and must lock the path's current one instead.
        try:
            if os.path.samestat(os.fstat(fh.fileno()), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        fh.close()
    try:
        fh.truncate(0)
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        fh.close()
        if created:
            with contextlib.suppress(OSError):  # not empty: it holds work
                directory.rmdir()


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Delete the temp files atomic_path leaves when its process is killed mid-write, anywhere
    under `directory`. Only call it while holding the directory's lock: then no writer of ours is
    running there and every such file is a leftover."""
    stale = [p for p in Path(directory).rglob("*.tmp") if p.is_file() and _TEMP_NAME.match(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
