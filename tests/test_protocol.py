"""data.protocol: the DCASE 2017 Task 2 protocol builder (synth, esc50, dcase2017)."""

import csv
import hashlib
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from raresound.data.manifest import SPLITS, read_manifest
from raresound.data.protocol import PROTOCOL_FILE, build_protocol, set_sizes, synth_counts
from raresound.errors import ConfigError, DataError

DATA_ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TINY = dict(per_class=8, clip_seconds=10.0)
NAME = re.compile(r"^audio/(train|val|test)/(\w+)/mixture_\1_\2_\d{4}\.wav$")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return build_protocol("synth", tmp_path_factory.mktemp("synth") / "p", **TINY)


def _recipes(out: Path) -> list[dict]:
    with open(out / "mixtures.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _sources_by_split(data) -> dict[str, set[str]]:
    """split -> every source recording (event and background pieces) its mixtures use."""
    source_of = {r.path: r.source_id for r in read_manifest(data.source_manifest)}
    used = defaultdict(set)
    for row in _recipes(data.out_dir):
        if row["event"]:
            used[row["split"]].add(source_of[row["event"]])
        for piece in row["backgrounds"].split(";"):
            used[row["split"]].add(source_of[piece.rsplit("@", 1)[0]])
    return used


def _assert_source_disjoint(data):
    used = _sources_by_split(data)
    assert set(used) == set(SPLITS)
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not used[a] & used[b], (a, b, sorted(used[a] & used[b])[:3])
    # The isolated sources themselves are split by recording too.
    splits_of = defaultdict(set)
    for r in read_manifest(data.source_manifest):
        splits_of[r.source_id].add(r.split)
    assert all(len(s) == 1 for s in splits_of.values())


def _assert_sets(data, clip_seconds):
    records = read_manifest(data.manifest)
    by_path = {r.path: r for r in records}
    listed = [p for split in data.sets.values() for paths in split.values() for p in paths]
    assert sorted(listed) == sorted(by_path) and len(set(listed)) == len(listed)  # a partition
    sizes = set_sizes(data.settings)
    for split, by_class in data.sets.items():
        for cls, paths in by_class.items():
            recs = [by_path[p] for p in paths]
            assert all(r.split == split for r in recs)
            n_event, n_bg = sizes[split]
            assert Counter(r.labels for r in recs) == Counter({(cls,): n_event, (): n_bg})
            for r in recs:
                assert NAME.match(Path(r.path).relative_to(data.out_dir).as_posix())
                assert Path(r.path).parent.name == cls
                if r.labels:
                    assert 0.0 <= r.onset < r.offset <= clip_seconds
                else:
                    assert r.onset is None and r.offset is None
                assert sf.info(r.path).duration == pytest.approx(clip_seconds)


def test_synth_sets_presence_and_events(synth):
    assert synth.classes == ["baby", "dog", "gunshot"]
    _assert_sets(synth, TINY["clip_seconds"])
    assert set_sizes(synth.settings) == {"train": (3, 3), "val": (1, 1), "test": (4, 4)}


def test_synth_sources_disjoint_between_splits(synth):
    _assert_source_disjoint(synth)
    used = _sources_by_split(synth)
    for split in SPLITS:
        assert synth.sources[split]["background"] == sum(s.startswith("synth-background") for s in used[split])
        for cls in synth.classes:
            assert 1 <= synth.sources[split][cls] == sum(s.startswith(f"synth-{cls}-") for s in used[split])


def test_synth_source_counts_scale_with_the_set_size():
    assert synth_counts(500) == {"event_families": 40, "event_renders_per_family": 4, "background_families": 40,
                                 "background_files_per_family": 2}
    assert synth_counts(8)["event_families"] == 6 and synth_counts(200)["event_families"] == 16


def test_cache_hit_and_refusals(synth, tmp_path):
    out = synth.out_dir
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = build_protocol("synth", out, workers=2, **TINY)  # workers do not change the data
    assert again == synth
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps  # nothing re-mixed
    with pytest.raises(ConfigError, match=r"other settings \(per_class differ\); use another out dir"):
        build_protocol("synth", out, per_class=9, clip_seconds=10.0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no protocol build"):
        build_protocol("synth", foreign, **TINY)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    with pytest.raises(ConfigError, match="source"):
        build_protocol("nope", tmp_path / "x")
    with pytest.raises(ConfigError, match="presence"):
        build_protocol("synth", tmp_path / "x", presence=1.5)
    with pytest.raises(ConfigError, match="dcase_root"):
        build_protocol("dcase2017", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_synth_is_deterministic(synth, tmp_path):
    other = build_protocol("synth", tmp_path / "again", workers=2, **TINY)

    def digest(data):
        return {Path(p).relative_to(data.out_dir).as_posix(): hashlib.sha256(Path(p).read_bytes()).hexdigest()
                for split in data.sets.values() for paths in split.values() for p in paths}

    assert digest(other) == digest(synth)
    assert (other.out_dir / "manifest.csv").read_text() == (synth.out_dir / "manifest.csv").read_text()
    assert "| test | dog | 8 | 4 |" in other.summary()


def test_unfinished_build_is_rebuilt_with_the_same_settings_only(tmp_path, monkeypatch):
    import raresound.data.protocol as protocol

    def boom(*args, **kwargs):
        raise DataError("killed")

    monkeypatch.setattr(protocol, "_mix_protocol", boom)
    with pytest.raises(DataError, match="killed"):
        build_protocol("synth", tmp_path / "p", per_class=2, clip_seconds=5.0)
    assert not (tmp_path / "p" / PROTOCOL_FILE).exists()
    with pytest.raises(ConfigError, match="unfinished protocol build with other settings"):
        build_protocol("synth", tmp_path / "p", per_class=3, clip_seconds=5.0)
    monkeypatch.undo()
    data = build_protocol("synth", tmp_path / "p", per_class=2, clip_seconds=5.0)
    assert (tmp_path / "p" / PROTOCOL_FILE).is_file() and len(read_manifest(data.manifest)) == 3 * (2 + 0 + 2)


# ---------------------------------------------------------------------------------------------
# esc50: real events (needs ../shared/data)

def _need_shared_data():
    missing = [n for n in ("esc50-subset", "esc50-more", "urbansound8k-subset") if not (DATA_ROOT / n).is_dir()]
    if missing:
        pytest.skip(f"real audio not found under {DATA_ROOT} ({', '.join(missing)})")


def test_esc50_protocol_is_source_disjoint(tmp_path):
    _need_shared_data()
    data = build_protocol("esc50", tmp_path / "p", per_class=6, clip_seconds=10.0, data_root=DATA_ROOT)
    assert data.classes == ["baby", "dog", "gunshot"]
    _assert_sets(data, 10.0)
    _assert_source_disjoint(data)
    # A Freesound recording in both data sets stays in one split.
    splits_of = defaultdict(set)
    for r in read_manifest(data.source_manifest):
        splits_of[r.source_id].add(r.split)
    assert all(len(s) == 1 for s in splits_of.values())


def test_esc50_missing_data_root_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"esc50-subset: missing"):
        build_protocol("esc50", tmp_path / "p", data_root=tmp_path / "nowhere", **TINY)


# ---------------------------------------------------------------------------------------------
# dcase2017: a tiny fixture in the TUT Rare Sound Events 2017 development set's layout

PARAM_HASH = "20b255387a2d0cddc0a3dff5014875e7"
DCASE_CLASSES = ("babycry", "glassbreak", "gunshot")


def _dcase_fixture(root: Path, n: int = 8, recipes: bool = True) -> dict:
    """data/mixture_data/<set>/<hash>/{audio,meta} with event lists and mixture recipes; events
    reuse isolated recordings (ids 0-3 per class and set), backgrounds are 30-s segments of TUT
    recordings (`a0NN_<start>_<end>.wav`)."""
    truth = {}
    sr = 16000
    for subset in ("devtrain", "devtest"):
        base = root / "data" / "mixture_data" / subset / PARAM_HASH
        (base / "meta").mkdir(parents=True)
        (base / "audio").mkdir(parents=True)
        for c, cls in enumerate(DCASE_CLASSES):
            lines, recipe_list = [], []
            for i in range(n):
                name = f"mixture_{subset}_{cls}_{i:03d}_{hashlib.md5(f'{subset}{cls}{i}'.encode()).hexdigest()}.wav"
                sf.write(str(base / "audio" / name), 0.01 * np.ones(sr * 2, dtype=np.float32), sr, subtype="PCM_16")
                bg = f"{'a' if subset == 'devtrain' else 'b'}{(c * n + i) % 10:03d}_{30 * i}_{30 * i + 30}.wav"
                recipe = {"bg_path": bg, "bg_classname": "home", "event_present": i % 2 == 0, "ebr": 0.0,
                          "mixture_audio_filename": name}
                if i % 2 == 0:
                    onset = 0.25 * i
                    event = f"{cls}/{1000 * (c + 1) + (i // 2) % 4 + (0 if subset == 'devtrain' else 500)}.wav"
                    recipe.update({"event_path": event, "event_class": cls, "event_start_in_mixture_seconds": onset,
                                   "event_length_seconds": 0.5})
                    lines.append(f"{name}\t{onset}\t{onset + 0.5}\t{cls}")
                    truth[name] = (cls, onset, onset + 0.5)
                else:
                    lines.append(name)
                    truth[name] = (cls, None, None)
                recipe_list.append(recipe)
            (base / "meta" / f"event_list_{subset}_{cls}.csv").write_text("\n".join(lines) + "\n")
            if recipes:
                (base / "meta" / f"mixture_recipes_{subset}_{cls}.yaml").write_text(yaml.safe_dump(recipe_list))
    return truth


def test_dcase2017_fixture_import_labels_splits_sets(tmp_path):
    truth = _dcase_fixture(tmp_path / "TUT-rare-sound-events-2017-development")
    data = build_protocol("dcase2017", tmp_path / "p", dcase_root=tmp_path / "TUT-rare-sound-events-2017-development",
                          per_class=8, val_fraction=0.5)
    assert data.classes == ["baby", "glass", "gunshot"]
    records = read_manifest(data.manifest)
    label = {"babycry": "baby", "glassbreak": "glass", "gunshot": "gunshot"}
    for r in records:
        cls, onset, offset = truth[Path(r.path).name]
        assert r.labels == ((label[cls],) if onset is not None else ())
        assert (r.onset, r.offset) == (onset, offset)
        assert (r.split == "test") == ("_devtest_" in Path(r.path).name)
    assert {r.split for r in records} == set(SPLITS)
    listed = [p for split in data.sets.values() for paths in split.values() for p in paths]
    assert sorted(listed) == sorted(r.path for r in records)
    for split, by_class in data.sets.items():
        for cls, paths in by_class.items():
            assert all(f"_{[k for k, v in label.items() if v == cls][0]}_" in Path(p).name for p in paths)
    # val is source-disjoint from train: no isolated event and no background recording in both.
    recipes = {}
    for path in (tmp_path / "TUT-rare-sound-events-2017-development").rglob("mixture_recipes_*.yaml"):
        recipes.update({r["mixture_audio_filename"]: r for r in yaml.safe_load(path.read_text())})
    used = defaultdict(set)
    for r in records:
        recipe = recipes[Path(r.path).name]
        used[r.split].add("bg-" + recipe["bg_path"].split("_")[0])
        if recipe["event_present"]:
            used[r.split].add("ev-" + recipe["event_path"])
    assert not used["train"] & used["val"] and not used["train"] & used["test"] and not used["val"] & used["test"]
    assert data.sources["test"]["baby"] == 4 and data.sources["test"]["background"] >= 1
    dropped = 3 * 8 - sum(len(p) for s in ("train", "val") for p in data.sets[s].values())
    assert (dropped > 0) == any("dropped" in n for n in data.notes)


def test_dcase2017_without_recipes_splits_val_by_mixture_with_a_note(tmp_path):
    _dcase_fixture(tmp_path / "dev", n=6, recipes=False)
    data = build_protocol("dcase2017", tmp_path / "p", dcase_root=tmp_path / "dev", per_class=4)
    assert any("not source-disjoint" in n for n in data.notes)
    counts = Counter(r.split for r in read_manifest(data.manifest))
    assert counts["test"] == 3 * 4 and counts["train"] + counts["val"] == 3 * 4 and counts["val"] >= 3


def test_train_sources_subsets_train_only_and_keeps_val_and_test_bit_identical(synth, tmp_path):
    half = build_protocol("synth", tmp_path / "half", train_sources=0.5, **TINY)
    assert half.settings["train_sources"] == 0.5 and "train_sources" not in synth.settings  # old caches still hit
    for cls in synth.classes:
        n = synth.sources["train"][cls]
        assert half.sources["train"][cls] == max(1, -(-n // 2)) < n or n == 1
        for split in ("val", "test"):
            assert half.sources[split][cls] == synth.sources[split][cls]
    for split in ("val", "test"):  # the same mixtures, byte for byte: the curve's points share one test set
        for cls in synth.classes:
            ours = [Path(p).read_bytes() for p in half.sets[split][cls]]
            assert ours == [Path(p).read_bytes() for p in synth.sets[split][cls]]
    _assert_source_disjoint(half)
    assert any("train_sources 0.5" in n for n in half.notes)
    with pytest.raises(ConfigError, match="train_sources"):
        build_protocol("synth", tmp_path / "bad", train_sources=0.0, **TINY)
    with pytest.raises(ConfigError, match="train_sources"):
        build_protocol("synth", tmp_path / "bad", train_sources=1.5, **TINY)


def test_train_subset_is_nested_and_per_class():
    from raresound.data.manifest import ClipRecord
    from raresound.data.protocol import train_subset

    events = [ClipRecord(f"/{c}/{i}_{k}.wav", (c,), "train", f"{c}-{i}") for c in ("dog", "baby")
              for i in range(10) for k in range(2)] + [ClipRecord("/t.wav", ("dog",), "test", "dog-t")]

    def kept(fraction):
        return {r.source_id for r in train_subset(events, fraction, seed=3) if r.split == "train"}

    quarter, half, full = kept(0.25), kept(0.5), kept(1.0)
    assert quarter < half < full and len(full) == 20
    assert sum(s.startswith("dog") for s in half) == sum(s.startswith("baby") for s in half) == 5
    assert sum(s.startswith("dog") for s in kept(0.01)) == 1  # never a class without train sources
    assert any(r.source_id == "dog-t" for r in train_subset(events, 0.25, seed=3))  # test untouched
    recs = train_subset(events, 0.5, seed=3)
    assert all(sum(r.source_id == s for r in recs) == 2 for s in half)  # every clip of a kept recording
