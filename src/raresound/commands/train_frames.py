"""`raresound train-frames BUNDLE --data STORE`: add a frame-level head to a trained detector."""

from __future__ import annotations

from raresound.commands._flags import add_device_option


def register(sub) -> None:
    p = sub.add_parser(
        "train-frames",
        help="train a frame-level head (scores every 10-50 ms) on a trained detector, from onset/offset labels",
        description=("Freezes the bundle's backbone (its clip scores, EERs and calibrated clip thresholds stay as "
                     "they are) and trains a linear head per backbone step on the store's strong labels (manifest "
                     "onset/offset), then sets each class's frame threshold where its validation frame F1 is "
                     "highest and stores a 0.2-s median filter and a 0.3-s minimum gap as detect's defaults "
                     "(fixed, not tuned; for end-to-end training with thresholds and post-processing tuned on "
                     "validation events, see `raresound train-sed`). With --finetune-epochs the whole model then "
                     "trains on: a new clip model, whose calibrated clip thresholds are dropped. Writes a new "
                     "bundle (default BUNDLE-frames) that `raresound detect` runs in one pass over the audio."),
    )
    p.add_argument("bundle", help="trained bundle directory (e.g. RUN/models/proposed2)")
    p.add_argument("--data", required=True, help="feature store with train and val splits (the bundle's classes)")
    p.add_argument("--out", help="output bundle directory (default: BUNDLE-frames)")
    p.add_argument("--input", dest="head_input", choices=["e", "v"], default="e",
                   help="head input per step: e = embedding (default), v = cluster softmax (proposed bundles)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--finetune-epochs", type=int, default=0,
                   help="then train everything on frame + clip loss for up to N epochs (default 0: backbone frozen, "
                        "clip scores unchanged; > 0: a new clip model without calibrated clip thresholds: "
                        "evaluate and calibrate it again)")
    p.add_argument("--finetune-lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, help="torch threads (default: usable cores)")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.commands._flags import flag_names
    from raresound.training.frames import train_frame_head
    from raresound.training.threads import apply_threads

    print(apply_threads(args.threads, "--threads"))
    with flag_names(out_dir="--out", device="--device"):
        out = train_frame_head(args.bundle, args.data, args.out, head_input=args.head_input, epochs=args.epochs,
                               lr=args.lr, batch_size=args.batch_size, patience=args.patience, seed=args.seed,
                               finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
                               device=args.device)
    print(f"frame-level bundle: {out}")
    return 0
