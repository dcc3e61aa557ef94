"""`raresound demo`: the main job end to end on the embedded synthetic default (no download).

synthesise clips of dog, baby, gunshot and background -> featurise into a store -> train the LSTM
baseline and the proposed method (Proposed1, Proposed2) on a reduced schedule, plus the reference probe
(pooled log-mel statistics + logistic regression, seconds), with the training and validation splits
subsampled to the paper's ratio dog=6 baby=1 gunshot=2 background=16 (the recipes' `data.ratio`) ->
evaluate on the test split -> one EER table and one overlaid DET plot -> then timestamped events: a
CRNN trained end to end on the clips' onset/offset labels (`train-sed`, configs/sed/demo.yaml), run
by `detect` on the test split joined into 30 min of audio, scored by `evaluate-events` (onset, 0.5-s
collar) and drawn by `plot` (runs/demo/timeline.png).

The test split is deliberately left richer in events than that ratio (EER does not depend on the class
ratio, but with a handful of test positives it would be noise). Before any audio is synthesised or
featurised, each split's clips per class (after each recipe's ratio) are checked: too few stops the
demo and says which --counts to raise. Every step is cached in --out, so re-running resumes instead
of recomputing.
"""

from __future__ import annotations

import time
from pathlib import Path

DEFAULT_CONFIGS = ("configs/demo/baseline.yaml", "configs/demo/proposed.yaml", "configs/demo/probe.yaml")
SED_CONFIG = "configs/sed/demo.yaml"
JOINED_CLIPS = 180  # 30 min of the test split's 10-s clips
# Train and val are subsampled to dog=6 baby=1 gunshot=2 background=16 by the recipes (baby limits: 840 dog clips give 504 for
# train at 0.6); baby is drawn richer so the test split holds 60 positives of each rare class.
DEFAULT_COUNTS = "dog=840,baby=240,gunshot=280,background=2240"


def register(sub) -> None:
    p = sub.add_parser("demo", help="synthesise data, train baseline + proposed (+ reference probe), print EERs (no download)",
                       description=__doc__)
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--counts", default=DEFAULT_COUNTS,
                   help=f"synthetic clips per class before the ratio is applied (default: {DEFAULT_COUNTS})")
    p.add_argument("--fractions", default="0.6,0.15,0.25", help="train,val,test shares by source (default: 0.6,0.15,0.25)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS),
                   help="training recipes or recipe suites to run (e.g. configs/compare-synthetic.yaml)")
    p.add_argument("--workers", type=int, default=2, help="processes for synthesis/featurisation")
    p.add_argument("--threads", type=int, help="torch intra-op threads for training (default: usable cores)")
    p.add_argument("--sed-config", default=SED_CONFIG,
                   help=f"train-sed config of the event-detection step (default: {SED_CONFIG}); 'none' skips the step")
    p.set_defaults(func=run)


def parse_fractions(text: str) -> tuple[float, ...]:
    from raresound.errors import ConfigError

    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError("--fractions", f"expected three comma-separated numbers, got {text!r}") from None


def check_plan(records, recipes) -> None:
    """Every recipe's splits, after its data.ratio, must be usable (data.checks) and the ratio
    feasible: checked on the planned clips, before anything is synthesised or featurised."""
    from raresound.data.checks import check_records, warn
    from raresound.data.manifest import class_names
    from raresound.data.ratio import subsample_to_ratio
    from raresound.errors import DataError
    from raresound.training.data import store_ratio

    classes, warnings = class_names(records), []
    for name, cfg in recipes:
        kept = records
        if cfg.data.ratio is not None:
            try:
                kept = subsample_to_ratio(records, store_ratio(cfg.data.ratio, cfg.data.classes, classes), cfg.seed)
            except DataError as exc:
                raise DataError(f"recipe {name}: {exc}; raise --counts") from None
        warnings += check_records(kept, classes, "raise --counts")
    warn(dict.fromkeys(warnings))  # recipes sharing a ratio share its warnings


