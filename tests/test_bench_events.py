"""`raresound bench events`: the DCASE 2017 Task 2 protocol end to end at a tiny size (protocol
data -> store -> train-sed -> devtest events -> per-class metrics on each class's own set)."""

from __future__ import annotations

import json

import pytest

from raresound.cli import main
from raresound.data.manifest import read_manifest

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--per-class", "8", "--workers", "1", "--threads", "1", "--set", "epochs=1",
        "--set", "model.kwargs={channels: [4, 8], time_pools: [2, 2], freq_pools: [8, 8], hidden_size: 8}"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    assert main(["bench", "events", "--out", str(out), *TINY]) == 0
    return out


def test_each_class_is_scored_on_its_own_devtest_set(bench):
    result = json.loads((bench / "results.json").read_text())
    metrics = result["metrics"]
    assert metrics["classes"] == ["baby", "dog", "gunshot"]
    records = read_manifest(bench / "data" / "manifest.csv")
    for c in metrics["classes"]:
        row = metrics["class_wise"][c]
        # presence 0.5 of the class's 8 devtest mixtures hold one event each, of that class only
        events = sum(1 for r in records if r.split == "test" and c in r.labels)
        assert row["Nref"] == events == 4
        assert row["files"] == 8
        assert row["Ntp"] <= row["Nref"] and row["Ntp"] <= row["Nsys"]
        assert 0.0 <= row["psds1"] <= 1.0
    average = metrics["class_average"]
    expected = sum(metrics["class_wise"][c]["f_measure"] for c in metrics["classes"]) / 3
    assert average["f_measure"] == pytest.approx(expected)
    assert set(result["seconds"]) >= {"data", "features", "training", "detection", "total"}
    table = (bench / "results.md").read_text()
    assert "| **average** |" in table and "PSDS1" in table
    from raresound.evaluation.events import read_event_list

    reference = read_event_list(bench / "test_reference.tsv")
    assert len(reference) == 12  # 4 devtest events a class, as scored
    assert sum(metrics["class_wise"][c]["Nsys"] for c in metrics["classes"]) <= len(  # own sets only
        read_event_list(bench / "test_events.tsv"))


def test_a_rerun_resumes_from_every_cached_stage(bench, capsys):
    before = json.loads((bench / "results.json").read_text())
    cached = [p for p in (bench / "data").rglob("*.wav")][:5] + list((bench / "sed" / "training").rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in cached if p.is_file()}
    assert main(["bench", "events", "--out", str(bench), *TINY]) == 0
    after = json.loads((bench / "results.json").read_text())
    assert after["metrics"] == before["metrics"]  # same data, same bundle: same events
    # nothing mixed or trained again: the mixtures and the training checkpoints are untouched
    assert stamps and {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_bad_sizes_fail_in_one_line_before_anything_is_written(tmp_path, capsys):
    assert main(["bench", "events", "--out", str(tmp_path / "x"), "--per-class", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "per_class" in err[0].replace("-", "_")
    assert not (tmp_path / "x").exists()
    assert main(["bench", "events", "--out", str(tmp_path / "y"), "--set", "epochs=0"]) == 2
    assert "epochs" in capsys.readouterr().err and not (tmp_path / "y").exists()


def test_quick_replaces_the_configs_schedule_and_keeps_the_rest():
    from raresound.reproduce.events import QUICK, quick_settings

    per_class, config = quick_settings(None, {"epochs": 20, "patience": 8, "lr": 0.002})
    assert per_class == QUICK["per_class"] and config == {"epochs": 4, "patience": 4, "lr": 0.002}
    assert quick_settings(12, {})[0] == 12


def test_learning_curve_over_sources_shares_one_devtest_and_can_remix(tmp_path, capsys):
    out = tmp_path / "curve"
    args = ["bench", "events", "--out", str(out), *TINY, "--set", "augment={remix: {p: 0.5}}", "--set",
            "remix_clips=2", "--train-sources", "0.5", "--train-sources", "1"]
    assert main(args) == 0
    log = capsys.readouterr().out
    assert log.count("remix: fresh crops from") == 2  # each point remixes its own train sources
    points = json.loads((out / "learning_curve.json").read_text())["points"]
    assert [p["train_sources"] for p in points] == [0.5, 1.0]
    half, full = (json.loads((out / d / "results.json").read_text()) for d in ("train-sources-050", "train-sources-100"))
    for c in ("baby", "dog", "gunshot"):
        assert 1 <= half["sources"]["train"][c] <= full["sources"]["train"][c]
        assert half["sources"]["test"][c] == full["sources"]["test"][c]
        assert half["metrics"]["class_wise"][c]["Nref"] == full["metrics"]["class_wise"][c]["Nref"] == 4
    assert sum(half["sources"]["train"][c] for c in ("baby", "dog", "gunshot")) < sum(
        full["sources"]["train"][c] for c in ("baby", "dog", "gunshot"))
    table = (out / "learning_curve.md").read_text()
    assert "| 50 % |" in table and "| 100 % |" in table
    test_dir = {d: out / d / "data" / "audio" / "test" for d in ("train-sources-050", "train-sources-100")}
    mixtures = {d: {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.wav")}
                for d, root in test_dir.items()}
    assert len(mixtures["train-sources-050"]) == 24  # 8 per class
    assert mixtures["train-sources-050"] == mixtures["train-sources-100"]  # the same devtest, byte for byte
