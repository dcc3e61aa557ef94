"""Did a run learn? Its learning curves (RUN/learning_curves.png, from RUN/metrics.jsonl) and a
one-line warning for every detector model whose validation EER at its best (kept) epoch stayed near
chance."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Iterable

from raresound.io import write_text
from raresound.runs import RunDir

# 50 % is chance; a detector that never got below 40 % on validation learned next to nothing.
BARELY_LEARNED_EER = 0.40


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = RunDir(run_dir).metrics
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
    return plot_learning_curves(rows, RunDir(run_dir).learning_curves, title=f"{run_dir.name}: learning curves")


def kept_val_eers(run_dir: str | Path, models: Iterable[str]) -> dict[str, dict]:
    """Per detector model (its stage of the same name): the validation EER of the epoch whose weights
    were kept (lowest validation loss), and the lowest EER of any epoch. The kept epoch is what the
    model is: on a small validation split the lowest EER over epochs is mostly noise."""
    from raresound.training.checkpoint import checkpoint_exists, read_meta

    run = RunDir(run_dir)
    rows: dict[str, list[dict]] = {}
    for row in read_metrics(run.path):
        rows.setdefault(row["stage"], []).append(row)
    found = {}
    for model in models:
        final = run.stage(model) / "final"
        history = rows.get(model, [])
        eers = [r.get("val_eer") for r in history]
        if not checkpoint_exists(final) or not any(e is not None and math.isfinite(e) for e in eers):
            continue
        kept = read_meta(final)["result"]["best_epoch"]
        if not 1 <= kept <= len(history) or not math.isfinite(history[kept - 1].get("val_eer", math.nan)):
            continue
        found[model] = {"eer": history[kept - 1]["val_eer"], "epoch": kept, "epochs": len(history),
                        "lowest": min(e for e in eers if e is not None and math.isfinite(e))}
    return found


def report_learning(run_dir: str | Path, models: Iterable[str]) -> list[str]:
    """Write RUN/train.log (validation EER of every detector model) with a warning for each one
    above BARELY_LEARNED_EER; print the warnings to stderr; return them."""
    run = RunDir(run_dir)
    lines, warnings = [], []
    for model, v in kept_val_eers(run.path, models).items():
        lines.append(f"{model}: val EER {100 * v['eer']:.1f} % at the kept epoch {v['epoch']} of {v['epochs']} "
                     f"(lowest {100 * v['lowest']:.1f} %)")
        if v["eer"] > BARELY_LEARNED_EER:
            warnings.append(f"warning: {model} val EER {100 * v['eer']:.1f} % at its best epoch "
                            f"(> {100 * BARELY_LEARNED_EER:.0f} %): the model barely learned; see {run.learning_curves}")
    write_text(run.train_log, "".join(f"{line}\n" for line in lines + warnings))
    for line in warnings:
        print(line, file=sys.stderr, flush=True)
    return warnings
