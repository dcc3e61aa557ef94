"""`raresound export BUNDLE --format onnx|torchscript`: the network after the log-mel front end."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a bundle's network to ONNX or TorchScript (input: log-mel [batch, frames, mels])",
        description=("Exports log-mel features [batch, W, M] -> event scores [batch, L] (dynamic batch). "
                     "The training normaliser is baked in unless --external-normalizer. Writes "
                     "<out> and <out>.json (classes, thresholds, feature config, normaliser)."),
    )
    p.add_argument("bundle", help="model bundle directory")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("--out", help="output path (default: BUNDLE/model.onnx or BUNDLE/model.torchscript.pt)")
    p.add_argument("--external-normalizer", action="store_true",
                   help="do not bake the normaliser in: the input must be normalised features")
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.bundle import bundle_lock, load_bundle
    from raresound.runs import lock_dir
    from raresound.export import export_bundle

    # Loaded under the run's lock: a `calibrate` cannot rewrite the thresholds between the load and
    # the side file, nor a `train` the weights.
    with bundle_lock(lock_dir(args.bundle), "export"):
        bundle = load_bundle(args.bundle)
        out = export_bundle(bundle, args.format, args.out, bake_normalizer=not args.external_normalizer)
    print(f"exported {args.format}: {out} (+ {out.name}.json)")
    return 0
