"""`raresound train`: train one method from a YAML recipe on a feature store."""

from __future__ import annotations

from raresound.commands._flags import add_device_option
from raresound.training.config import METHODS, load_config, parse_override


def register(sub) -> None:
    p = sub.add_parser("train", help="train a detector (baseline, proposed, competitors) on a feature store",
                       description="Train the method of a YAML recipe on a feature store. Re-running the same "
                                   "command into the same --out resumes an interrupted run from its stage "
                                   "checkpoints (no flag needed); finished stages are never retrained. A run "
                                   "directory trained with another config or store is refused (naming the differing "
                                   "fields); one train at a time per --out.")
    p.add_argument("--config", required=True, help="YAML recipe (see configs/)")
    p.add_argument("--data", required=True, help="feature store directory (from `raresound features`)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--method", choices=METHODS, help="override the recipe's method")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    add_device_option(p, default=None, default_text="the recipe's training.device")
    p.add_argument("--workers", type=int, help="data loader worker processes (training.num_workers)")
    p.add_argument("--threads", type=int,
                   help="torch intra-op threads (default: usable cores / local processes)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any recipe field, e.g. --set training.max_epochs=3 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def overrides_from_args(args) -> dict:
    overrides = dict(parse_override(item) for item in args.set)
    if args.method:
        overrides["method"] = args.method
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.device:
        overrides["training.device"] = args.device
    if args.workers is not None:
        overrides["training.num_workers"] = args.workers
    if getattr(args, "no_progress", False):
        overrides["training.progress"] = False
    return overrides


def run(args) -> int:
    from raresound.commands._flags import flag_names
    from raresound.devices import auto_device
    from raresound.training import distributed as dist
    from raresound.training.recipes import train
    from raresound.training.threads import apply_threads

    cfg = load_config(args.config, overrides_from_args(args))  # validated before any work
    device = auto_device(cfg.training.device)  # decides the backend: NCCL on GPUs, gloo on CPU
    owned = not dist.is_distributed()  # a caller's process group is the caller's to destroy
    dist.init_from_env(device)
    try:
        threads = apply_threads(args.threads, "--threads")
        if dist.is_main():
            print(threads, flush=True)
        with flag_names(run_dir="--out"):
            bundles = train(cfg, args.data, args.out)
        if dist.is_main():
            for name, path in bundles.items():
                print(f"{name}: {path}")
    finally:
        if owned:
            dist.destroy()
    return 0
