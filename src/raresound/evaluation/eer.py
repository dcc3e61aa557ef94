"""Equal error rate (EER): the point of the DET curve where false-alarm rate equals miss rate,
linearly interpolated between the two operating points that bracket it (not snapped to the nearest
threshold), plus the per-class / overall evaluation of a multi-label score matrix as in the paper
(overall = equal-weight mean of the per-class EERs)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from raresound.errors import DataError
from raresound.evaluation.det import det_curve


def _crossing(fpr: np.ndarray, fnr: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """(eer, threshold) at the FPR = FNR crossing of a DET curve ordered by increasing threshold.

    d = fpr - fnr is non-increasing along the curve, >= 0 at its first point (fnr = 0) and <= 0 at
    its last (fpr = 0), so the first index k with d[k] <= 0 closes the bracket [k-1, k]."""
    d = fpr - fnr
    k = int(np.argmax(d <= 0))
    if d[k] == 0 or k == 0:
        return float(fpr[k]), float(thresholds[k])
    # Fraction of the way from point k-1 (d > 0) to point k (d < 0) where d reaches zero.
    t = d[k - 1] / (d[k - 1] - d[k])
    rate = fpr[k - 1] + t * (fpr[k] - fpr[k - 1])
    lo, hi = thresholds[k - 1], thresholds[k]
    if np.isinf(hi):
        # The "reject everything" point sits at threshold +inf (only when the top score is shared by
        # a positive and a negative); any threshold just above the top score realises it, so the
        # interpolated threshold is taken as the top score itself.
        hi = lo
    return float(rate), float(lo + t * (hi - lo))


def eer_of_curve(fpr: np.ndarray, fnr: np.ndarray, thresholds: np.ndarray) -> float:
    """The EER of a DET curve already computed by `det_curve` (no second sort of the scores)."""
    return _crossing(fpr, fnr, thresholds)[0]


def eer(scores, labels, name: str | None = None) -> float:
    """Equal error rate in [0, 1] of one class (labels 0/1, higher score = more likely positive)."""
    return eer_of_curve(*det_curve(scores, labels, name))


def eer_threshold(scores, labels, name: str | None = None) -> float:
    """Score threshold at the EER crossing, interpolated between the bracketing operating points
    exactly as the EER itself is."""
    return _crossing(*det_curve(scores, labels, name))[1]


def mean_eer(scores, targets) -> float:
    """Mean EER over the columns of `scores` [N, L] whose `targets` hold positives and negatives (a
    small validation split may lack a rare class); NaN when no column has both, or when a score is
    not finite (a diverging model is reported, not fatal: this only monitors training)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(targets) > 0.5
    if not np.all(np.isfinite(s)):
        return math.nan
    rates = [eer(s[:, l], y[:, l]) for l in range(s.shape[1]) if 0 < y[:, l].sum() < y.shape[0]]
    return float(np.mean(rates)) if rates else math.nan


def evaluate_scores(scores, targets, classes: Sequence[str]) -> dict:
    """Per-class EER of a score matrix `scores` [N, L] against multi-hot `targets` [N, L].

    For class l the positives are the clips with target 1 in column l and the negatives are ALL
    other clips (background and clips of other events). Returns
    ``{"classes": [...], "eer": {class: eer}, "threshold": {class: threshold at the crossing},
    "n_positive": {class: int}, "n_negative": {class: int}, "overall": mean of the class EERs}``.
    Raises DataError naming the class when a class has no positives or no negatives."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(targets)
    classes = list(classes)
    if s.ndim != 2 or y.shape != s.shape:
        raise DataError(f"scores and targets must both be [N, L] matrices, got shapes {s.shape} and {y.shape}")
    if len(classes) != s.shape[1]:
        raise DataError(f"{len(classes)} class names given for {s.shape[1]} score columns")
    if not classes:
        raise DataError("no event classes to evaluate")
    if len(set(classes)) != len(classes):
        raise DataError(f"duplicate class names: {classes}")
    result: dict = {"classes": classes, "eer": {}, "threshold": {}, "n_positive": {}, "n_negative": {}}
    for l, name in enumerate(classes):
        rate, threshold = _crossing(*det_curve(s[:, l], y[:, l], name))
        result["eer"][name] = rate
        result["threshold"][name] = threshold
        n_pos = int((y[:, l] == 1).sum())
        result["n_positive"][name] = n_pos
        result["n_negative"][name] = int(y.shape[0] - n_pos)
    result["overall"] = float(np.mean([result["eer"][c] for c in classes]))
    return result
