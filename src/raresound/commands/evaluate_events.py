"""`raresound evaluate-events REF [EST]`: DCASE event-based (onset, or onset and offset) and
segment-based error rate and F1 of an estimated event list, and threshold-free PSDS of frame-level
score files."""

from __future__ import annotations

import math
from pathlib import Path

ONSET_COLLAR = 0.5  # DCASE 2017 Task 2, the onset-only setting this command has always used
OFFSET_COLLAR = 0.2  # DCASE's onset + offset setting (with 20 % of the length for offsets)
PERCENTAGE_OF_LENGTH = 0.2
MIN_SEGMENT = 0.001  # finer than a millisecond says nothing on 10-ms features, and only costs memory


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate-events",
        help="event-based and segment-based error rate and F1, and PSDS, against a reference event list",
        description=("Event-based metrics (sed_eval definitions): an estimate hits a reference event of the same "
                     "file and label when their onsets differ by at most the collar (0.5 s, DCASE 2017 Task 2) "
                     "or, with --offset, when onsets differ by at most the collar (0.2 s) and offsets by at most "
                     "max(collar, percentage of the reference length). --segment adds segment-based metrics, "
                     "--scores the threshold-free PSDS of frame-level score files (DCASE 2021-2023 scenario 1). "
                     "Event lists: filename, onset, offset, event_label (tab or comma separated)."),
    )
    p.add_argument("reference", help="reference event list")
    p.add_argument("estimated", nargs="?",
                   help="estimated event list (e.g. from `raresound detect --out`), or detect's JSON output "
                        "(`detect --json`); a directory here is taken as --scores")
    p.add_argument("--collar", type=float,
                   help=f"onset collar in seconds (default {ONSET_COLLAR}, or {OFFSET_COLLAR} with --offset)")
    p.add_argument("--offset", action="store_true", help="also require offsets to match (sed_eval's onset+offset)")
    p.add_argument("--percentage-of-length", type=float,
                   help=f"with --offset: the offset collar is max(collar, this x reference length) "
                        f"(default {PERCENTAGE_OF_LENGTH})")
    p.add_argument("--segment", type=float, metavar="SECONDS",
                   help="also segment-based metrics on segments of this length (DCASE uses 1.0)")
    p.add_argument("--scores", metavar="DIR",
                   help="directory of frame-level score files (<audio id>.tsv: onset, offset, one column per "
                        "class): PSDS")
    p.add_argument("--durations", metavar="TSV",
                   help="filename<TAB>duration per audio file, for segment-based metrics (default: the last "
                        "offset in each file) and PSDS (default: the end of each score file)")
    p.add_argument("--json", help="also write the full metrics as JSON")
    p.set_defaults(func=run)


def _fmt(x: float, percent: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}%" if percent else f"{x:.3f}"


def _criterion(m: dict) -> str:
    if m.get("evaluate_offset"):
        return (f"onset collar {m['t_collar']} s, offset collar max({m['t_collar']} s, "
                f"{100 * m['percentage_of_length']:g}% of length)")
    return f"onset collar {m['t_collar']} s"


