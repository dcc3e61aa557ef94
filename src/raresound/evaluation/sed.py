"""Sound event detection scored the DCASE 2017 Task 2 way: per class on that class's own set of
mixtures, event-based error rate and F1 (onset only, 0.5-s collar, sed_eval's definitions:
`evaluation.events`), PSDS1 on the frame scores (`evaluation.psds`), and the median onset/offset
error of the matched events (`evaluation.localisation`); class average = equal-weight mean.

Arrays and event lists in, numbers out: the benchmark (`raresound bench events`) scores and decodes.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from raresound.evaluation.events import Event, event_based_metrics
from raresound.evaluation.localisation import boundary_errors


def _mean(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def protocol_metrics(reference: Sequence[Event], estimated: Sequence[Event], classes: Sequence[str],
                     sets: Mapping[str, Sequence[str]] | None = None, collar: float = 0.5,
                     frame_scores: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                     durations: Mapping[str, float] | None = None) -> dict:
    """Per class (on the files of `sets[class]`, every file if None) and class-averaged: ER, F1,
    counts, median onset/offset errors, and PSDS1 when `frame_scores` ({filename: (timestamps
    [S+1], scores [S, L])}) are given."""
    per_class = {}
    for c in classes:
        files = set(sets[c]) if sets is not None else None
        ref = [e for e in reference if e.event_label == c and (files is None or e.filename in files)]
        est = [e for e in estimated if e.event_label == c and (files is None or e.filename in files)]
        m = event_based_metrics(ref, est, t_collar=collar, classes=[c])["class_wise"][c]
        b = boundary_errors(ref, est)
        row = {"error_rate": m["error_rate"], "f_measure": m["f_measure"], "precision": m["precision"],
               "recall": m["recall"], "Nref": m["Nref"], "Nsys": m["Nsys"], "Ntp": m["Ntp"],
               "deletions": m["D"], "insertions": m["I"], "onset_error_median": b["onset_median"],
               "offset_error_median": b["offset_median"], "files": len(files) if files is not None else None}
        if frame_scores is not None:
            row["psds1"] = _class_psds(frame_scores, ref, classes, c, files, durations)
        per_class[c] = row
    keys = ["error_rate", "f_measure", "onset_error_median", "offset_error_median"] + (["psds1"] if frame_scores else [])
    average = {k: _mean(per_class[c][k] for c in classes) for k in keys}
    return {"collar": collar, "classes": list(classes), "class_wise": per_class, "class_average": average}


def _class_psds(frame_scores, reference, classes, c, files, durations) -> float:
    from raresound.evaluation.psds import psds

    k = list(classes).index(c)
    chosen = {f: (ts, s[:, k:k + 1]) for f, (ts, s) in frame_scores.items() if files is None or f in files}
    if not any(e.event_label == c for e in reference):
        return float("nan")
    d = None if durations is None else {f: durations[f] for f in chosen}
    return float(psds(chosen, reference, durations=d, classes=[c])["psds"])


def markdown_table(metrics: dict, title: str = "") -> str:
    """The per-class and class-average table (ER, F1 %, PSDS1, median onset/offset error)."""
    has_psds = "psds1" in metrics["class_average"]
    head = "| class | ER | F1 % | " + ("PSDS1 | " if has_psds else "") + "onset err (s) | offset err (s) | Nref | hits | ins |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]

    def fmt(v, pct=False, digits=2):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else (
            f"{100 * v:.1f}" if pct else f"{v:.{digits}f}")

    for c in metrics["classes"]:
        r = metrics["class_wise"][c]
        rows.append(f"| {c} | {fmt(r['error_rate'])} | {fmt(r['f_measure'], True)} | "
                    + (f"{fmt(r['psds1'], digits=3)} | " if has_psds else "")
                    + f"{fmt(r['onset_error_median'], digits=3)} | {fmt(r['offset_error_median'], digits=3)} | "
                      f"{r['Nref']} | {r['Ntp']} | {r['insertions']} |")
    a = metrics["class_average"]
    rows.append(f"| **average** | **{fmt(a['error_rate'])}** | **{fmt(a['f_measure'], True)}** | "
                + (f"{fmt(a['psds1'], digits=3)} | " if has_psds else "")
                + f"{fmt(a['onset_error_median'], digits=3)} | {fmt(a['offset_error_median'], digits=3)} | | | |")
    return (f"{title}\n\n" if title else "") + "\n".join(rows) + "\n"
