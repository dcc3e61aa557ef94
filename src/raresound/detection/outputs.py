"""Outputs of detection: event lists, JSON reports and per-window score tables, the event-list
filenames, and the CLI's `--threshold` parsing."""

from __future__ import annotations

import numpy as np

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from raresound.config_schema import parse_pairs
from raresound.errors import ConfigError

if TYPE_CHECKING:  # annotations only: raresound.detect imports this module
    from raresound.detect import FileDetection, WindowDetector


def parse_threshold_args(values: Sequence[str] | None) -> float | dict[str, float] | None:
    """CLI `--threshold` values: one number for every class, or CLASS=VALUE items (repeatable)."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        try:
            return float(values[0])
        except ValueError:
            raise ConfigError("--threshold", f"expected a number or CLASS=VALUE, got {values[0]!r}") from None
    return parse_pairs(values, "--threshold", "CLASS=VALUE", float, keep_blank=True)


def output_names(paths: Sequence[str | Path], full_paths: bool = False) -> list[str]:
    """Event-list filenames: basenames (DCASE style) unless they collide or `full_paths`."""
    names = [str(p) if full_paths else Path(p).name for p in paths]
    if not full_paths:
        seen: dict[str, str] = {}
        for p, name in zip(paths, names):
            if name in seen and seen[name] != str(p):
                raise ConfigError("full_paths", f"{seen[name]} and {p} share the name {name!r}; pass `full_paths`")
            seen[name] = str(p)
    return names


def write_events(results: Sequence[FileDetection], path: str | Path) -> Path:
    """DCASE event list (tab-separated filename, onset, offset, event_label; no header)."""
    from raresound.evaluation.events import Event, write_event_list

    events = [Event(r.filename, e.onset, e.offset, e.event_label) for r in results for e in r.events]
    return write_event_list(events, path)


def write_json_report(results: Sequence[FileDetection], path: str | Path, detector: WindowDetector,
                      failures: Sequence[tuple[str, str]] = (), with_scores: bool = True) -> Path:
    from raresound.io import write_json

    g = detector.grid
    write_json(path, {
        "bundle": str(detector.bundle.path) if detector.bundle.path else None,
        "classes": detector.classes,
        "thresholds": dict(zip(detector.classes, detector.thresholds.tolist())),
        "window_seconds": g.window_seconds, "hop_seconds": g.hop_seconds,
        "median": detector.median, "min_gap": detector.min_gap,
        "files": [r.to_dict(with_scores) for r in results],
        "skipped": [{"path": p, "reason": reason} for p, reason in failures],
    })
    return Path(path)


def write_scores_csv(results: Sequence[FileDetection], path: str | Path, detector: WindowDetector) -> Path:
    """Per-window scores: filename, window, start, end, one column per class."""
    from raresound.io import write_text

    T = detector.grid.window_seconds
    lines = [",".join(["filename", "window", "start", "end", *detector.classes])]
    for r in results:
        for k, (t, row) in enumerate(zip(r.window_starts, r.scores)):
            lines.append(",".join([r.filename, str(k), repr(float(t)), repr(float(t + T)),
                                   *(f"{float(v):.6g}" for v in row)]))
    write_text(path, "\n".join(lines) + "\n")
    return Path(path)


def frame_score_map(results: Sequence[FileDetection]) -> dict:
    """{filename: (step edges (S+1,), frame scores (S, L))} of the results that have frame scores; the
    last step ends at the file's end."""
    out = {}
    for r in results:
        if r.frame_scores is not None:
            edges = np.minimum(np.arange(r.frame_scores.shape[0] + 1) * r.step_seconds, r.duration)
            out[r.filename] = (edges, r.frame_scores)
    return out


def write_frame_scores(results: Sequence[FileDetection], directory: str | Path, classes: Sequence[str]) -> Path:
    """Frame-level scores in sed_scores_eval's format: `<directory>/<file stem>.tsv` per file, rows
    `onset  offset  <class>...` per step (`evaluation.score_files`)."""
    from raresound.evaluation.score_files import write_score_files

    return write_score_files(directory, frame_score_map(results), list(classes))