def format_metrics(m: dict, title: str | None = None) -> str:
    o = m["overall"]
    lines = [
        title or f"event-based ({_criterion(m)})",
        f"overall: ER {_fmt(o['error_rate'])}  F1 {_fmt(o['f_measure'], True)}  "
        f"(Nref {o['Nref']}, Nsys {o['Nsys']}, TP {o['Ntp']}, S {o['S']}, D {o['D']}, I {o['I']})",
        "",
        "| class | Nref | Nsys | TP | ER | F1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, c in m["class_wise"].items():
        lines.append(f"| {label} | {c['Nref']} | {c['Nsys']} | {c['Ntp']} | {_fmt(c['error_rate'])} | "
                     f"{_fmt(c['f_measure'], True)} |")
    a = m["class_wise_average"]
    lines.append(f"| class average | | | | {_fmt(a['error_rate'])} | {_fmt(a['f_measure'], True)} |")
    return "\n".join(lines)


def format_psds(p: dict) -> str:
    s = p["settings"]
    return "\n".join([
        f"PSDS {p['psds']:.4f}  ({p['files']} files; dtc {s['dtc_threshold']}, gtc {s['gtc_threshold']}, "
        f"cttc {s['cttc_threshold']}, alpha_ct {s['alpha_ct']}, alpha_st {s['alpha_st']}, "
        f"max eFPR {s['max_efpr']}/h)",
        "per class: " + ", ".join(f"{c} {v:.4f}" for c, v in p["class_wise"].items()),
    ])


def _options(args) -> tuple[str | None, str | None]:
    """(event-list estimate, score directory) after checking the flags fit together."""
    from raresound.errors import DataError

    estimated, scores = args.estimated, args.scores
    if estimated is not None and Path(estimated).is_dir():
        if scores is not None:
            raise DataError(f"{estimated}: a directory, and --scores {scores} is given too; "
                            "give the score directory once")
        estimated, scores = None, estimated
    if estimated is None and scores is None:
        raise DataError("nothing to evaluate: give an estimated event list (EST) and/or --scores DIR")
    if estimated is None and (args.offset or args.segment is not None or args.collar is not None):
        raise DataError("--offset, --collar and --segment score an estimated event list: give EST")
    if args.percentage_of_length is not None and not args.offset:
        raise DataError("--percentage-of-length sets the offset collar: use it with --offset")
    if args.segment is not None and not (MIN_SEGMENT <= args.segment and math.isfinite(args.segment)):
        raise DataError(f"--segment must be a number of seconds >= {MIN_SEGMENT:g} (the features' hop is 0.01 s), "
                        f"got {args.segment:g}")
    return estimated, scores


def run(args) -> int:
    from raresound.evaluation.event_files import read_events
    from raresound.evaluation.events import event_based_metrics
    from raresound.evaluation.score_files import read_durations
    from raresound.io import json_safe, write_json

    estimated, scores = _options(args)
    reference = read_events(args.reference, "reference")
    durations = read_durations(args.durations) if args.durations else None
    result: dict = {}
    blocks = []
    if estimated is not None:
        from raresound.evaluation.segments import segment_based_metrics

        events = read_events(estimated, "estimate")
        result = event_based_metrics(
            reference, events,
            t_collar=args.collar if args.collar is not None else (OFFSET_COLLAR if args.offset else ONSET_COLLAR),
            evaluate_offset=args.offset,
            percentage_of_length=args.percentage_of_length if args.percentage_of_length is not None
            else PERCENTAGE_OF_LENGTH if args.offset else 0.5)
        blocks.append(format_metrics(result))
        if args.segment is not None:
            seg_durations = None if durations is None else _segment_durations(args.durations, durations,
                                                                                reference, events)
            result["segment_based"] = segment_based_metrics(reference, events, args.segment, result["classes"],
                                                            seg_durations)
            blocks.append(format_metrics(result["segment_based"], f"segment-based ({args.segment} s segments)"))
    if scores is not None:
        from raresound.evaluation.psds import psds

        result["psds"] = psds(scores, reference, durations)
        blocks.append(format_psds(result["psds"]))
    print("\n\n".join(blocks))
    if args.json:
        write_json(args.json, json_safe(result))
    return 0


def _segment_durations(path: str, durations: dict[str, float], reference, estimated) -> dict[str, float]:
    """{event-list filename: seconds}: the durations file's lines matched to the event lists'
    filenames by audio id (so "a.wav" there also fits "clips/a.wav" here), plus its files without
    events, which still have segments to get right."""
    from raresound.errors import DataError
    from raresound.evaluation.score_files import audio_id

    by_id = {audio_id(name): seconds for name, seconds in durations.items()}
    names = {e.filename for e in [*reference, *estimated]}
    missing = sorted(name for name in names if audio_id(name) not in by_id)
    if missing:
        raise DataError(f"{path}: no duration for {missing[0]!r}" + (f" and {len(missing) - 1} more files"
                                                                     if len(missing) > 1 else ""))
    used = {audio_id(name) for name in names}
    out = {name: by_id[audio_id(name)] for name in names}
    out.update({name: seconds for name, seconds in durations.items() if audio_id(name) not in used})
    return out
