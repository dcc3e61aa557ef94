"""`raresound compare RUN1 RUN2 ...`: one EER table and one overlaid DET plot across runs."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("compare", help="one EER table + overlaid DET plot across evaluated runs",
                       description="Reads RUN/eval/<split>/ of each run (evaluate first) and writes the "
                                   "combined table (Markdown + JSON; per-class EER with 95 %% bootstrap "
                                   "intervals and test positives) and DET plot to --out.")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--split", default="test")
    p.add_argument("--out", default="runs/compare", help="output directory")
    p.add_argument("--class", dest="only_class", help="plot only this class (default: every class)")
    p.set_defaults(func=run)


def compare_runs(runs, split: str, out: str | Path, only_class: str | None = None) -> dict:
    from raresound.errors import DataError
    from raresound.evaluation import eer_intervals, eer_table_markdown, plot_scored_det, write_eer_report
    from raresound.scoring import load_eval, load_scores
    from raresound.training.config import REFERENCE_METHODS

    results, scored, classes = {}, {}, None
    for run in runs:
        for model, res in load_eval(run, split).items():
            key = model if len(runs) == 1 else f"{Path(run).name}/{model}"
            if key in results:
                key = f"{run}/{model}"
            if model in REFERENCE_METHODS:  # a yardstick beside the detectors, not a competitor
                key = f"{key} (reference)"
            classes = classes or res["classes"]
            if res["classes"] != classes:
                raise DataError(f"{run}: classes {res['classes']} differ from {classes}")
            scored[key] = load_scores(run, model, split)
            results[key] = {**res, **eer_intervals(*scored[key], classes)}  # 1000 resamples, seed 0
    write_eer_report(results, out, classes)
    print(eer_table_markdown(results, classes))
    plot_scored_det(scored, classes, Path(out) / "det.png", title=f"DET ({split})", only_class=only_class)
    return results


def run(args) -> int:
    compare_runs(args.runs, args.split, args.out, args.only_class)
    print(f"written: {args.out}/ (eer.md, eer.json, det.png)")
    return 0
