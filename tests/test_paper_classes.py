"""data.sources.paper_classes: dog / baby / gunshot from ESC-50 (two roots) and UrbanSound8K as one
data set, labels unified, split by Freesound recording across the data sets (needs ../shared/data)."""

from collections import defaultdict
from pathlib import Path

import pytest

from raresound.data.sources import get_importer
from raresound.data.sources.paper_classes import paper_class_records
from raresound.errors import DataError

DATA_ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def imported():
    missing = [n for n in ("esc50-subset", "esc50-more", "urbansound8k-subset") if not (DATA_ROOT / n).is_dir()]
    if missing:
        pytest.skip(f"real audio not found under {DATA_ROOT} ({', '.join(missing)})")
    return get_importer("paper-classes")(DATA_ROOT, fractions=(0.5, 0.25, 0.25), seed=0)


def test_labels_are_unified_across_data_sets(imported):
    by_set = defaultdict(set)
    for r in imported.records:
        by_set["us8k" if "urbansound8k" in r.path else "esc50"].add(r.labels)
        assert r.source_id.startswith("freesound-"), r.source_id
    assert by_set["us8k"] == {("dog",), ("gunshot",)}  # dog_bark -> dog, gun_shot -> gunshot
    assert by_set["esc50"] == {("dog",), ("baby",), ()}  # crying_baby -> baby; glass left out; backgrounds
    assert not imported.skipped


def test_no_recording_is_in_two_splits_and_every_class_reaches_every_split(imported):
    splits_of = defaultdict(set)
    for r in imported.records:
        splits_of[r.source_id].add(r.split)
    assert all(len(s) == 1 for s in splits_of.values()), [k for k, s in splits_of.items() if len(s) > 1]
    # Some Freesound recordings were cut by both ESC-50 and UrbanSound8K: one id, one split.
    both = {r.source_id for r in imported.records if "urbansound8k" in r.path} & \
           {r.source_id for r in imported.records if "esc50" in r.path}
    assert both
    recordings = defaultdict(set)
    for r in imported.records:
        recordings[(r.split, r.labels[0] if r.labels else "background")].add(r.source_id)
    for split in ("train", "val", "test"):
        for cls in ("dog", "baby", "gunshot", "background"):
            assert recordings[(split, cls)], (split, cls)
    # by recording, not by clip: the train share of gunshot recordings is about half of 43
    assert 18 <= len(recordings[("train", "gunshot")]) <= 25


def test_a_missing_folder_is_a_data_error_naming_it(tmp_path):
    (tmp_path / "esc50-subset").mkdir()
    with pytest.raises(DataError, match="esc50-more: missing"):
        paper_class_records(tmp_path)


def test_cli_import_writes_one_manifest_and_refuses_a_label_map(imported, tmp_path, capsys):
    from raresound.cli import main
    from raresound.data.manifest import read_manifest

    out = tmp_path / "paper.csv"
    assert main(["data", "import", "paper-classes", str(DATA_ROOT), "--fractions", "0.5", "0.25", "0.25",
                 "--out", str(out)]) == 0
    assert {(r.path, r.split) for r in read_manifest(out)} == {(r.path, r.split) for r in imported.records}
    assert main(["data", "import", "paper-classes", str(DATA_ROOT), "--label-map", "dog=hound",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "--label-map" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
