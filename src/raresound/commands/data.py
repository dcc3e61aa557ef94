"""`raresound data synth|mix|import|merge|ratio|join`: build, import, merge and rebalance data sets (manifests)."""

from __future__ import annotations

import argparse
from pathlib import Path

SOURCES = ("esc50", "urbansound8k", "audioset", "dcase2017", "folder", "paper-classes")


def register(sub) -> None:
    p = sub.add_parser("data", help="build, import and rebalance data sets (manifests)",
                       description="Data set tools. Every subcommand writes audio and/or a manifest CSV "
                                   "(path,labels,split,source_id,duration,onset,offset).")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True
    _register_synth(data_sub)
    _register_mix(data_sub)
    _register_import(data_sub)
    _register_merge(data_sub)
    _register_ratio(data_sub)
    _register_join(data_sub)


def _register_synth(sub) -> None:
    p = sub.add_parser("synth", help="synthesise the embedded dog/baby/gunshot data set (no download)",
                       description="Seeded procedural dog barks, baby cries and gunshots mixed into varied 10-s "
                                   "backgrounds; split 70/20/10 by source family. Writes OUT/audio/, "
                                   "OUT/manifest.csv and OUT/synthesis.json.")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--ratio", default="dog=6,baby=1,gunshot=2,background=16",
                   help="clip ratio, named (default dog=6,baby=1,gunshot=2,background=16) or positional in the "
                        "order dog:baby:gunshot:background (e.g. 6:1:2:16)")
    p.add_argument("--n-clips", type=int, default=500, help="clips in total (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ebr-db", nargs="+", type=float, default=[-6.0, 0.0, 6.0], metavar="DB",
                   help="event-to-background ratios to draw from per clip (default -6 0 6, the DCASE 2017 Task 2 recipe)")
    p.add_argument("--ebr-db-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="draw the EBR uniformly from LOW..HIGH dB instead (e.g. -15 5 for a harder set)")
    p.add_argument("--format", choices=("wav", "flac"), default="wav", help="16-bit audio format")
    p.add_argument("--workers", type=int, default=2, help="processes (output does not depend on it)")
    p.set_defaults(func=run_synth)


def _register_mix(sub) -> None:
    p = sub.add_parser("mix", help="mix real isolated events into real backgrounds (DCASE 2017 Task 2 recipe)",
                       description="One event per positive clip at a uniform onset and an EBR drawn from --ebr-db "
                                   "(RMS over the event span); background-only clips; no clipping; material "
                                   "drawn only from the clip's own split. Writes OUT/audio/<split>/, "
                                   "OUT/manifest.csv, OUT/mixtures.csv (recipes), OUT/report.csv (skipped).")
    p.add_argument("--events", required=True, help="manifest whose single-label clips are the isolated events")
    p.add_argument("--backgrounds", help="manifest whose unlabelled clips are the backgrounds (default: --events)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--counts", help="clips per class over all splits, e.g. dog=500,gunshot=500,background=1000 "
                                    "(default: one per event, one background clip per clip length of material)")
    p.add_argument("--ebr-db", nargs="+", type=float, default=[-6.0, 0.0, 6.0], metavar="DB",
                   help="EBR values to draw from (default -6 0 6)")
    p.add_argument("--clip-seconds", type=float, default=10.0)
    p.add_argument("--resplit", action="store_true",
                   help="re-assign train/val/test by source (70/20/10) instead of keeping the manifests' splits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("wav", "flac"), default="wav")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--event-span", choices=("active", "single"), default="active",
                   help="active: an event clip from its first to its last sound (default); single: only its "
                        "loudest occurrence, so onset/offset bound one sound (for frame-level training)")
    p.set_defaults(func=run_mix)


def _register_import(sub) -> None:
    p = sub.add_parser("import", help="import a public data set into a manifest",
                       description="Import ESC-50 (meta/esc50.csv or esc50_subset.csv + audio/), UrbanSound8K "
                                   "(metadata/UrbanSound8K.csv + audio/foldN/), AudioSet (segments CSV + folder of "
                                   "clips named YTID[_start]), DCASE 2017 Task 2 (event_list*.csv + mixtures), a "
                                   "folder per class, or paper-classes (ROOT holding esc50-subset, esc50-more and "
                                   "urbansound8k-subset: dog, baby, gunshot with unified labels, one data set). Splits by source recording. Missing/unreadable clips are "
                                   "skipped and listed in <out>.skipped.csv; extra metadata (e.g. folds) goes "
                                   "to <out>.meta.csv.")
    p.add_argument("source", choices=SOURCES, help="data set layout")
    p.add_argument("root", help="data set root directory")
    p.add_argument("--out", required=True, help="manifest to write")
    p.add_argument("--label-map", help="CLASS=LABEL pairs, e.g. dog=dog,crying_baby=baby (default: per data set)")
    p.add_argument("--other", choices=("background", "exclude"), default="background",
                   help="what unmapped classes become (not for dcase2017)")
    p.add_argument("--fractions", nargs=3, type=float, default=(0.7, 0.2, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--segments", help="audioset: segments CSV (default: the *segments*.csv in ROOT)")
    p.add_argument("--background-folder", default="background", help="folder: name of the background folder")
    p.add_argument("--source-regex", help="folder: regex whose group 1 of the file stem is the source recording")
    p.add_argument("--default-split", default="train", help="dcase2017: split of lists named without a set")
    p.set_defaults(func=run_import)


def _register_merge(sub) -> None:
    p = sub.add_parser("merge", help="merge imported manifests into one data set, re-split by recording",
                       description="Unifies labels (dog_bark -> dog, gun_shot -> gunshot, crying_baby -> baby, then "
                                   "--label-map), keeps one row per clip listed by several manifests, gives "
                                   "ESC-50 src_file and UrbanSound8K fsID (both Freesound ids) one id "
                                   "freesound-<id>, and assigns train/val/test again by source recording, per "
                                   "class: no recording is in two splits, whichever data set or root it came from.")
    p.add_argument("manifests", nargs="+", metavar="MANIFEST", help="manifests written by `data import`")
    p.add_argument("--out", required=True, help="merged manifest to write")
    p.add_argument("--fractions", nargs=3, type=float, default=(0.7, 0.2, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label-map", help="LABEL=NEW pairs applied after the built-in unification, e.g. glass=glass_breaking")
    p.add_argument("--exclude", help="comma-separated labels whose clips are left out (after unification), e.g. glass")
    p.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from raresound.data.checks import check_records, warn
    from raresound.data.manifest import SPLITS, class_names, write_manifest
    from raresound.data.merge import merge_manifests
    from raresound.data.ratio import parse_classes
    from raresound.data.sources import parse_label_map
    from raresound.data.summary import format_sources, format_summary

    exclude = parse_classes(args.exclude, "--exclude") if args.exclude else []
    records = merge_manifests(args.manifests, parse_label_map(args.label_map, {}), exclude,
                              args.fractions, args.seed)
    # Only warnings: a merged set short of a class in a split is still worth writing and inspecting.
    warn(check_records(records, class_names(records), warn_only=SPLITS, where=args.out))
    write_manifest(records, args.out)
    print(format_summary(records))
    print(format_sources(records))
    print(f"written: {args.out} ({len(records)} clips from {len(args.manifests)} manifests)")
    return 0


def _register_ratio(sub) -> None:
    p = sub.add_parser("ratio", help="subsample a manifest to an exact class ratio",
                       description="Keeps, per split, k*ratio clips of each class with k maximal; deterministic "
                                   "from --seed. The test split is kept as is unless --include-test.")
    p.add_argument("manifest")
    p.add_argument("--ratio", required=True,
                   help="every class of the manifest and background, named: e.g. dog=2,baby=2,gunshot=1,background=26 "
                        "(weight 0 drops a class); a positional 2:2:1:26 needs --classes")
    p.add_argument("--classes", help="order of a positional --ratio, 'background' = unlabelled clips, "
                                     "e.g. dog,baby,gunshot,background")
    p.add_argument("--out", required=True, help="manifest to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--include-test", action="store_true", help="subsample the test split too")
    p.set_defaults(func=run_ratio)


def _summary(manifest, classes=None) -> None:
    from raresound.data.summary import format_summary
    from raresound.data.manifest import read_manifest

    print(format_summary(read_manifest(manifest), classes))


def run_synth(args: argparse.Namespace) -> int:
    from raresound.data.checks import check_records, warn
    from raresound.data.ratio import BACKGROUND, format_ratio, parse_ratio
    from raresound.data.synthetic import CLASSES, synthesize_dataset

    ratio = parse_ratio(args.ratio, CLASSES)
    print(f"ratio {format_ratio(ratio)} over {args.n_clips} clips")
    wanted = [c for c, w in ratio.items() if c != BACKGROUND and w > 0]  # weight 0 drops a class on purpose
    # The plan's splits are checked before any audio is rendered.
    manifest = synthesize_dataset(args.out, ratio=ratio, n_clips=args.n_clips, seed=args.seed,
                                  ebr_db=args.ebr_db, ebr_db_range=args.ebr_db_range,
                                  audio_format=args.format, workers=args.workers,
                                  check=lambda records: warn(check_records(records, wanted, "raise --n-clips")))
    _summary(manifest, list(ratio))
    print(f"written: {manifest}")
    return 0


def run_mix(args: argparse.Namespace) -> int:
    from raresound.data.manifest import read_manifest
    from raresound.config_schema import count, parse_pairs
    from raresound.data.mixtures import mix_dataset
    from raresound.data.sources import events_and_backgrounds

    counts = None if args.counts is None else parse_pairs(args.counts, "counts", "CLASS=N pairs", count)
    events, _ = events_and_backgrounds(read_manifest(args.events))
    _, backgrounds = events_and_backgrounds(read_manifest(args.backgrounds or args.events))
    result = mix_dataset(events, backgrounds, args.out, counts, ebr_db=args.ebr_db,
                         clip_seconds=args.clip_seconds, resplit=args.resplit, seed=args.seed,
                         audio_format=args.format, workers=args.workers, event_span=args.event_span)
    _summary(result.manifest)
    if result.skipped:
        print(f"skipped {len(result.skipped)} source file(s); see {Path(args.out) / 'report.csv'}")
    print(f"written: {result.manifest}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from raresound.data.manifest import write_manifest
    from raresound.data.sources import get_importer
    from raresound.errors import ConfigError
    from raresound.io import write_csv

    options = {"label_map": args.label_map, "fractions": args.fractions, "seed": args.seed}
    if args.source == "paper-classes":  # its labels are fixed (dog, baby, gunshot; backgrounds)
        if args.label_map or args.other != "background":
            raise ConfigError("--label-map" if args.label_map else "--other",
                              "paper-classes unifies its labels itself; use `data merge` to map them further")
        options.pop("label_map")
    elif args.source != "dcase2017":
        options["other"] = args.other
    if args.source == "audioset":
        options["segments"] = args.segments
    elif args.source == "folder":
        options.update(background=args.background_folder, source_regex=args.source_regex)
    elif args.source == "dcase2017":
        options["default_split"] = args.default_split
    result = get_importer(args.source)(args.root, **options)
    out = Path(args.out)
    write_manifest(result.records, out)
    base = out.with_suffix("")
    if result.skipped:
        write_csv(f"{base}.skipped.csv", ["path", "reason"], result.skipped)
        print(f"skipped {len(result.skipped)} clip(s); see {base}.skipped.csv")
    if result.metadata:
        columns = sorted({k for m in result.metadata.values() for k in m})
        rows = [[p, *(m.get(c, "") for c in columns)] for p, m in result.metadata.items()]
        write_csv(f"{base}.meta.csv", ["path", *columns], rows)
    _summary(out)
    print(f"written: {out}")
    return 0


def run_ratio(args: argparse.Namespace) -> int:
    from raresound.data.checks import check_records, warn
    from raresound.data.manifest import SPLITS, class_names, read_manifest, write_manifest
    from raresound.data.ratio import BACKGROUND, check_ratio_classes, format_ratio, parse_ratio, subsample_to_ratio

    ratio = parse_ratio(args.ratio, args.classes)
    records = read_manifest(args.manifest)
    check_ratio_classes(ratio, [*class_names(records), BACKGROUND], where="the manifest's classes")
    print(f"ratio {format_ratio(ratio)}")
    splits = ("train", "val", "test") if args.include_test else ("train", "val")
    kept = subsample_to_ratio(records, ratio, seed=args.seed, splits=splits)
    # Every weighted class is in the subsampled splits (k >= 1); what is left to judge is how few.
    wanted = [c for c, w in ratio.items() if c != BACKGROUND and w > 0]
    warn(check_records(kept, wanted, warn_only=SPLITS))
    write_manifest(kept, args.out)
    _summary(args.out, list(ratio))
    print(f"written: {args.out}")
    return 0


JOIN_CROSSFADE = 0.25


def _register_join(sub) -> None:
    p = sub.add_parser("join", help="join clips of a split into one long WAV + its reference event list",
                       description="A seeded draw of --n-clips clips of --split, written end to end as one "
                                   "16-bit WAV, and their events (manifest onset/offset, or the whole clip) as a "
                                   "DCASE event list: audio with known events for `detect` and `evaluate-events`.")
    p.add_argument("manifest")
    p.add_argument("--out", required=True, help="WAV file to write")
    p.add_argument("--events", help="reference event list to write (default: OUT with suffix .tsv)")
    p.add_argument("--split", default="test", help="split to draw from (default: test)")
    p.add_argument("--n-clips", type=int, default=12, help="clips to join (default 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crossfade", type=float, default=JOIN_CROSSFADE, metavar="SECONDS",
                   help=f"consecutive clips overlap by this much under equal-power ramps (default {JOIN_CROSSFADE:g}); "
                        "0 butt-splices them, a step in the background that impulse detectors fire on")
    p.set_defaults(func=run_join)


def run_join(args: argparse.Namespace) -> int:
    from raresound.commands._flags import flag_names
    from raresound.data.join import join_clips

    with flag_names(n_clips="--n-clips", crossfade="--crossfade"):
        wav, events_path, seconds, events = join_clips(args.manifest, args.out, args.events, args.split,
                                                       args.n_clips, args.seed, crossfade=args.crossfade)
    print(f"written: {wav} ({seconds:.1f} s) and {events_path} ({len(events)} events)")
    return 0
