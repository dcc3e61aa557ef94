"""`raresound toy`: the paper's Fig 1 — Algorithm 1 on a 1000-point, 3-class (1:1:4) toy set with a
3-unit LSTM whose L2-normalised output lives on the unit sphere in R^3.

Writes one sphere-scatter PNG per Algorithm-1 round (plus round_0.png, the untrained embedding) and
toy.json with per-round metrics (held-out 1-NN accuracy, cluster sizes, Eq 3 fraction). Re-running
the same command in the same --out directory resumes from the stored checkpoints.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("toy", help="paper Fig 1: clustered embedding of a 3-class toy set on the unit sphere",
                       description=__doc__)
    p.add_argument("--out", required=True, help="output directory (PNGs, toy.json, checkpoints)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, model and clustering (default: 0)")
    p.add_argument("--rounds", type=int, default=3, help="Algorithm-1 rounds (default: 3)")
    p.add_argument("--epochs", type=int, default=None,
                   help="end-to-end THCE epochs per round (default: 6)")
    p.add_argument("--progress", action="store_true", help="show per-epoch progress of the training loop")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from raresound.commands._flags import flag_names
    from raresound.toy import run_toy

    overrides = {} if args.epochs is None else {"e2e_epochs": args.epochs}
    with flag_names(out_dir="--out"):
        report = run_toy(args.out, seed=args.seed, n_rounds=args.rounds, progress=args.progress, **overrides)
    layout = report["input_layout"]
    print(f"toy: {sum(report['class_counts'].values())} points "
          f"({', '.join(f'{n} {k}' for k, n in report['class_counts'].items())}), "
          f"LSTM input {layout['frames']} frames x {layout['features_per_frame']} features")
    for row in report["rounds"]:
        line = f"round {row['round']}: held-out 1-NN accuracy {row['knn1_accuracy']:.3f}"
        if row["round"] > 0:
            line += (f", cluster sizes {row['cluster_sizes']}, "
                     f"Eq 3 fraction {row['eq3_fraction_learned_columns']:.3f}, "
                     f"large-class sub-mode purity {row['large_class_submodes']['purity']:.2f}")
        print(line)
    out = Path(args.out)
    print(f"wrote {out / 'toy.json'} and {len(report['rounds'])} PNGs in {report['seconds']:.1f} s")
    return 0
