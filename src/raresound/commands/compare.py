"""`raresound compare RUN1 RUN2 ...`: one EER table and one overlaid DET plot across runs."""

from __future__ import annotations

from raresound.evaluation.compare import compare_runs, compare_table


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


def run(args) -> int:
    print(compare_table(compare_runs(args.runs, args.split, args.out, args.only_class)))
    print(f"written: {args.out}/ (eer.md, eer.json, det.png)")
    return 0
