from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from raresound.data.sources import events_and_backgrounds, get_importer
from raresound.data.sources.audioset import import_audioset
from raresound.data.sources.dcase2017 import import_dcase2017
from raresound.data.sources.esc50 import import_esc50
from raresound.data.sources.folder import import_folder
from raresound.data.sources.urbansound8k import import_urbansound8k
from raresound.errors import ConfigError, DataError

SR = 16000
ESC50_SUBSET = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "esc50-subset"


def _wav(path, seconds=0.5, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR)), SR, subtype="PCM_16")


def _one_split_per_source(records):
    seen = defaultdict(set)
    for r in records:
        seen[r.source_id].add(r.split)
    return all(len(s) == 1 for s in seen.values())


def _esc50_fixture(root, meta_rel):
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    cats = ["dog"] * 6 + ["crying_baby"] * 4 + ["rain"] * 6 + ["glass_breaking"] * 3
    for i, cat in enumerate(cats):
        name = f"{i % 5 + 1}-{100 + i // 2}-{'AB'[i % 2]}-0.wav"  # two takes per src_file
        rows.append(f"{name},{i % 5 + 1},0,{cat},False,{100 + i // 2},{'AB'[i % 2]}")
        if i != 3:  # one listed clip is missing on disk
            _wav(root / "audio" / name, 5.0, i)
    (root / meta_rel).parent.mkdir(parents=True, exist_ok=True)
    (root / meta_rel).write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("meta_rel", ["meta/esc50.csv", "esc50_subset.csv"])
def test_esc50_both_layouts(tmp_path, meta_rel):
    _esc50_fixture(tmp_path, meta_rel)
    res = import_esc50(tmp_path, seed=1)
    assert [Path(p).name for p, _ in res.skipped] == ["4-101-B-0.wav"]
    assert Counter(r.labels for r in res.records) == {("dog",): 5, ("baby",): 4, (): 6, ("glass",): 3}
    assert all(r.duration == 5.0 and r.source_id.startswith("esc50-1") for r in res.records)
    assert _one_split_per_source(res.records)
    assert res.metadata[res.records[0].path]["fold"] in {"1", "2", "3", "4", "5"}
    excl = import_esc50(tmp_path, other="exclude", label_map="dog=dog")
    assert {r.labels for r in excl.records} == {("dog",)}


def test_esc50_errors(tmp_path):
    with pytest.raises(DataError, match="not an ESC-50 directory"):
        import_esc50(tmp_path)
    (tmp_path / "esc50_subset.csv").write_text("filename,fold,category\na.wav,1,dog\n")
    with pytest.raises(DataError, match="esc50_subset.csv: missing column"):
        import_esc50(tmp_path)
    with pytest.raises(ConfigError, match="label_map"):
        import_esc50(tmp_path, label_map="dog")


def test_esc50_real_subset():
    if not (ESC50_SUBSET / "esc50_subset.csv").is_file():
        pytest.skip(f"real ESC-50 subset not found at {ESC50_SUBSET}")
    res = import_esc50(ESC50_SUBSET, seed=0)
    assert res.skipped == []
    counts = Counter(r.labels for r in res.records)
    assert counts[("dog",)] == 8 and counts[("baby",)] == 10 and counts[("glass",)] == 8
    assert len(res.records) == 414 and _one_split_per_source(res.records)
    baby = [r for r in res.records if r.labels == ("baby",)]
    assert len({r.source_id for r in baby}) == 5  # 10 crying_baby clips from 5 recordings
    assert {r.split for r in res.records if r.labels == ("dog",)} == {"train", "val", "test"}
    events, backgrounds = events_and_backgrounds(res.records)
    assert len(events) == 26 and len(backgrounds) == 388


def test_urbansound8k(tmp_path):
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for i, cls in enumerate(["dog_bark"] * 4 + ["gun_shot"] * 3 + ["street_music"] * 4):
        name = f"{200 + i // 2}-{cls}-{i}.wav"
        rows.append(f"{name},{200 + i // 2},0,1,1,{i % 3 + 1},0,{cls}")
        _wav(tmp_path / "audio" / f"fold{i % 3 + 1}" / name, 1.0, i)
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "UrbanSound8K.csv").write_text("\n".join(rows) + "\n")
    res = import_urbansound8k(tmp_path)
    assert Counter(r.labels for r in res.records) == {("dog",): 4, ("gunshot",): 3, (): 4}
    assert {r.source_id for r in res.records if r.labels == ("dog",)} == {"us8k-200", "us8k-201"}
    assert _one_split_per_source(res.records) and res.skipped == []
    (tmp_path / "metadata" / "UrbanSound8K.csv").write_text(rows[0] + "\nx.wav,1,0,1,1,one,0,dog_bark\n")
    with pytest.raises(DataError, match="UrbanSound8K.csv:2: .*non-integer fold"):
        import_urbansound8k(tmp_path)


