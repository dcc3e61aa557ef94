"""One EER table and one overlaid DET plot across evaluated runs (`raresound compare`, `raresound demo`)."""

from __future__ import annotations

from pathlib import Path


def compare_runs(runs, split: str, out: str | Path, only_class: str | None = None) -> dict:
    """Reads RUN/eval/<split>/ of each run; writes OUT/eer.md, eer.json (per-class EER with 95 %
    bootstrap intervals) and det.png; returns the table's rows, {label: result} (see `compare_table`)."""
    from raresound.errors import DataError
    from raresound.evaluation import eer_intervals, plot_scored_det, write_eer_report
    from raresound.scoring import load_eval, load_scores
    from raresound.training.methods import REFERENCE_MODELS

    results, scored, classes = {}, {}, None
    for run in runs:
        for model, res in load_eval(run, split).items():
            key = model if len(runs) == 1 else f"{Path(run).name}/{model}"
            if key in results:
                key = f"{run}/{model}"
            if model in REFERENCE_MODELS:  # a yardstick beside the detectors, not a competitor
                key = f"{key} (reference)"
            classes = classes or res["classes"]
            if res["classes"] != classes:
                raise DataError(f"{run}: classes {res['classes']} differ from {classes}")
            scored[key] = load_scores(run, model, split)
            results[key] = {**res, **eer_intervals(*scored[key], classes)}  # 1000 resamples, seed 0
    write_eer_report(results, out, classes)
    plot_scored_det(scored, classes, Path(out) / "det.png", title=f"DET ({split})", only_class=only_class)
    return results


def compare_table(results: dict) -> str:
    """The Markdown EER table of `compare_runs`'s results."""
    from raresound.evaluation import eer_table_markdown

    classes = next(iter(results.values()))["classes"] if results else None
    return eer_table_markdown(results, classes)
