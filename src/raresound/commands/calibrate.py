"""`raresound calibrate RUN_OR_BUNDLE --target ...`: per-class decision thresholds into the bundle."""

from __future__ import annotations

from raresound.commands._flags import add_device_option


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="choose per-class decision thresholds on validation data and store them in the bundle(s)",
        description=("Scores a store split (default: val, from the store the run was trained on) with each "
                     "bundle and picks, per class, the threshold meeting the target: eer (FPR = FNR), "
                     "far=X/h (at most X false alarms per hour of negative audio, each clip = clip_seconds) "
                     "or miss=X (at most a fraction X, or X%%, of positives missed). Rewrites bundle.json "
                     "atomically (thresholds + info.calibration); weights are untouched."),
    )
    p.add_argument("path", help="run directory (calibrates every model, or --model) or one bundle directory")
    p.add_argument("--target", required=True, help="eer | far=<x>/h | miss=<x>")
    p.add_argument("--split", default="val", help="store split to fit on (default: val)")
    p.add_argument("--model", help="only this model of the run")
    p.add_argument("--data", help="feature store (default: the run's, from run.json)")
    add_device_option(p)
    p.set_defaults(func=run)


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.4g}"


def run(args) -> int:
    from raresound.calibration import calibrate, parse_target
    from raresound.commands._flags import flag_names
    from raresound.export import STALE

    with flag_names(target="--target", model="--model", store="--data STORE", device="--device"):
        target = parse_target(args.target)
        print(f"target {target} on split '{args.split}'")
        records = calibrate(args.path, target, split=args.split, model=args.model, store=args.data,
                            device=args.device, log=print)
    print("| model | class | threshold | false alarms | FA/h | miss rate |")
    print("|---|---|---:|---:|---:|---:|")
    for name, record in records.items():
        for cls, s in record["classes"].items():
            print(f"| {name} | {cls} | {s['threshold']:.6g} | {s['false_alarms']}/{s['n_negative']} | "
                  f"{_fmt(s['far_per_hour'])} | {_fmt(s['miss_rate'])} |")
    print(f"thresholds written to {len(records)} bundle(s)")
    for record in records.values():
        for path, state in record["exports"]:
            if state == "skipped":
                print(f"export {path}: skipped (not an export side file of this bundle; export it again)")
            else:
                print(f"export {path}: " + ("thresholds updated" if state == "updated" else f"stale, {STALE}"))
    return 0