def test_audioset(tmp_path):
    csv_text = """# Segments csv created Sun Mar  5 10:54:25 2017
# num_ytids=5, num_segs=5, num_unique_labels=527, num_positive_labels=9
# YTID, start_seconds, end_seconds, positive_labels
aaaaaaaaaaa, 30.000, 40.000, "/m/05tny_,/m/0bt9lr"
bbbbbbbbbbb, 0.000, 10.000, "/t/dd00002"
ccccccccccc, 12.500, 22.500, "/m/032s66,/m/05tny_"
ddddddddddd, 5.000, 15.000, "/m/04rlf"
eeeeeeeeeee, 0.000, 10.000, "/m/032s66"
"""
    (tmp_path / "balanced_train_segments.csv").write_text(csv_text)
    _wav(tmp_path / "clips" / "aaaaaaaaaaa_30.wav", 1.0)  # integer start
    _wav(tmp_path / "clips" / "bbbbbbbbbbb.flac", 1.0)  # bare YTID
    _wav(tmp_path / "ccccccccccc_12.500.wav", 1.0)  # start as written
    _wav(tmp_path / "ddddddddddd_5.0_15.0.wav", 1.0)  # start_end with one decimal
    res = import_audioset(tmp_path)
    labels = {r.source_id: r.labels for r in res.records}
    assert labels == {"audioset-aaaaaaaaaaa": ("dog",), "audioset-bbbbbbbbbbb": ("baby",),
                      "audioset-ccccccccccc": ("dog", "gunshot"), "audioset-ddddddddddd": ()}
    assert res.skipped == [("eeeeeeeeeee_0.000", "clip not downloaded (no matching file)")]
    (tmp_path / "balanced_train_segments.csv").write_text("abc, 3, 1, \"/m/05tny_\"\n")
    with pytest.raises(DataError, match="balanced_train_segments.csv:1: bad YTID or start/end"):
        import_audioset(tmp_path)


def test_dcase2017_event_lists(tmp_path):
    lists = tmp_path / "meta"
    lists.mkdir()
    (lists / "event_list_devtrain_gunshot.csv").write_text(
        "mixture_devtrain_gunshot_000_aa.wav\t4.36\t5.02\tgunshot\nmixture_devtrain_gunshot_001_bb.wav\n")
    (lists / "event_list_devtest_babycry.csv").write_text(
        "mixture_devtest_babycry_000_cc.wav\t0.28\t2.04\tbabycry\nmixture_devtest_babycry_001_dd.wav\t1\t2\tbabycry\n")
    for name in ["mixture_devtrain_gunshot_000_aa", "mixture_devtrain_gunshot_001_bb", "mixture_devtest_babycry_000_cc"]:
        _wav(tmp_path / "audio" / f"{name}.wav", 6.0)
    res = import_dcase2017(tmp_path)
    got = {Path(r.path).stem: (r.labels, r.split, r.onset, r.offset) for r in res.records}
    assert got == {"mixture_devtrain_gunshot_000_aa": (("gunshot",), "train", 4.36, 5.02),
                   "mixture_devtrain_gunshot_001_bb": ((), "train", None, None),
                   "mixture_devtest_babycry_000_cc": (("baby",), "test", 0.28, 2.04)}
    assert [p for p, _ in res.skipped] == ["mixture_devtest_babycry_001_dd.wav"]
    (lists / "event_list_devtest_babycry.csv").write_text("x.wav\t2.0\t1.0\tbabycry\n")
    with pytest.raises(DataError, match="event_list_devtest_babycry.csv:1: offset 1.0 is not after onset 2.0"):
        import_dcase2017(tmp_path)


def test_folder_layout(tmp_path):
    for cls, n in [("dog", 4), ("siren", 2), ("ambience", 5)]:
        for i in range(n):
            _wav(tmp_path / cls / f"rec{i // 2}_{i}.wav", 0.5, i)
    (tmp_path / "dog" / "notes.txt").write_text("not audio")
    (tmp_path / "dog" / "broken.wav").write_bytes(b"RIFFxxxx")
    res = import_folder(tmp_path, background="ambience", source_regex=r"^(rec\d+)_\d+$")
    assert Counter(r.labels for r in res.records) == {("dog",): 4, ("siren",): 2, (): 5}
    assert [Path(p).name for p, _ in res.skipped] == ["broken.wav"]
    assert {r.source_id for r in res.records} == {"rec0", "rec1", "rec2"}
    assert _one_split_per_source(res.records)
    plain = import_folder(tmp_path, background="ambience", label_map={"dog": "dog"}, other="exclude")
    assert {r.labels for r in plain.records} == {("dog",), ()}
    assert {r.source_id for r in plain.records if r.labels} == {f"dog/rec{i // 2}_{i}" for i in range(4)}
    with pytest.raises(ConfigError, match="unknown data set 'nope'"):
        get_importer("nope")
