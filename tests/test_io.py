"""Atomic writes: all-or-nothing, ordinary permissions, no temp files left behind."""

import os

import pytest

from raresound.io import atomic_path, read_json, write_json, write_text


def test_write_then_read_round_trip(tmp_path):
    write_json(tmp_path / "a" / "x.json", {"b": [1, 2]})
    assert read_json(tmp_path / "a" / "x.json") == {"b": [1, 2]}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"]


def test_failed_write_leaves_old_content_and_no_temp_file(tmp_path):
    target = tmp_path / "t.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_files_get_umask_permissions_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "p.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o644


def test_dash_writes_to_stdout(capsys):
    write_text("-", "a,b\n")
    assert capsys.readouterr().out == "a,b\n"


def test_special_files_are_written_into_never_replaced(tmp_path):
    import stat
    import threading

    write_text("/dev/null", "discarded")  # a device: written into, not replaced by a regular file
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_text(fifo, "through the pipe\n")
    reader.join(10)
    assert got == ["through the pipe\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_symlink_is_replaced_never_written_through(tmp_path):
    # issue 24: a link planted at an output name must not carry the write elsewhere
    target = tmp_path / "shared" / "scores.csv"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_text(link, "new")
    assert not link.is_symlink() and link.read_text() == "new" and target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["scores.csv"]  # no temp file left
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "shared" / "created.csv")
    write_text(dangling, "x")
    assert not dangling.is_symlink() and dangling.read_text() == "x"
    assert not (tmp_path / "shared" / "created.csv").exists()


def test_confined_refuses_paths_outside_the_root(tmp_path):
    from raresound.errors import DataError
    from raresound.io import confined

    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    assert confined("sub/a.json", root) == (root / "sub" / "a.json").resolve()
    assert confined(root / "b", root) == (root / "b").resolve()
    (root / "out").symlink_to(tmp_path)
    for bad in ("../x", "/etc/passwd", "sub/../../x", "out/x"):
        with pytest.raises(DataError, match="lies outside"):
            confined(bad, root)


def test_unwritable_outputs_are_one_line_errors(tmp_path, monkeypatch):
    import errno

    from raresound.errors import OutputError

    (tmp_path / "file").write_text("x")
    for bad, reason in [(tmp_path, "is a directory"), (tmp_path / "file" / "out.csv", "Not a directory")]:
        with pytest.raises(OutputError, match=reason) as info:
            write_text(bad, "x")
        assert str(bad) in str(info.value) and "\n" not in str(info.value)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    write_text(tmp_path / "kept.txt", "old")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=r"kept.txt: cannot write \(No space left on device\)"):
        write_text(tmp_path / "kept.txt", "new")
    assert (tmp_path / "kept.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "kept.txt"]


def test_json_safe_makes_nan_numpy_and_paths_plain():
    import json
    from pathlib import Path

    import numpy as np

    from raresound.io import json_safe

    obj = {"er": float("nan"), "n": np.int64(3), "f": np.float32(0.5), "p": Path("/a/b"), "t": (1, np.nan)}
    out = json_safe(obj)
    assert out == {"er": None, "n": 3, "f": 0.5, "p": "/a/b", "t": [1, None]}
    assert type(out["n"]) is int and json.loads(json.dumps(out, allow_nan=False)) == out
