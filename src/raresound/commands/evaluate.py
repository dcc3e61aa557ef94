"""`raresound evaluate RUN`: per-class DET/EER of every model in a run."""

from __future__ import annotations

from raresound.commands._flags import add_device_option


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score a split with every model of a run; EER table + DET plot",
                       description="Writes RUN/eval/<split>/{eer.json,eer.md,det.png,<model>.scores.npy}.")
    p.add_argument("run", help="run directory (from `raresound train`)")
    p.add_argument("--split", default="test", help="store split to evaluate (default: test)")
    p.add_argument("--data", help="feature store (default: the one the run was trained on)")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.commands._flags import flag_names
    from raresound.evaluation import eer_table_markdown
    from raresound.runs import RunDir
    from raresound.scoring import evaluate_run

    with flag_names(store_dir="--data STORE", device="--device"):
        results = evaluate_run(args.run, args.split, args.data, args.device, log=print)
    print(eer_table_markdown(results, next(iter(results.values()))["classes"]))
    print(f"written: {RunDir(args.run).eval(args.split)}/ (eer.md, eer.json, det.png)")
    return 0