def run(args) -> int:
    from raresound.config_schema import count, parse_pairs
    from raresound.data.manifest import read_manifest
    from raresound.data.ratio import format_ratio, parse_ratio
    from raresound.data.synthetic import synthesize_dataset
    from raresound.errors import ConfigError
    from raresound.evaluation.compare import compare_runs, compare_table
    from raresound.scoring import evaluate_run
    from raresound.store import build_store
    from raresound.training.config import REFERENCE_METHODS, load_recipes
    from raresound.training.recipes import train
    from raresound.training.threads import apply_threads

    out = Path(args.out)
    for path in args.configs:
        if not Path(path).exists():
            raise ConfigError(path, "demo recipe not found (run from the repository root, or pass --configs)")
    recipes = [r for path in args.configs for r in load_recipes(path, {"seed": args.seed})]  # validate first
    if args.sed_config != "none":
        from raresound.training.config import read_yaml
        from raresound.training.sed import sed_config

        sed = sed_config(read_yaml(args.sed_config, "train-sed config not found (run from the repository root, "
                                                    "or pass --sed-config)"))
    started = time.perf_counter()

    def step(msg: str) -> None:
        print(f"[demo {time.perf_counter() - started:6.1f}s] {msg}", flush=True)

    threads = apply_threads(args.threads, "--threads")
    counts = parse_pairs(args.counts, "--counts", "class=N items", count, keep_blank=True)
    fractions = parse_fractions(args.fractions)
    manifest = out / "data" / "manifest.csv"
    if not manifest.exists():
        step(f"synthesising {sum(counts.values())} clips ({args.counts}) ...")
        manifest = synthesize_dataset(out / "data", counts, seed=args.seed, fractions=fractions,
                                      workers=args.workers, check=lambda records: check_plan(records, recipes))
    else:
        check_plan(read_manifest(manifest), recipes)
    store = out / "store"
    step("featurising (64 log-mel bands, 25 ms / 10 ms, 1000 frames per clip) ...")
    report = build_store(manifest, store, workers=args.workers, progress=False)
    step(f"store ready: {report.summary()}")
    step(threads)
    runs = []
    for name, cfg in recipes:
        run_dir = out / "runs" / name
        what = "reference, no backbone" if cfg.method in REFERENCE_METHODS else cfg.model.backbone
        at = f" at {format_ratio(parse_ratio(cfg.data.ratio, cfg.data.classes))}" if cfg.data.ratio else ""
        step(f"training {cfg.method} ({what}){at} -> {run_dir}")
        train(cfg, store, run_dir)
        evaluate_run(run_dir, "test")
        runs.append(str(run_dir))
    step("test-split EER (lower is better):")
    print(compare_table(compare_runs(runs, "test", out / "compare")))
    if args.sed_config != "none":
        runs.append(str(_events_step(sed, args.sed_config, manifest, store, out, step)))
    step(f"done. DET plot: {out / 'compare' / 'det.png'}; runs: {', '.join(runs)}")
    return 0


def _events_step(config, label: str, manifest: Path, store: Path, out: Path, step) -> Path:
    """Timestamped events as a user gets them: train-sed (`config`, a validated SEDConfig read from
    `label`) on the strong labels, then the test split joined into 30 min of audio, `detect`,
    `evaluate-events` and a timeline plot, run through the same CLI (each command is printed as a
    user would type it)."""
    import soundfile as sf

    from raresound.cli import main
    from raresound.errors import ConfigError
    from raresound.training.sed import train_sed

    def user(*argv: str) -> None:
        step("$ raresound " + " ".join(argv))
        if main(list(argv)) != 0:
            raise ConfigError(argv[0], "the demo's event-detection step failed (see the message above)")

    run_dir = out / "runs" / "sed"
    step(f"sound event detection: training a CRNN end to end on the onset/offset labels ({label}) -> {run_dir}")
    bundle = str(train_sed(store, run_dir, config, progress=False, log=lambda msg: step(str(msg))))
    long_wav, reference, events = str(out / "long.wav"), str(out / "long.tsv"), str(out / "long-events.tsv")
    user("data", "join", str(manifest), "--out", long_wav, "--n-clips", str(JOINED_CLIPS))
    shown = min(120.0, sf.info(long_wav).duration)  # the plot: the first two minutes
    user("detect", bundle, long_wav, "--out", events, "--threads", "1")
    user("evaluate-events", reference, events)
    user("plot", long_wav, "--bundle", bundle, "--reference", reference, "--end", f"{shown:g}",
         "--out", str(out / "timeline.png"))
    return run_dir
