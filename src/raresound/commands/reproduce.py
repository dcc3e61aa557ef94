"""`raresound reproduce --config CFG [--out DIR]`: the paper's tables and figures on real audio.

Builds the benchmark (import -> source-disjoint splits -> DCASE 2017 Task 2 mixtures -> one
feature store), trains every backbone x ratio x method x seed cell, evaluates each on the test
split and writes OUT/report/report.md (+ results.json, DET figures, the toy Fig 1). Everything is
cached and resumable: re-running the command never retrains a finished cell.
"""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="reproduce the paper's tables/figures on real audio (resumable)",
                       description=__doc__)
    p.add_argument("--config", required=True, help="reproduce config (see configs/reproduce/)")
    p.add_argument("--out", help="output directory (default: runs/reproduce/<config stem>)")
    p.add_argument("--report-only", action="store_true",
                   help="do not train; write the report from the cells finished so far")
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.reproduce import load_config, reproduce

    cfg = load_config(args.config)  # validated before any work
    out = Path(args.out) if args.out else Path("runs") / "reproduce" / Path(args.config).stem
    report = reproduce(cfg, out, log=lambda msg: print(msg, flush=True), report_only=args.report_only)
    print(f"written: {report / 'report.md'}")
    return 0
