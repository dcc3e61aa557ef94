"""`raresound evaluate-events REF EST`: DCASE 2017 Task 2 event-based error rate and F1."""

from __future__ import annotations

import math


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate-events",
        help="event-based error rate and F1 of an estimated event list against a reference",
        description=("Onset-only event-based metrics (sed_eval definitions, DCASE 2017 Task 2): an estimate "
                     "hits a reference event of the same file and label when their onsets differ by at most "
                     "the collar. Event lists: filename, onset, offset, event_label (tab or comma separated)."),
    )
    p.add_argument("reference", help="reference event list")
    p.add_argument("estimated", help="estimated event list (e.g. from `raresound detect --out`), or detect's "
                                     "JSON output (`detect --json`)")
    p.add_argument("--collar", type=float, default=0.5, help="onset collar in seconds (default 0.5)")
    p.add_argument("--json", help="also write the full metrics as JSON")
    p.set_defaults(func=run)


def _fmt(x: float, percent: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}%" if percent else f"{x:.3f}"


def format_metrics(m: dict) -> str:
    o = m["overall"]
    lines = [
        f"event-based (onset collar {m['t_collar']} s)",
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


def _json_safe(obj):
    """Undefined ratios are NaN; JSON has no NaN, so they are written as null."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def run(args) -> int:
    from raresound.evaluation.event_files import read_events
    from raresound.evaluation.events import event_based_metrics
    from raresound.io import write_json

    reference = read_events(args.reference, "reference")
    estimated = read_events(args.estimated, "estimate")
    metrics = event_based_metrics(reference, estimated, t_collar=args.collar)
    print(format_metrics(metrics))
    if args.json:
        write_json(args.json, _json_safe(metrics))
    return 0
