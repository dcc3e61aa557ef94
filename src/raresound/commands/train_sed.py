"""`raresound train-sed --data STORE --out DIR`: a sound event detector trained end to end on strong labels."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "train-sed",
        help="train a sound event detector (CRNN by default) end to end on onset/offset labels",
        description=("Trains every layer of a frame-level detector on the store's strong labels (manifest "
                     "onset/offset): the CRNN of DCASE 2017 Task 2 (conv blocks with frequency pooling, "
                     "bidirectional GRU, per-step sigmoid outputs; `model.kwargs.bidirectional: false` for the "
                     "causal, streamable variant) or a paper backbone (model.backbone: lstm | cnn). Early "
                     "stopping on the validation loss; then per class the decision threshold, median filter, "
                     "minimum gap and minimum duration are chosen to maximise validation event F1 (onset, "
                     "0.5-s collar) and stored in the bundle DIR/model, which `raresound detect` runs in one "
                     "pass. A re-run resumes from DIR/training."),
    )
    p.add_argument("--data", required=True, help="feature store with train and val splits (strong labels)")
    p.add_argument("--out", required=True, help="output directory (bundle in OUT/model)")
    p.add_argument("--config", help="YAML config (configs/sed/*.yaml); default: the CRNN defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set epochs=5 --set model.kwargs.hidden_size=32")
    p.add_argument("--remix-sources", metavar="MANIFEST",
                   help="isolated events and backgrounds for augment.remix (its train split), e.g. a "
                        "`bench events` build's data/sources/manifest.csv")
    p.add_argument("--remix-span", default="active", choices=("active", "single"),
                   help="how remixed events are trimmed: active = first to last sound, single = loudest "
                        "occurrence (as the protocol's --event-span)")
    p.add_argument("--threads", type=int, help="torch threads (default: usable cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.training.config import apply_overrides, read_yaml
    from raresound.training.sed import parse_sed_override, sed_config, train_sed
    from raresound.training.threads import apply_threads

    data = read_yaml(args.config) if args.config else {}
    data = apply_overrides(data or {}, dict(parse_sed_override(item) for item in args.set))
    cfg = sed_config(data)
    print(apply_threads(args.threads, "--threads"))
    bundle = train_sed(args.data, args.out, cfg, remix_sources=args.remix_sources, remix_span=args.remix_span,
                       progress=not args.no_progress)
    print(f"sound event detector: {bundle}")
    return 0
