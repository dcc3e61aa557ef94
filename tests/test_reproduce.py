"""The reproduction harness end to end on a tiny config: report numbers equal the run directories'
eer.json, a second invocation retrains nothing, an interrupted cell resumes, configs validate.

Runs on a generated ESC-50-style fixture (always) and on the real ESC-50 subset under
../shared/data/esc50-subset when it is present (skipped with a message otherwise)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from helpers import make_esc50_fixture, tiny_config
from raresound import reproduce as rp
from raresound.errors import ConfigError
from raresound.io import read_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "esc50-subset"


def report_rows(report: str) -> dict[str, list[str]]:
    """Rows of the main table: label -> cells (dog, baby, glass, overall, seeds, paper)."""
    rows = {}
    main = report.split("## Main results", 1)[1].split("\n## ", 1)[0]
    for line in main.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in rp.MODEL_LABELS.values():
            rows[cells[0]] = cells[1:]
    return rows


def expected_cell(values: list[float]) -> str:
    v = 100.0 * np.asarray(values)
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}"


def run_and_check(tmp_path: Path, data_root: Path, monkeypatch) -> None:
    cfg = rp.config_from_dict(tiny_config(data_root))
    out = tmp_path / "out"
    logs: list[str] = []
    report_dir = rp.reproduce(cfg, out, log=logs.append)
    text = (report_dir / "report.md").read_text()
    # ratios are printed with their class names (directories keep the positional tag)
    named = "dog=6 baby=1 glass=2 background=16"
    assert any(f"lstm {named} baseline seed 0: trained" in m for m in logs), logs
    assert f"### LSTM, ratio {named}\n" in text and f"| {named} | train |" in text

    # Every number of the main table equals the one recomputed from the cells' eer.json.
    rows = report_rows(text)
    assert set(rows) == {rp.MODEL_LABELS[m] for m in ("baseline", "proposed1", "proposed2", "probe")}
    assert list(rows)[-1] == "probe (reference)"
    for method, models in (("baseline", ["baseline"]), ("proposed", ["proposed1", "proposed2"]),
                           ("probe", ["probe"])):
        for model in models:
            results = [read_json(out / "runs/lstm/6-1-2-16" / method / f"seed{s}" / "eval/test/eer.json")[model]
                       for s in (0, 1)]
            cells = rows[rp.MODEL_LABELS[model]]
            for j, cls in enumerate(["dog", "baby", "glass"]):
                assert cells[j] == expected_cell([r["eer"][cls] for r in results]), (model, cls)
            assert cells[3] == expected_cell([r["overall"] for r in results])
            low, high = (float(v) for v in cells[4].strip("[]").split(","))
            assert low <= float(cells[3].split()[0]) <= high  # the seed-mean lies in its interval
            assert cells[5] == "2"
    assert rows[rp.MODEL_LABELS["baseline"]][6] == "20.3"  # the paper's number, labelled as such
    assert "paper overall (AudioSet)" in text

    # Paired comparison per seed equals the library bootstrap on the saved scores.
    from raresound.evaluation import paired_bootstrap_eer_diff
    from raresound.scoring import load_scores

    p2, y = load_scores(out / "runs/lstm/6-1-2-16/proposed/seed1", "proposed2")
    base, _ = load_scores(out / "runs/lstm/6-1-2-16/baseline/seed1", "baseline")
    ref = paired_bootstrap_eer_diff(p2, base, y, n_boot=50, seed=0)
    line = next(l for l in text.splitlines() if l.startswith("| 1 |"))
    assert f"{100 * ref['diff']:+.1f} | [{100 * ref['low']:+.1f}, {100 * ref['high']:+.1f}]" in line
    assert re.search(r"\| pooled \(0,1\) \|", text)
    assert (report_dir / "det_lstm_6-1-2-16.png").stat().st_size > 0
    assert (report_dir / "toy" / "round_1.png").exists()
    assert "what was reduced" in text and "`proposed.n_iter` | 5 | 1" in text

    # Second invocation: nothing is retrained, results untouched, same report numbers.
    eer_files = sorted(out.glob("runs/**/eval/test/eer.json"))
    assert len(eer_files) == 6
    mtimes = [p.stat().st_mtime_ns for p in eer_files]
    import raresound.training.recipes as recipes

    def no_training(*args, **kwargs):
        raise AssertionError("a finished cell was retrained")

    monkeypatch.setattr(recipes, "train", no_training)
    rp.reproduce(cfg, out, log=lambda m: None)
    assert [p.stat().st_mtime_ns for p in eer_files] == mtimes
    assert report_rows((report_dir / "report.md").read_text()) == rows
    monkeypatch.undo()

    # An interrupted cell (no eval yet) resumes from its stage checkpoints: same numbers.
    cell = out / "runs/lstm/6-1-2-16/proposed/seed0"
    before = read_json(cell / "eval/test/eer.json")
    metrics = (cell / "metrics.jsonl").read_text()
    (cell / "eval/test/eer.json").unlink()
    calls = []
    real_train = recipes.train
    monkeypatch.setattr(recipes, "train", lambda *a, **k: calls.append(a[2]) or real_train(*a, **k))
    rp.reproduce(cfg, out, log=lambda m: None)
    assert [Path(c) for c in calls] == [cell]
    assert (cell / "metrics.jsonl").read_text() == metrics  # no epoch was re-run
    assert read_json(cell / "eval/test/eer.json") == before


@pytest.mark.slow
def test_reproduce_on_generated_fixture(tmp_path, monkeypatch):
    run_and_check(tmp_path, make_esc50_fixture(tmp_path / "esc50"), monkeypatch)


@pytest.mark.slow
def test_reproduce_on_real_esc50_subset(tmp_path, monkeypatch):
    if not (SHARED / "esc50_subset.csv").is_file():
        pytest.skip(f"real ESC-50 subset not found at {SHARED}")
    run_and_check(tmp_path, SHARED, monkeypatch)


def test_shipped_configs_validate():
    paths = sorted((ROOT / "configs" / "reproduce").glob("*.yaml"))
    assert {p.name for p in paths} >= {"esc50-lstm-cpu.yaml", "esc50-cnn-cpu.yaml", "esc50-paper.yaml"}
    for path in paths:
        cfg = rp.load_config(path)
        if cfg.frames.epochs:  # the localised-events run: a slice of the grid, with frame heads
            assert {"baseline", "proposed"} <= set(cfg.grid.methods) and cfg.frames.long_files >= 8
            continue
        assert len(cfg.grid.seeds) >= 3, path
        assert {"baseline", "proposed"} <= set(cfg.grid.methods)
        assert set(cfg.grid.ratios) == {"6:1:2:16", "2:2:1:26"}


@pytest.mark.parametrize("patch, field", [
    ({"grid": {"methods": ["baseline", "nope"]}}, "grid.methods"),
    ({"data": {"colour": 1}}, "data.colour"),
    ({"recipe": {"training": {"lr": -1}}}, "training.lr"),
    ({"grid": {"ratios": ["6:1:2"]}}, "grid.ratios"),
    ({"grid": {"ratios": ["dog=6,baby=1,gunshot=2,background=16"]}}, "grid.ratios"),  # glass, not gunshot
    ({"data": {"mixtures": {"counts": {"train": {"cat": 3}}}}}, "data.mixtures.counts.train.cat"),
])
def test_bad_config_is_rejected_before_work(tmp_path, patch, field):
    raw = rp.deep_merge(tiny_config(tmp_path), patch)
    with pytest.raises(ConfigError) as err:
        rp.config_from_dict(raw)
    assert field in str(err.value)


def test_named_grid_ratios_keep_the_data_classes_order(tmp_path):
    raw = rp.deep_merge(tiny_config(tmp_path), {"grid": {"ratios": ["background=16,glass=2,baby=1,dog=6", "1:2:3:4"]}})
    cfg = rp.config_from_dict(raw)
    # positional in data.classes order (dog, baby, glass, background): cell directories and paper keys
    assert cfg.grid.ratios == ["6:1:2:16", "1:2:3:4"]
    assert rp.named_ratio(cfg, "1:2:3:4") == "dog=1 baby=2 glass=3 background=4"  # how logs and the report say it
    assert rp.cell_recipe(cfg, rp.cells(cfg)[0]).data.classes == "dog,baby,glass,background"


def test_pooled_bootstrap_of_one_seed_equals_paired_bootstrap():
    from raresound.evaluation import paired_bootstrap_eer_diff

    rng = np.random.default_rng(3)
    y = np.zeros((120, 3))
    y[np.arange(60), np.arange(60) % 3] = 1
    a, b = rng.random((120, 3)) + 0.5 * y, rng.random((120, 3)) + 0.2 * y
    ref = paired_bootstrap_eer_diff(a, b, y, n_boot=300, seed=7)
    got = rp.pooled_bootstrap([(a, b)], y, n_boot=300, seed=7, ci=0.95)
    for key in ("diff", "mean_diff", "low", "high", "frac_a_better", "n_valid"):
        assert got[key] == pytest.approx(ref[key]), key
    # Two identical seeds average to the same numbers; a swapped pair flips the sign.
    two = rp.pooled_bootstrap([(a, b), (a, b)], y, n_boot=300, seed=7, ci=0.95)
    assert two["diff"] == pytest.approx(ref["diff"]) and two["low"] == pytest.approx(ref["low"])
    flipped = rp.pooled_bootstrap([(b, a)], y, n_boot=300, seed=7, ci=0.95)
    assert flipped["diff"] == pytest.approx(-ref["diff"]) and flipped["high"] == pytest.approx(-ref["low"])


@pytest.mark.slow
def test_reproduce_adds_localised_events_next_to_the_eer(tmp_path, monkeypatch):
    """With a `frames` section every bundle but the probe gets a frame head and one-pass metrics on
    long test files; the report prints them beside the clip EER; a rerun computes nothing again."""
    from raresound.reproduce.frames import EVENTS_JSON

    raw = tiny_config(make_esc50_fixture(tmp_path / "esc50"))
    raw["grid"]["seeds"] = [0]
    raw["frames"] = {"epochs": 1, "long_files": 2, "clips_per_file": 9, "median": 3}
    cfg = rp.config_from_dict(raw)
    out = tmp_path / "out"
    report_dir = rp.reproduce(cfg, out, log=lambda m: None)
    text = (report_dir / "report.md").read_text()
    section = text.split("Localised events", 1)[1]
    for method, models in (("baseline", ["baseline"]), ("proposed", ["proposed1", "proposed2"])):
        events = read_json(out / "runs/lstm/6-1-2-16" / method / "seed0" / EVENTS_JSON)
        assert set(events) == set(models)
        eer = read_json(out / "runs/lstm/6-1-2-16" / method / "seed0" / "eval/test/eer.json")
        for model in models:
            m = events[model]
            row = next(line for line in section.splitlines() if line.startswith(f"| {rp.MODEL_LABELS[model]} |"))
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert cells[1].startswith(f"{100 * eer[model]['overall']:.1f}")  # the clip EER beside
            assert cells[2] == f"{m['onset_median']:.3f}" and cells[7] == f"{m['psds']:.3f}"
            assert 0 <= m["psds"] <= 1 and 0 < m["n_reference"] and m["step_seconds"] == pytest.approx(0.01)
    assert not (out / "runs/lstm/6-1-2-16/probe/seed0" / EVENTS_JSON).exists()  # no per-step outputs
    results = read_json(report_dir / "results.json")["events"]["lstm/6:1:2:16"]
    assert set(results) == {"baseline", "proposed1", "proposed2"}

    import raresound.training.frames as frames

    monkeypatch.setattr(frames, "train_frame_head", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    rp.reproduce(cfg, out, log=lambda m: None)


def test_report_only_trains_nothing_not_even_the_toy(tmp_path, monkeypatch):
    import raresound.toy as toy
    import raresound.training.recipes as recipes

    def refuse(*args, **kwargs):
        raise AssertionError("--report-only trained something")

    monkeypatch.setattr(recipes, "train", refuse)
    monkeypatch.setattr(toy, "run_toy", refuse)
    cfg = rp.config_from_dict(tiny_config(make_esc50_fixture(tmp_path / "esc50")))
    report = rp.reproduce(cfg, tmp_path / "out", log=lambda m: None, report_only=True)
    text = (report / "report.md").read_text()
    assert "Cells finished: 0 of" in text and "Not run yet (`--report-only` trains nothing)" in text
