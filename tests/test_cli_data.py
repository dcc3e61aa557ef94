from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from raresound.cli import main
from raresound.commands.info import format_summary
from raresound.data.manifest import ClipRecord, read_manifest

SR = 16000


@pytest.mark.parametrize("argv", [["data"], ["data", "synth"], ["data", "mix"], ["data", "import"],
                                  ["data", "ratio"], ["info"]])
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    assert "usage: raresound" in capsys.readouterr().out


def test_synth_ratio_info_roundtrip(tmp_path, capsys):
    out = tmp_path / "syn"
    # 75 clips: the fewest at 6:1:2:16 with a baby clip in each split (fewer is refused, test_checks.py)
    assert main(["data", "synth", "--out", str(out), "--n-clips", "75", "--seed", "3", "--ebr-db-range", "-10", "0",
                 "--workers", "1"]) == 0
    recs = read_manifest(out / "manifest.csv")
    assert Counter(r.labels for r in recs) == {("dog",): 18, ("baby",): 3, ("gunshot",): 6, (): 48}
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "ratio dog=6 baby=1 gunshot=2 background=16 over 75 clips"
    assert printed[1].split()[:4] == ["split", "dog", "baby", "gunshot"]  # the user's order, not alphabetical
    assert "ratio all:   dog=6 baby=1 gunshot=2 background=16" in printed
    assert printed[-1].startswith("written:")
    # a positional ratio without its class order is refused: the manifest's own order would be a guess
    assert main(["data", "ratio", str(out / "manifest.csv"), "--ratio", "1:0:0:1", "--out", str(tmp_path / "r.csv")]) == 2
    assert "name them, e.g. dog=1,baby=0,gunshot=0,background=1" in capsys.readouterr().err
    assert main(["data", "ratio", str(out / "manifest.csv"), "--ratio", "dog=1,background=1", "--out",
                 str(tmp_path / "r.csv")]) == 2
    assert "missing baby, gunshot; the manifest's classes are baby, dog, gunshot, background" in capsys.readouterr().err
    assert main(["data", "ratio", str(out / "manifest.csv"), "--ratio", "dog=1,baby=0,gunshot=0,background=1", "--out",
                 str(tmp_path / "r.csv")]) == 0
    assert capsys.readouterr().out.startswith("ratio dog=1 baby=0 gunshot=0 background=1\n")
    sub = read_manifest(tmp_path / "r.csv")
    for split in ("train", "val"):
        c = Counter(r.labels for r in sub if r.split == split)
        assert set(c) <= {("dog",), ()} and c[("dog",)] == c[()] > 0
    assert [r for r in sub if r.split == "test"] == [r for r in recs if r.split == "test"]
    capsys.readouterr()
    assert main(["info", str(tmp_path / "r.csv")]) == 0
    table = capsys.readouterr().out
    assert "split" in table and "hours" in table and "train" in table


def test_format_summary_known_table():
    recs = [ClipRecord(f"/{i}", ("dog",), "train", f"s{i}", 10.0) for i in range(6)]
    recs += [ClipRecord(f"/b{i}", (), "train", "bg", 10.0) for i in range(12)]
    recs += [ClipRecord("/t", ("dog",), "test", "t", 3600.0)]
    lines = format_summary(recs).splitlines()
    assert lines[0].split() == ["split", "dog", "background", "clips", "hours", "sources"]
    assert lines[2].split() == ["train", "6", "12", "18", "0.05", "7"]
    assert lines[3].split() == ["test", "1", "0", "1", "1.00", "1"]
    assert lines[4].split() == ["all", "7", "12", "19", "1.05", "8"]
    assert lines[5:] == ["ratio train: dog=1 background=2", "ratio test:  dog=1 background=0",
                         "ratio all:   dog=1 background=1.71"]


def test_info_orders_classes_as_asked_with_background_last():
    recs = [ClipRecord(f"/{c}{i}", (c,) if c else (), "train", f"s{c}{i}", 1.0)
            for c, n in [("", 26), ("gunshot", 1), ("dog", 2), ("baby", 2)] for i in range(n)]
    default = format_summary(recs).splitlines()
    assert default[0].split()[1:5] == ["gunshot", "dog", "baby", "background"]  # first appearance
    asked = format_summary(recs, ["dog", "baby"]).splitlines()
    assert asked[0].split()[1:5] == ["dog", "baby", "gunshot", "background"]
    assert asked[-1] == "ratio train: dog=2 baby=2 gunshot=1 background=26"


def test_import_then_mix_via_cli(tmp_path, capsys):
    root = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for i in range(6):
        (root / "dog").mkdir(parents=True, exist_ok=True)
        x = np.zeros(2 * SR)
        x[SR // 2: SR] = 0.5 * np.sin(2 * np.pi * 500 * np.arange(SR // 2) / SR)
        sf.write(str(root / "dog" / f"d{i}.wav"), x, SR, subtype="PCM_16")
    for i in range(6):
        (root / "background").mkdir(exist_ok=True)
        sf.write(str(root / "background" / f"b{i}.wav"), 0.05 * rng.standard_normal(5 * SR), SR, subtype="PCM_16")
    (root / "background" / "bad.wav").write_bytes(b"junk")
    manifest = tmp_path / "imported.csv"
    assert main(["data", "import", "folder", str(root), "--out", str(manifest)]) == 0
    skipped = (tmp_path / "imported.skipped.csv").read_text().splitlines()
    assert len(skipped) == 2 and skipped[1].split(",")[0].endswith("background/bad.wav")
    assert main(["data", "mix", "--events", str(manifest), "--out", str(tmp_path / "mix"),
                 "--counts", "dog=6,background=3", "--workers", "1"]) == 0
    recs = read_manifest(tmp_path / "mix" / "manifest.csv")
    assert Counter(r.labels for r in recs) == {("dog",): 6, (): 3}
    for r in recs:
        if r.labels:
            assert abs(r.offset - r.onset - 0.5) < 0.02


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["data", "ratio", str(tmp_path / "none.csv"), "--ratio", "1:1", "--classes", "dog,background",
                 "--out", str(tmp_path / "o.csv")]) == 2
    assert "none.csv: manifest not found" in capsys.readouterr().err
    assert main(["data", "synth", "--out", str(tmp_path), "--ratio", "6:1:2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("raresound: error: config field 'ratio'") and err.count("\n") == 1
    assert main(["data", "import", "esc50", str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 2
    assert "not an ESC-50 directory" in capsys.readouterr().err
    assert main(["data", "mix", "--events", str(tmp_path / "m.csv"), "--out", str(tmp_path / "x"),
                 "--counts", "dog=lots"]) == 2
