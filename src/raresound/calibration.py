"""Operating points: a decision threshold per class, chosen on validation clips, stored in the bundle.

Scores are those of the bundle on a store split (the clips of `clip_seconds` each). For class c the
positives are the clips labelled c, the negatives every other clip (as in `evaluate_scores`). A
clip is detected when score >= threshold. Targets:

* ``eer``: the threshold at the DET curve's FPR = FNR crossing (`evaluation.eer_threshold`).
* ``far=X/h``: at most X false alarms per hour of negative audio (hours = n_negative *
  clip_seconds / 3600): the lowest threshold with false alarms <= floor(X * hours), i.e. the best
  recall that respects the budget. Achieved rates move in steps of one clip (3600/clip_seconds/hours
  per hour); with distinct scores the count is exactly floor(X * hours).
* ``miss=X`` (a fraction, or a percentage with %): at most a fraction X of positives missed: the
  highest threshold with misses <= floor(X * n_positive), i.e. the fewest false alarms.

Any threshold strictly between two consecutive distinct scores gives the same decisions on the
fitting data; the chosen value is the midpoint of that gap (a margin on both sides), not a score.
The bundle's bundle.json is rewritten atomically with the new `thresholds` and an
`info["calibration"]` record (target, split, store, and per class the threshold and the rates it
achieves on the fitting data); the weights are not touched. The side files of the bundle's exports
get the new thresholds too (`export.sync_exports`), and a resumed `train` that re-saves the same
weights keeps them (`bundle.keep_calibration`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from raresound.bundle import BUNDLE_JSON, Bundle, bundle_lock
from raresound.data.checks import check_scored_split, warn
from raresound.errors import ConfigError, DataError
from raresound.evaluation.eer import eer_threshold
from raresound.export import sync_exports
from raresound.io import read_json, write_json
from raresound.runs import find_bundles, resolve_store
from raresound.scoring import checked_bundles, score_split
from raresound.store import FeatureStore
from raresound.training.fingerprint import check_store_provenance

_SLACK = 1e-9


@dataclass(frozen=True)
class Target:
    kind: str  # "eer" | "far" | "miss"
    value: float | None = None  # false alarms per hour, or miss fraction

    def __str__(self) -> str:
        if self.kind == "eer":
            return "eer"
        return f"far={self.value:g}/h" if self.kind == "far" else f"miss={self.value:g}"


def parse_target(text: str) -> Target:
    """'eer', 'far=2/h' (or 'far=2'), 'miss=0.05' or 'miss=5%'."""
    s = str(text).strip().lower().replace(" ", "")
    if s == "eer":
        return Target("eer")
    m = re.fullmatch(r"far=([0-9.eE+-]+)(/h)?", s)
    if m:
        value = _number(m.group(1), text)
        if value < 0:
            raise ConfigError("target", f"false alarms per hour must be >= 0, got {text!r}")
        return Target("far", value)
    m = re.fullmatch(r"miss=([0-9.eE+-]+)(%)?", s)
    if m:
        value = _number(m.group(1), text) / (100.0 if m.group(2) else 1.0)
        if not 0 <= value <= 1:
            raise ConfigError("target", f"miss rate must be in [0, 1] (or 0-100%), got {text!r}")
        return Target("miss", value)
    raise ConfigError("target", f"expected eer, far=<x>/h or miss=<x>, got {text!r}")


def _number(s: str, text: str) -> float:
    try:
        value = float(s)
    except ValueError:
        raise ConfigError("target", f"not a number in {text!r}") from None
    if not math.isfinite(value):
        raise ConfigError("target", f"must be finite, got {text!r}")
    return value


def _gap_above(all_scores: np.ndarray, s: float) -> float:
    """A threshold just above score s: midpoint to the next higher score (or the next float)."""
    higher = all_scores[all_scores > s]
    if higher.size == 0:
        return float(np.nextafter(s, np.inf))
    mid = (s + float(higher.min())) / 2
    return mid if mid > s else float(higher.min())


def _gap_below(all_scores: np.ndarray, s: float) -> float:
    """A threshold <= s keeping s detected: midpoint to the next lower score (or s itself)."""
    lower = all_scores[all_scores < s]
    if lower.size == 0:
        return float(s)
    mid = (s + float(lower.max())) / 2
    return mid if mid > float(lower.max()) else float(s)


def operating_stats(scores, labels, threshold: float, clip_seconds: float) -> dict:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels) == 1
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    detected = s >= threshold
    fa = int((detected & ~y).sum())
    misses = int((~detected & y).sum())
    hours = n_neg * clip_seconds / 3600.0
    return {"threshold": float(threshold), "n_positive": n_pos, "n_negative": n_neg, "negative_hours": hours,
            "false_alarms": fa, "far_per_hour": fa / hours if hours > 0 else float("nan"),
            "fpr": fa / n_neg if n_neg else float("nan"), "misses": misses,
            "miss_rate": misses / n_pos if n_pos else float("nan")}


def choose_threshold(scores, labels, target: Target, clip_seconds: float, name: str = "class") -> float:
    """The threshold meeting `target` on (scores, labels) of one class (module docstring)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels) == 1
    if s.ndim != 1 or s.shape != y.shape or s.size == 0:
        raise DataError(f"{name}: need equal-length 1-D scores and labels, got {s.shape} and {y.shape}")
    if not np.isfinite(s).all():
        raise DataError(f"{name}: scores contain NaN or inf")
    pos, neg = s[y], s[~y]
    if target.kind == "eer":
        return eer_threshold(s, y.astype(np.int64), name)
    if target.kind == "far":
        if neg.size == 0:
            raise DataError(f"{name}: no negative clips in the split, cannot set a false-alarm rate")
        hours = neg.size * clip_seconds / 3600.0
        allowed = int(math.floor(target.value * hours + _SLACK))
        if allowed >= neg.size:
            return float(s.min())
        k = float(np.sort(neg)[::-1][allowed])  # the (allowed+1)-th highest negative must be rejected
        return _gap_above(s, k)
    if target.kind == "miss":
        if pos.size == 0:
            raise DataError(f"{name}: no positive clips in the split, cannot set a miss rate")
        allowed = int(math.floor(target.value * pos.size + _SLACK))
        if allowed >= pos.size:
            return _gap_above(s, float(s.max()))
        p = float(np.sort(pos)[allowed])  # the (allowed+1)-th lowest positive must be detected
        return _gap_below(s, p)
    raise ConfigError("target", f"unknown target kind {target.kind!r}")


