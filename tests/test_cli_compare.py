"""`raresound compare` on evaluated runs (written straight in the eval layout: eer.json, scores,
targets): one table with per-class EER intervals and positives, matching JSON, one DET figure."""

import json
import time

import numpy as np

from raresound.cli import main as cli_main
from raresound.evaluation.eer import evaluate_scores
from raresound.io import write_json

CLASSES = ["dog", "baby", "gunshot"]


def fake_run(run, models, seed):
    """A run evaluated on 125 test clips (20/15/15 positives, as in the demo) with noisy scores."""
    rng = np.random.default_rng(seed)
    y = np.zeros((125, 3), dtype=np.float32)
    y[:20, 0], y[20:35, 1], y[35:50, 2] = 1, 1, 1
    folder = run / "eval" / "test"
    folder.mkdir(parents=True)
    np.save(folder / "targets.npy", y)
    results = {}
    for model, separation in models.items():
        scores = (rng.normal(size=y.shape) + separation * y).astype(np.float32)
        np.save(folder / f"{model}.scores.npy", scores)
        results[model] = evaluate_scores(scores, y, CLASSES)
    write_json(folder / "eer.json", results)
    return run


def test_compare_table_has_intervals_and_positives(tmp_path, capsys):
    a = fake_run(tmp_path / "a", {"baseline": 0.3}, 0)
    b = fake_run(tmp_path / "b", {"proposed1": 1.0, "proposed2": 2.0}, 1)
    started = time.perf_counter()
    assert cli_main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    assert "| clips | n+ = 20 | n+ = 15 | n+ = 15 | N = 125 |" in out
    saved = json.loads((tmp_path / "cmp" / "eer.json").read_text())
    assert list(saved) == ["a/baseline", "b/proposed1", "b/proposed2"]
    for key, res in saved.items():
        assert res["n_pos"] == {"dog": 20, "baby": 15, "gunshot": 15} and res["n_neg"]["dog"] == 105
        for c in CLASSES:
            assert res["ci_low"][c] <= res["eer"][c] <= res["ci_high"][c]
            cell = f"{100 * res['eer'][c]:.1f} [{100 * res['ci_low'][c]:.1f}, {100 * res['ci_high'][c]:.1f}]"
            assert cell in out  # the printed table shows what the JSON holds
        assert res["overall_ci_low"] <= res["overall"] <= res["overall_ci_high"]
    assert (tmp_path / "cmp" / "eer.md").read_text() in out
    assert (tmp_path / "cmp" / "det.png").exists()
    assert elapsed < 10  # table + figure; the table itself takes well under a second
