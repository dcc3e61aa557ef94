import os
from pathlib import Path

import numpy as np
import pytest

from raresound.data.manifest import ClipRecord, class_names, label_matrix, read_manifest, write_manifest
from raresound.errors import DataError

HEADER = "path,labels,split,source_id,duration,onset,offset\n"


def test_roundtrip_relative_and_absolute_paths(tmp_path):
    outside = tmp_path / "elsewhere" / "x.wav"
    records = [
        ClipRecord(str(tmp_path / "ds" / "audio" / "a.wav"), ("dog",), "train", "s1", 10.0, 1.0625, 2.5),
        ClipRecord(str(tmp_path / "ds" / "b.wav"), (), "val", "s2", 10.0),
        ClipRecord(str(outside), ("baby", "dog"), "test", "s3", None, 0.1 + 0.2, 3.0),
    ]
    path = tmp_path / "ds" / "manifest.csv"
    write_manifest(records, path)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER.strip()
    assert lines[1].startswith("audio/a.wav,dog,train,s1,10.0,1.0625,2.5")
    assert lines[2] == "b.wav,,val,s2,10.0,,"
    assert lines[3].startswith(str(outside) + ",baby;dog,test,s3,,")
    assert read_manifest(path) == records  # floats (0.1+0.2) survive exactly


def test_relative_paths_resolve_against_manifest_dir_not_cwd(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.csv").write_text(HEADER + "sub/c.wav,gunshot,train,r,,,\n")
    monkeypatch.chdir(tmp_path)
    (rec,) = read_manifest("m/manifest.csv")
    assert rec.path == os.path.normpath(tmp_path / "m" / "sub" / "c.wav")
    assert rec.labels == ("gunshot",) and rec.duration is None and rec.onset is None


def test_optional_time_columns_may_be_absent(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("path,labels,split,source_id\na.wav,,test,x\n")
    assert read_manifest(p)[0] == ClipRecord(str(tmp_path / "a.wav"), (), "test", "x")


@pytest.mark.parametrize(
    "body, message",
    [
        ("path,labels,split\na.wav,,train\n", "missing column(s) source_id"),
        (HEADER + "a.wav,,train,s,ten,,\n", ":2: column 'duration' is not a number"),
        (HEADER + "a.wav,,train,s,10,1,\nb.wav,,train,s,10,-1,2\n", ":2: 'onset' and 'offset' must both"),
        (HEADER + "a.wav,,train,s,10,,\nb.wav,,train,s,10,-1,2\n", ":3: column 'onset' must be a finite"),
        (HEADER + "a.wav,,train,s,10,,\nb.wav,,train,s,nan,,\n", ":3: column 'duration' must be a finite"),
        (HEADER + "a.wav,,training,s,10,,\n", ":2: unknown split 'training'"),
        (HEADER + "a.wav,,train,s,10,3,2\n", ":2: 'offset' 2.0 is before 'onset' 3.0"),
        (HEADER + "a.wav,,train,,10,,\n", ":2: empty 'source_id'"),
        (HEADER + "a.wav,,train,s,10,,,extra\n", ":2: more cells than header"),
        # leakage: a clip listed twice, one audio file in two splits (./a.wav is a.wav)
        (HEADER + "a.wav,dog,train,s,,,\nb.wav,,train,t,,,\na.wav,dog,train,s,,,\n", ":4: duplicate row for"),
        (HEADER + "a.wav,dog,train,s,,,\n./a.wav,dog,test,s,,,\n", "a.wav is in split 'test' and in 'train'"),
        (HEADER + "a.wav,dog,train,s,10,1,2\na.wav,dog,val,s,10,5,6\n", "a.wav is in split 'val' and in 'train'"),
    ],
)
def test_bad_rows_raise_dataerror_naming_file_and_line(tmp_path, body, message):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(DataError) as info:
        read_manifest(p)
    assert str(p) in str(info.value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_manifest_is_dataerror(tmp_path):
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "nope.csv")


def test_write_rejects_bad_records_and_leaves_no_file(tmp_path):
    p = tmp_path / "m.csv"
    with pytest.raises(DataError, match="unknown split 'dev'"):
        write_manifest([ClipRecord("a.wav", (), "dev", "s")], p)
    with pytest.raises(DataError, match="bad label"):
        write_manifest([ClipRecord("a.wav", ("dog;baby",), "train", "s")], p)
    assert not p.exists() and list(tmp_path.iterdir()) == []


def test_class_names_and_label_matrix():
    recs = [
        ClipRecord("a", ("dog",), "train", "1"),
        ClipRecord("b", (), "train", "2"),
        ClipRecord("c", ("gunshot", "baby"), "train", "3"),
    ]
    classes = class_names(recs)
    assert classes == ["baby", "dog", "gunshot"]
    y = label_matrix(recs, classes)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0, 1, 0], [0, 0, 0], [1, 0, 1]])
    with pytest.raises(DataError, match="'gunshot' is not one of the classes"):
        label_matrix(recs, ["baby", "dog"])
    assert label_matrix([], classes).shape == (0, 3)


def test_writer_refuses_one_file_in_two_splits(tmp_path):
    with pytest.raises(DataError, match="a.wav is in split 'test' and in 'train'"):
        write_manifest([ClipRecord("a.wav", ("dog",), "train", "s"), ClipRecord("a.wav", ("dog",), "test", "s")],
                       tmp_path / "w.csv")


def test_segments_of_one_recording_in_one_split_are_distinct_clips(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(HEADER + "a.wav,dog,train,s,10,1,2\na.wav,dog,train,s,10,5,6\n")
    assert len(read_manifest(p)) == 2
