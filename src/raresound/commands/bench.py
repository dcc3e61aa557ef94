"""`raresound bench events`: the DCASE 2017 Task 2 protocol benchmark in one command."""

from __future__ import annotations

DEFAULT_CONFIG = "configs/sed/crnn.yaml"


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks run end to end on built data (bench events)",
                       description="End-to-end benchmarks. `bench events`: the DCASE 2017 Task 2 protocol.")
    kinds = p.add_subparsers(dest="bench", metavar="BENCHMARK")
    kinds.required = True
    e = kinds.add_parser(
        "events",
        help="DCASE 2017 Task 2 protocol: build mixtures, train a sound event detector, score events",
        description=("Builds DCASE 2017 Task 2-style data (per class a devtrain and a devtest set of 30-s "
                     "mixtures, event presence 0.5, EBR -6/0/+6 dB, event and background recordings disjoint "
                     "between train, val and test), featurises it, trains a sound event detector end to end "
                     "(train-sed; the CRNN by default), decodes devtest as `raresound detect` does and reports "
                     "per class and class-averaged event-based ER and F1 (onset only, 0.5-s collar), PSDS1 and "
                     "the median onset/offset error, as OUT/results.md and OUT/results.json. Every stage is "
                     "cached under OUT: a re-run resumes."),
    )
    e.add_argument("--data", default="synth", choices=("synth", "esc50", "dcase2017"),
                   help="synth: procedural events (no download); esc50: ESC-50 + UrbanSound8K events over "
                        "ESC-50 backgrounds (--data-root); dcase2017: the TUT Rare Sound Events 2017 "
                        "development set (--dcase-root)")
    e.add_argument("--out", required=True, help="output directory (data/, store/, sed/, results.md, results.json)")
    e.add_argument("--per-class", type=int, help="mixtures per class in devtrain and in devtest (default 500; "
                                                  "--quick: 40)")
    e.add_argument("--quick", action="store_true", help="CI size: 40 + 40 mixtures per class, 4 epochs")
    e.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"train-sed YAML config (default: {DEFAULT_CONFIG}; 'none': the SEDConfig defaults)")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a train-sed config field, e.g. --set epochs=10")
    e.add_argument("--event-span", default="active", choices=("active", "single"),
                   help="what an event clip contributes (synth, esc50): active = first to last sound; single = "
                        "its loudest occurrence (one bark of a barking clip), so onset/offset bound one sound")
    e.add_argument("--train-sources", type=float, action="append", metavar="FRACTION",
                   help="share of each class's training event recordings to mix into train (synth, esc50; "
                        "default 1); val and test stay the same. Given several times: a learning curve, each "
                        "point in OUT/train-sources-NNN, the table in OUT/learning_curve.md")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--data-root", default="../shared/data", help="folder holding esc50-subset/, esc50-more/, "
                                                                 "urbansound8k-subset/ (--data esc50)")
    e.add_argument("--dcase-root", help="TUT Rare Sound Events 2017 development folder (--data dcase2017)")
    e.add_argument("--workers", type=int, default=2, help="processes for mixing and featurising")
    e.add_argument("--threads", type=int, help="torch threads (default: usable cores)")
    e.add_argument("--progress", action="store_true", help="progress bars")
    e.set_defaults(func=run)


def run(args) -> int:
    from raresound.reproduce.events import event_benchmark, event_learning_curve, quick_settings
    from raresound.training.config import apply_overrides, read_yaml
    from raresound.training.sed import parse_sed_override
    from raresound.training.threads import apply_threads

    config = {} if args.config == "none" else read_yaml(
        args.config, "train-sed config not found (run from the repository root, or pass --config)")
    per_class = args.per_class
    if args.quick:  # the CI sizes replace the config's schedule; --set still overrides them
        per_class, config = quick_settings(per_class, config or {})
    config = apply_overrides(config or {}, dict(parse_sed_override(item) for item in args.set))
    print(apply_threads(args.threads, "--threads"))
    common = dict(per_class=500 if per_class is None else per_class, config=config, seed=args.seed,
                  data_root=args.data_root, dcase_root=args.dcase_root, workers=args.workers,
                  event_span=args.event_span, progress=args.progress)
    fractions = args.train_sources or [1.0]
    if len(fractions) > 1:
        event_learning_curve(args.data, args.out, fractions, **common)
    else:
        event_benchmark(args.data, args.out, train_sources=fractions[0], **common)
    return 0
