"""`raresound demo`: the main job end to end on the embedded synthetic default (no download).

synthesise (ratio 6:1:2:16 over dog, baby, gunshot, background) -> featurise into a store ->
train the LSTM baseline and the proposed method (Proposed1, Proposed2) on a reduced schedule ->
evaluate on the test split -> one EER table and one overlaid DET plot.
Every step is cached in --out, so re-running resumes instead of recomputing.
"""

from __future__ import annotations

import time
from pathlib import Path

DEFAULT_CONFIGS = ("configs/demo/baseline.yaml", "configs/demo/proposed.yaml")


def register(sub) -> None:
    p = sub.add_parser("demo", help="synthesise data, train baseline + proposed, print EERs (no download)",
                       description=__doc__)
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--n-clips", type=int, default=500, help="synthetic clips in total (default: 500)")
    p.add_argument("--ratio", default="6:1:2:16", help="dog:baby:gunshot:background (default: 6:1:2:16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help="training recipes to run")
    p.add_argument("--workers", type=int, default=2, help="processes for synthesis/featurisation")
    p.set_defaults(func=run)


def run(args) -> int:
    from raresound.commands.compare import compare_runs
    from raresound.data.synthetic import synthesize_dataset
    from raresound.errors import ConfigError
    from raresound.scoring import evaluate_run
    from raresound.store import build_store
    from raresound.training.config import load_config
    from raresound.training.recipes import train

    out = Path(args.out)
    for path in args.configs:
        if not Path(path).exists():
            raise ConfigError(path, "demo recipe not found (run from the repository root, or pass --configs)")
    configs = [load_config(path, {"seed": args.seed}) for path in args.configs]  # validate first
    started = time.perf_counter()

    def step(msg: str) -> None:
        print(f"[demo {time.perf_counter() - started:6.1f}s] {msg}", flush=True)

    manifest = out / "data" / "manifest.csv"
    if not manifest.exists():
        step(f"synthesising {args.n_clips} clips at {args.ratio} ...")
        manifest = synthesize_dataset(out / "data", ratio=args.ratio, n_clips=args.n_clips, seed=args.seed,
                                      workers=args.workers)
    store = out / "store"
    step("featurising (64 log-mel bands, 25 ms / 10 ms, 1000 frames per clip) ...")
    report = build_store(manifest, store, workers=args.workers, progress=False)
    step(f"store ready: {report}")
    runs = []
    for path, cfg in zip(args.configs, configs):
        run_dir = out / "runs" / Path(path).stem
        step(f"training {cfg.method} ({cfg.model.backbone}) -> {run_dir}")
        train(cfg, store, run_dir)
        evaluate_run(run_dir, "test")
        runs.append(str(run_dir))
    step("test-split EER (lower is better):")
    compare_runs(runs, "test", out / "compare")
    step(f"done. DET plot: {out / 'compare' / 'det.png'}; runs: {', '.join(runs)}")
    return 0
