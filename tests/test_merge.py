"""`raresound data merge`: labels unified, clips re-split by source recording across data sets, bad
inputs refused in one line naming the file; `raresound info` shows sources per class and split. The
last test imports the real ../shared/data (skipped with a message where it is absent)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from raresound.cli import main
from raresound.data.manifest import ClipRecord, read_manifest, write_manifest
from raresound.data.merge import freesound_source, merge_manifests, recordings_in_several_splits
from raresound.data.summary import format_sources
from raresound.errors import DataError

DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write(path: Path, rows) -> Path:
    """A manifest of (clip name, label or "", source_id, split) rows; merge never reads the audio."""
    records = [ClipRecord(str(path.parent / name), (label,) if label else (), split, source, 5.0)
               for name, label, source, split in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(records, path)
    return path


def esc50_like(root: Path, rows) -> Path:
    """An ESC-50 import of `root`: (clip, label, src_file) rows, all in train (merge re-splits)."""
    return write(root / "m.csv", [(f"audio/{c}", label, f"esc50-{src}", "train") for c, label, src in rows])


def us8k_like(root: Path, rows) -> Path:
    return write(root / "m.csv", [(f"audio/{c}", label, f"us8k-{fs}", "test") for c, label, fs in rows])


def splits_of(records) -> dict[str, set[str]]:
    out = defaultdict(set)
    for r in records:
        out[r.source_id].add(r.split)
    return out


def test_labels_are_unified_across_data_sets(tmp_path):
    raw = esc50_like(tmp_path / "a", [("1.wav", "crying_baby", "1"), ("2.wav", "dog", "2"), ("3.wav", "", "3")])
    named = us8k_like(tmp_path / "b", [("4.wav", "dog_bark", "4"), ("5.wav", "gun_shot", "5"), ("6.wav", "dog", "6")])
    records = merge_manifests([raw, named])
    assert Counter(r.labels for r in records) == {("dog",): 3, ("baby",): 1, ("gunshot",): 1, (): 1}
    # --label-map applies on top of the built-in unification; --exclude drops a class entirely.
    mapped = merge_manifests([raw, named], label_map={"baby": "infant"}, exclude=["gunshot"])
    assert Counter(r.labels for r in mapped) == {("dog",): 3, ("infant",): 1, (): 1}
    own = merge_manifests([raw, named], label_map={"dog_bark": "bark"})  # a name mapped by the caller is theirs
    assert Counter(r.labels for r in own)[("bark",)] == 1


def test_resplit_puts_each_recording_in_one_split_across_data_sets(tmp_path):
    # Each input was split on its own: the same recordings sit in different splits in the two.
    a = write(tmp_path / "a/m.csv", [(f"a{i}-{k}.wav", "dog" if i < 20 else "", f"esc50-{i}", "train")
                                     for i in range(40) for k in range(2)])
    b = write(tmp_path / "b/m.csv", [(f"b{i}-{k}.wav", "gunshot" if i < 20 else "", f"us8k-{i}", "test")
                                     for i in range(40) for k in range(3)])
    records = merge_manifests([a, b], fractions=(0.6, 0.2, 0.2), seed=3)
    assert len(records) == 40 * 2 + 40 * 3
    assert recordings_in_several_splits(records) == {}
    assert all(len(s) == 1 for s in splits_of(records).values())  # no source_id in two splits
    # Stratified by class: every class reaches every split, near the asked fractions of its clips.
    for cls in (("dog",), ("gunshot",), ()):
        counts = Counter(r.split for r in records if r.labels == cls)
        total = sum(counts.values())
        assert set(counts) == {"train", "val", "test"}
        assert abs(counts["train"] / total - 0.6) < 0.15 and abs(counts["test"] / total - 0.2) < 0.15


def test_one_recording_from_two_roots_or_two_data_sets_is_one_source(tmp_path):
    subset = esc50_like(tmp_path / "esc50-subset", [(f"1-100-{k}.wav", "dog", "100") for k in "AB"]
                        + [(f"1-{s}-A.wav", "dog", str(s)) for s in range(200, 212)])
    more = esc50_like(tmp_path / "esc50-more", [("1-100-C.wav", "dog", "100")]
                      + [(f"2-{s}-A.wav", "crying_baby", str(s)) for s in range(300, 312)])
    # UrbanSound8K cut recording 100 too: its fsID is the same Freesound id as ESC-50's src_file.
    us8k = us8k_like(tmp_path / "us8k", [(f"100-{k}.wav", "dog_bark", "100") for k in range(4)]
                     + [(f"{s}-0.wav", "gun_shot", str(s)) for s in range(400, 412)])
    for seed in range(5):
        records = merge_manifests([subset, more, us8k], seed=seed)
        shared = [r for r in records if "-100-" in Path(r.path).name or Path(r.path).name.startswith("100-")]
        assert len(shared) == 7 and {r.source_id for r in shared} == {"freesound-100"}
        assert len({r.split for r in shared}) == 1
        assert recordings_in_several_splits(records) == {}
    assert freesound_source("esc50-100") == freesound_source("us8k-100") == "freesound-100"
    assert freesound_source("audioset-abc") == "audioset-abc"  # other data sets keep their own prefix


def test_a_clip_listed_twice_is_kept_once(tmp_path):
    rows = [(f"{i}.wav", "dog", str(i)) for i in range(6)]
    records = merge_manifests([esc50_like(tmp_path / "a", rows), write(tmp_path / "a/again.csv", [
        (f"audio/{c}", label, f"esc50-{s}", "val") for c, label, s in rows])])
    assert len(records) == 6


def test_missing_manifest_is_one_line_naming_it(tmp_path, capsys):
    good = esc50_like(tmp_path / "a", [("1.wav", "dog", "1")])
    assert main(["data", "merge", str(good), str(tmp_path / "nowhere.csv"), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere.csv: manifest not found" in err
    assert not (tmp_path / "o.csv").exists()


def test_conflicting_labels_for_one_clip_name_both_manifests(tmp_path, capsys):
    dog = write(tmp_path / "d/dog.csv", [("x.wav", "dog", "esc50-1", "train")])
    baby = write(tmp_path / "d/baby.csv", [("x.wav", "crying_baby", "esc50-1", "train")])
    with pytest.raises(DataError, match=r"x\.wav: labelled 'dog' in .*dog\.csv but 'baby' in .*baby\.csv"):
        merge_manifests([dog, baby])
    # A label the unification maps onto the same name is no conflict.
    bark = write(tmp_path / "d/bark.csv", [("x.wav", "dog_bark", "esc50-1", "val")])
    assert [r.labels for r in merge_manifests([dog, bark])] == [("dog",)]
    other = write(tmp_path / "d/other.csv", [("x.wav", "dog", "esc50-2", "train")])
    assert main(["data", "merge", str(dog), str(other), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "from recording 'freesound-1' in" in err and "other.csv" in err


def test_empty_manifest_is_one_line_naming_it(tmp_path, capsys):
    good = esc50_like(tmp_path / "a", [("1.wav", "dog", "1")])
    empty = tmp_path / "empty.csv"
    empty.write_text("path,labels,split,source_id,duration,onset,offset\n")
    assert main(["data", "merge", str(good), str(empty), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{empty}: empty manifest" in err
    with pytest.raises(DataError, match="no clips left to merge after excluding dog"):
        merge_manifests([good], exclude=["dog"])


def test_merge_cli_writes_the_manifest_and_info_shows_sources_per_class(tmp_path, capsys):
    a = esc50_like(tmp_path / "a", [(f"{i}-{k}.wav", "dog" if i < 10 else "", str(i)) for i in range(30) for k in "AB"])
    b = us8k_like(tmp_path / "b", [(f"{i}-{k}.wav", "gun_shot", str(100 + i)) for i in range(10) for k in "ABC"])
    out = tmp_path / "merged" / "all.csv"
    out.parent.mkdir()
    assert main(["data", "merge", str(a), str(b), "--out", str(out), "--seed", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"written: {out} (90 clips from 2 manifests)"
    records = read_manifest(out)
    assert len(records) == 90 and recordings_in_several_splits(records) == {}
    assert main(["info", str(out), "--classes", "dog,gunshot"]) == 0
    printed = capsys.readouterr().out.splitlines()
    table = printed[printed.index(next(line for line in printed if line.startswith("sources"))):]
    assert table[0].split() == ["sources", "dog", "gunshot", "background", "all"]
    assert table[-1].split() == ["all", "10", "10", "20", "40"]
    per_split = {row.split()[0]: list(map(int, row.split()[1:])) for row in table[2:-1]}
    assert set(per_split) == {"train", "val", "test"}
    assert [sum(col) for col in zip(*per_split.values())] == [10, 10, 20, 40]  # each recording in one split


def test_format_sources_counts_distinct_recordings_per_class_and_split():
    recs = [ClipRecord(f"/d{i}", ("dog",), "train", f"s{i // 3}") for i in range(6)]   # 6 clips, 2 recordings
    recs += [ClipRecord("/mixed", ("dog", "baby"), "test", "s9"), ClipRecord("/bg", (), "test", "s9")]
    lines = format_sources(recs).splitlines()
    assert [line.split() for line in lines if not line.startswith("-")] == [
        ["sources", "dog", "baby", "background", "all"],
        ["train", "2", "0", "0", "2"],
        ["test", "1", "1", "1", "1"],
        ["all", "3", "1", "1", "3"]]


def test_real_data_merge_keeps_every_recording_in_one_split(tmp_path, capsys):
    roots = {name: DATA_ROOT / name for name in ("esc50-subset", "esc50-more", "urbansound8k-subset")}
    missing = [name for name, root in roots.items() if not root.is_dir()]
    if missing:
        pytest.skip(f"real audio not found under {DATA_ROOT} ({', '.join(missing)})")
    manifests = []
    for name, source in (("esc50-subset", "esc50"), ("esc50-more", "esc50"), ("urbansound8k-subset", "urbansound8k")):
        manifests.append(tmp_path / f"{name}.csv")
        extra = ["--other", "exclude"] if source == "urbansound8k" else []  # its other classes are not ESC-50's
        assert main(["data", "import", source, str(roots[name]), "--out", str(manifests[-1]), *extra]) == 0
    out = tmp_path / "merged.csv"
    assert main(["data", "merge", *map(str, manifests), "--exclude", "glass", "--out", str(out)]) == 0
    records = read_manifest(out)
    assert recordings_in_several_splits(records) == {}
    clips = Counter(r.labels[0] if r.labels else "background" for r in records)
    assert clips["dog"] > 0 and clips["baby"] > 0 and clips["gunshot"] > 0 and clips["background"] > 0
    assert "glass" not in clips
    # The 5 Freesound dog recordings cut by both ESC-50 and UrbanSound8K are one source each.
    dog_sources = {r.source_id for r in records if r.labels == ("dog",)}
    assert len(dog_sources) == 26 + 119 - 5
    capsys.readouterr()


def test_merge_has_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "merge", "--help"])
    assert info.value.code == 0 and "freesound-<id>" in capsys.readouterr().out
