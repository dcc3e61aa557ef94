"""Did a run learn? Its learning curves (RUN/learning_curves.png, from RUN/metrics.jsonl) and a
one-line warning for every detector model whose best validation EER stayed near chance."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Iterable

from raresound.io import write_text

CURVES = "learning_curves.png"
# 50 % is chance; a detector that never got below 40 % on validation learned next to nothing.
BARELY_LEARNED_EER = 0.40


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_learning_curves(run_dir: str | Path) -> Path | None:
    """Redraw RUN/learning_curves.png from RUN/metrics.jsonl (atomically); None before any epoch."""
    from raresound.evaluation.plots import plot_learning_curves  # matplotlib only when drawing

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    if not rows:
        return None
    return plot_learning_curves(rows, run_dir / CURVES, title=f"{run_dir.name}: learning curves")


def best_val_eers(rows: Iterable[dict], models: Iterable[str]) -> dict[str, float]:
    """Lowest finite validation EER per model (its stage of the same name); models without one are left out."""
    best: dict[str, float] = {}
    wanted = set(models)
    for row in rows:
        value = row.get("val_eer")
        if row["stage"] in wanted and value is not None and math.isfinite(value):
            best[row["stage"]] = min(value, best.get(row["stage"], math.inf))
    return best


def report_learning(run_dir: str | Path, models: Iterable[str]) -> list[str]:
    """Write RUN/train.log (best validation EER per detector model, and a warning for each one
    above BARELY_LEARNED_EER); print the warnings to stderr; return them."""
    run_dir = Path(run_dir)
    lines, warnings = [], []
    for model, value in best_val_eers(read_metrics(run_dir), models).items():
        lines.append(f"{model}: best val EER {100 * value:.1f} %")
        if value > BARELY_LEARNED_EER:
            warnings.append(f"warning: {model} best val EER {100 * value:.1f} % (> {100 * BARELY_LEARNED_EER:.0f} %): "
                            f"the model barely learned; see {run_dir / CURVES}")
    write_text(run_dir / "train.log", "".join(f"{line}\n" for line in lines + warnings))
    for line in warnings:
        print(line, file=sys.stderr, flush=True)
    return warnings
