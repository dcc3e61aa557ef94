"""reproduce.curve: the learning curve over source recordings on the tiny ESC-50-style fixture:
each point trains on fewer train event recordings with the same test clips, the report's curve
rows equal the cells' eer.json, and the curve section is validated against the grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import make_esc50_fixture, tiny_config
from raresound import reproduce as rp
from raresound.data.manifest import read_manifest
from raresound.errors import ConfigError
from raresound.io import read_json
from raresound.reproduce.curve import point_config, point_dir


def curve_config(data_root: Path, cache: Path) -> dict:
    raw = rp.deep_merge(tiny_config(data_root), {
        "grid": {"methods": ["baseline", "proposed"], "seeds": [0]},
        "curve": {"train_sources": [0.5], "methods": ["baseline"]},
        "toy": None})
    raw["data"]["cache_dir"] = str(cache)
    return raw


@pytest.mark.slow
def test_curve_point_trains_on_fewer_recordings_and_reports_their_eer(tmp_path):
    cfg = rp.config_from_dict(curve_config(make_esc50_fixture(tmp_path / "esc50"), tmp_path / "cache"))
    out = tmp_path / "out"
    report = rp.reproduce(cfg, out, log=lambda m: None)
    point = point_config(cfg, 0.5, out)
    assert point.data.cache_dir == f"{tmp_path / 'cache'}-train-sources-050"

    # Train events come from half the recordings (2 of 4 per class, 1 left); val and test are the grid's.
    def events(cache, split):
        recs = [r for r in read_manifest(Path(cache) / "manifest.csv") if r.split == split and r.labels]
        return {(r.labels, r.source_id) for r in recs}, sorted(Path(r.path).name for r in recs)

    full_train, _ = events(cfg.data.cache_dir, "train")
    half_train, _ = events(point.data.cache_dir, "train")
    per_class = lambda s: {lab[0]: len({src for l, src in s if l == lab}) for lab, _ in s}  # noqa: E731
    assert per_class(full_train) == {"dog": 2, "baby": 2, "glass": 2}
    assert per_class(half_train) == {"dog": 1, "baby": 1, "glass": 1}
    assert half_train <= full_train  # a subset of the same recordings, never others
    for split in ("val", "test"):
        assert events(cfg.data.cache_dir, split) == events(point.data.cache_dir, split)

    # The report's curve rows are the cells' numbers: 50 % from the point, 100 % from the grid.
    text = (report / "report.md").read_text()
    section = text.split("## Learning curve over training sources", 1)[1].split("\n## ", 1)[0]
    rows = {tuple(c.strip() for c in line.strip("|").split("|"))[:3]: line for line in section.splitlines()
            if line.startswith("| ") and "%" in line.split("|")[1]}
    results = read_json(report / "results.json")["curve"]
    assert {(r["train_sources"], r["model"]) for r in results} == {(0.5, "baseline"), (1.0, "baseline")}
    for share, run in ((0.5, point_dir(out, 0.5) / "runs/lstm/6-1-2-16/baseline/seed0"),
                       (1.0, out / "runs/lstm/6-1-2-16/baseline/seed0")):
        eer = read_json(run / "eval/test/eer.json")["baseline"]
        recs = "1 / 1 / 1" if share == 0.5 else "2 / 2 / 2"
        line = rows[(f"{100 * share:.0f} %", recs, rp.MODEL_LABELS["baseline"])]
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert cells[3:7] == [f"{100 * eer['eer'][c]:.1f}" for c in ("dog", "baby", "glass")] + \
                             [f"{100 * eer['overall']:.1f}"]
        row = next(r for r in results if r["train_sources"] == share)
        assert np.isclose(row["overall"][0], eer["overall"])


@pytest.mark.parametrize("curve, field", [
    ({"train_sources": [1.0]}, "curve.train_sources"),          # the grid is the 100 % point
    ({"train_sources": [0.5, 0.5]}, "curve.train_sources"),
    ({"train_sources": [0.5], "methods": ["focal"]}, "curve.methods"),  # not in the grid
    ({"train_sources": [0.5], "ratio": "2:2:1:26"}, "curve.ratio"),
    ({"train_sources": [0.5], "backbone": "cnn"}, "curve.backbone"),
])
def test_bad_curve_is_rejected_before_work(tmp_path, curve, field):
    raw = rp.deep_merge(tiny_config(tmp_path), {"curve": curve})
    with pytest.raises(ConfigError) as err:
        rp.config_from_dict(raw)
    assert field in str(err.value)


def test_curve_defaults_come_from_the_grid(tmp_path):
    raw = rp.deep_merge(tiny_config(tmp_path), {"curve": {"train_sources": [0.5, 0.25],
                                                          "ratio": "dog=6,baby=1,glass=2,background=16"}})
    c = rp.config_from_dict(raw).curve
    assert (c.train_sources, c.backbone, c.ratio, c.seeds) == ([0.25, 0.5], "lstm", "6:1:2:16", [0, 1])


def test_data_train_sources_must_be_a_share(tmp_path):
    with pytest.raises(ConfigError, match="data.train_sources"):
        rp.config_from_dict(rp.deep_merge(tiny_config(tmp_path), {"data": {"train_sources": 0}}))