def calibrate_bundle(bundle: Bundle, scores: np.ndarray, labels: np.ndarray, target: Target, clip_seconds: float,
                     split: str, store: str) -> dict:
    """Choose thresholds on (scores [N, L], labels [N, L]) and rewrite the bundle's bundle.json."""
    if bundle.path is None:
        raise DataError("calibrate: the bundle has no directory (save it first)")
    thresholds, per_class = {}, {}
    for l, name in enumerate(bundle.classes):
        t = choose_threshold(scores[:, l], labels[:, l], target, clip_seconds, name)
        thresholds[name] = t
        per_class[name] = operating_stats(scores[:, l], labels[:, l], t, clip_seconds)
    record = {"target": str(target), "split": split, "store": str(store), "clip_seconds": clip_seconds,
              "n_clips": int(scores.shape[0]), "classes": per_class,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    meta_path = Path(bundle.path) / BUNDLE_JSON
    meta = read_json(meta_path)
    meta["thresholds"] = thresholds
    meta.setdefault("info", {})["calibration"] = record
    write_json(meta_path, meta)
    bundle.thresholds = dict(thresholds)
    bundle.info["calibration"] = record
    # Exported copies carry the thresholds in their side files: rewrite them too (or mark them stale).
    return {**record, "exports": sync_exports(bundle.path)}


def target_warnings(counts, target: Target, clip_seconds: float) -> list[str]:
    """Where the split is too small for the target to mean anything: a false-alarm budget that
    rounds to 0 on so little negative audio (the threshold then sits above every negative and
    misses most positives), or a miss budget that rounds to 0 on so few positives."""
    out = []
    for cls, n_pos in counts.positives.items():
        n_neg = counts.negatives(cls)
        if target.kind == "far" and target.value > 0 and target.value * n_neg * clip_seconds / 3600.0 < 1 - _SLACK:
            need = math.ceil(3600.0 / (target.value * clip_seconds) - _SLACK)
            out.append(f"{cls}: {target} on {n_neg} negative clips ({n_neg * clip_seconds / 3600:.2g} h) allows "
                       f"0 false alarms, so the threshold rises above every negative; need >= {need} negative "
                       f"clips of {clip_seconds:g} s for a budget of one")
        if target.kind == "miss" and target.value > 0 and target.value * n_pos < 1 - _SLACK:
            need = math.ceil(1.0 / target.value - _SLACK)
            out.append(f"{cls}: {target} on {n_pos} positive clips allows 0 misses; need >= {need} positives "
                       f"for a budget of one")
    return out


def calibrate(path: str | Path, target: Target | str, split: str = "val", model: str | None = None,
              store: str | Path | None = None, device: str = "cpu",
              log: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Calibrate every bundle of a run (or one bundle) on a store split; returns {model: record}.
    The split's positives/negatives per class go to `log`, warnings (data.checks, `target_warnings`)
    to stderr; a split that cannot serve fails before any bundle is rewritten."""
    if isinstance(target, str):
        target = parse_target(target)
    bundles, run_dir = find_bundles(path, model)
    # the run's lock (which `train` and `export` take too), or the single bundle's outside a run
    with bundle_lock(run_dir if run_dir is not None else next(iter(bundles.values())), "calibrate"):
        return _calibrate_locked(bundles, run_dir, target, split, store, device, log, Path(path))


def _calibrate_locked(bundles: dict[str, Path], run_dir: Path | None, target: Target, split: str,
                      store: str | Path | None, device: str, log, path: Path) -> dict[str, dict]:
    store_dir = resolve_store(run_dir, store, path)
    fs = FeatureStore(store_dir)
    notes: list[str] = []  # printed once every check has passed: an error stays the only line
    if run_dir is not None:
        check_store_provenance(run_dir, store_dir, warn=notes.append)
    data = fs.split(split)
    if len(data) == 0:
        raise DataError(f"{store_dir}: split {split!r} is empty")
    loaded = checked_bundles(bundles, fs, device)
    warn(notes)
    clip_seconds = fs.feature_config.clip_seconds
    check_scored_split(split, data.labels, fs.classes, where=str(store_dir), log=log,
                       more=lambda counts: target_warnings(counts, target, clip_seconds))
    records = {}
    for name, bundle in loaded.items():
        scores = score_split(bundle, data).astype(np.float64)
        records[name] = calibrate_bundle(bundle, scores, np.asarray(data.labels), target, clip_seconds, split,
                                         str(store_dir))
    return records
