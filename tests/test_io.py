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
