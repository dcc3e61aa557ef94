"""Atomic writes: every file is written to a temp file in the same directory and renamed into
place, so a kill never leaves a half-written file behind.

Special targets are never replaced: `-` means standard output, and a path that exists but is not a
regular file (a device such as /dev/null, a FIFO, a socket) or that leads through /dev or /proc
(/dev/stdout, /dev/fd/3, even when they resolve to a regular file) is written straight into.
A symlink to a regular file (or a dangling one) is replaced by the new file, never written through:
a link planted in an output directory (a bundle shipped with `model.onnx.json -> ~/.bashrc`) must
not turn a write there into a write elsewhere. Paths built from input fields (labels, bundle and
checkpoint fields) go through `confined` first.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from raresound.errors import BusyError, DataError, OutputError

LOCK_NAME = ".lock"
# atomic_path's temp names: "." + target name + "." + mkstemp's 8 random characters + ".tmp".
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
STDOUT = "-"


def _target(path: Path) -> tuple[Path, bool]:
    """(the path to write, whether to write it through a temp file and rename)."""
    try:
        mode = os.stat(path).st_mode  # follows symlinks: judge what the data would land in
    except FileNotFoundError:  # new file, or a dangling symlink: the rename replaces the link
        return path, True
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc)) from None
    if stat.S_ISDIR(mode):
        raise OutputError(path, "is a directory; give a file name")
    if not stat.S_ISREG(mode) or _names_an_open_file(path):
        return path, False
    return path, True  # os.replace renames onto the link itself, never onto its target


def confined(path: str | Path, root: str | Path, what: str = "path") -> Path:
    """`path` (relative paths are taken relative to `root`) resolved, symlinks included; a DataError
    when it does not lie inside `root`. For every path whose parts come from an input field (a label,
    a bundle's list of exports, a checkpoint's weights name) before anything is read or written."""
    root = Path(root).resolve()
    path = Path(path)
    resolved = (path if path.is_absolute() else root / path).resolve()
    if resolved != root and root not in resolved.parents:
        raise DataError(f"{what} {str(path)!r} lies outside {root}; refusing to use it")
    return resolved


def _names_an_open_file(path: Path) -> bool:
    """Whether `path` or a link on its way is under /dev or /proc (/dev/stdout -> /proc/self/fd/1):
    it stands for a file this process already has open, e.g. stdout redirected to a regular file;
    replacing that file by a rename would cut off everything else written to it."""
    for _ in range(40):  # the kernel's own limit on symlink hops
        if str(path.absolute()).startswith(("/dev/", "/proc/")):
            return True
        if not path.is_symlink():
            return False
        path = path.parent / os.readlink(path)  # an absolute link target replaces the parent
    return False


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a path to write; on success it is fsynced and renamed onto `path` (module doc for `-`,
    devices, FIFOs and symlinks). OS errors (permission, disk full, ...) become one-line OutputErrors."""
    path, atomic = (Path("/dev/stdout"), False) if str(path) == STDOUT else _target(Path(path))
    if not atomic:
        with _appended_to(path) as tmp:
            yield tmp
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc)) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files, and some writers (safetensors) replace the temp file with a new
        # 0600 one: give the result the permissions a plain open() would (umask), just before the rename.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except OutputError:
        raise
    except OSError as exc:  # e.g. ENOSPC while writing: the old file (if any) is untouched
        raise OutputError(path, exc.strerror or str(exc)) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def _appended_to(path: Path) -> Iterator[Path]:
    """Yield a private temp path; its bytes are then appended to `path`. Appending, not truncating:
    /dev/stdout opened for writing truncates a stdout redirected to a file, losing what this process
    already printed there."""
    with tempfile.TemporaryDirectory(prefix="raresound-") as folder:
        tmp = Path(folder) / path.name
        yield tmp
        sys.stdout.flush()  # keep the order of what print() has buffered and what is written here
        try:
            with open(tmp, "rb") as src, open(path, "ab") as dst:
                shutil.copyfileobj(src, dst)
        except OSError as exc:
            raise OutputError(path, exc.strerror or str(exc)) from None


def check_not_input(output: str | Path | None, inputs: Iterable[str | Path], name: str) -> None:
    """An OutputError when the output `name` (a file or a directory) is one of `inputs` (the same
    path after resolving links, or a hard link to it): writing it would destroy what is being read
    (`detect x.flac --out x.flac` replaced the audio by an event list). `-` and None pass."""
    if output is None or str(output) == STDOUT:
        return
    out = Path(output).resolve()
    for item in inputs:
        source = Path(item).resolve()
        try:
            same = os.path.samefile(out, source)
        except OSError:  # one of them does not exist (yet)
            same = False
        if same or source == out:
            raise OutputError(output, f"{name} is the input {item}; writing it would destroy that input")


def read_text_input(path: str | Path, noun: str, encoding: str = "utf-8") -> str:
    """The text of an input file; unreadable or non-UTF-8 input is a one-line DataError naming the
    file and what it was read as (`noun`, e.g. "event list")."""
    try:
        return Path(path).read_text(encoding=encoding)
    except OSError as exc:
        raise DataError(f"{path}: cannot read {noun} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        article = "an" if noun[:1].lower() in "aeiou" else "a"
        raise DataError(f"{path}: not UTF-8 text, so not {article} {noun}") from None


def write_text(path: str | Path, text: str) -> None:
    if str(path) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """CSV text: a header line then one line per row ("\n" line ends, csv quoting)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """The project's one CSV writer (atomic, like every write here): manifests, store reports,
    import side files."""
    write_text(path, csv_text(header, rows))


def json_safe(obj: Any) -> Any:
    """`obj` with what JSON cannot hold made plain: NaN (an undefined ratio) -> null, numpy scalars
    -> numbers, paths -> strings, tuples -> lists; dicts and lists recursively."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:  # numpy scalar
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


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
    this call created is removed again if nothing else was written into it. The file holds the
    owner's pid and command (`<pid> <what>`), so a refusal names what holds the directory.

    POSIX only (Linux, macOS: fcntl.flock); elsewhere an OutputError says so."""
    directory = Path(directory)
    fcntl = _fcntl(directory)
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
            pid, _, holder = fh.read().strip().partition(" ")
            fh.close()
            raise BusyError(f"{directory}: another `raresound {holder or what}` (pid {pid or 'unknown'}) is writing "
                            "here; wait for it to finish or use another directory") from None
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
        fh.write(f"{os.getpid()} {what}\n")
        fh.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        fh.close()
        if created:
            with contextlib.suppress(OSError):  # not empty: it holds work
                directory.rmdir()


def _fcntl(directory: Path):
    """The fcntl module, or an OutputError on a platform without it (Windows): the project's locks
    are flocks, which the kernel drops with their process, and no other lock is implemented."""
    try:
        import fcntl
    except ImportError:
        raise OutputError(directory, f"cannot lock it: raresound's directory locks need POSIX flock (Linux, "
                                     f"macOS), which {sys.platform} lacks") from None
    return fcntl


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Delete the temp files atomic_path leaves when its process is killed mid-write, anywhere
    under `directory`. Only call it while holding the directory's lock: then no writer of ours is
    running there and every such file is a leftover."""
    stale = [p for p in Path(directory).rglob("*.tmp") if p.is_file() and _TEMP_NAME.match(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
