"""Detection-error-tradeoff (DET) curve of one event class: false-alarm rate vs miss rate over all
score thresholds. A clip is detected when its score is >= the threshold (scikit-learn's convention);
tied scores therefore form a single operating point."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import det_curve as _sklearn_det_curve

from raresound.errors import DataError


def _what(name: str | None) -> str:
    return f"class '{name}'" if name is not None else "scores"


def check_binary_task(scores, labels, name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate one class's scores and 0/1 labels; return them as float64 / bool 1-D arrays.

    Raises DataError (naming the class when `name` is given) for shape mismatches, non-finite
    scores, labels other than 0/1, and classes without positives or without negatives, for which
    no DET curve (and no EER) exists."""
    what = _what(name)
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1 or s.shape != y.shape:
        raise DataError(f"{what}: scores and labels must be 1-D of equal length, got shapes {s.shape} and {y.shape}")
    if not np.all(np.isfinite(s)):
        raise DataError(f"{what}: scores contain NaN or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise DataError(f"{what}: labels must be 0/1")
    y = y.astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise DataError(f"{what}: no positive clips, so the DET curve / EER is undefined")
    if n_pos == y.size:
        raise DataError(f"{what}: no negative clips, so the DET curve / EER is undefined")
    return s, y


def det_curve(scores, labels, name: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DET curve of one class: (fpr, fnr, thresholds), thresholds increasing, fpr non-increasing,
    fnr non-decreasing. Operating points where nothing changes beyond the first point with no false
    alarms and the first point with no misses are dropped (sklearn.metrics.det_curve), so the
    FPR = FNR crossing always lies inside the returned curve. `name` only labels error messages."""
    s, y = check_binary_task(scores, labels, name)
    fpr, fnr, thresholds = _sklearn_det_curve(y.astype(np.int64), s)
    return np.asarray(fpr, np.float64), np.asarray(fnr, np.float64), np.asarray(thresholds, np.float64)
