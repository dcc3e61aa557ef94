"""Bootstrap over test clips: the paired difference in overall EER (mean of per-class EERs) between
two systems scored on the same clips, and the confidence interval of one system's per-class and
overall EER. Resampling clips with replacement is the same as giving each clip an integer
multiplicity, so every resample is evaluated from weighted cumulative sums over a score order
computed once per class and system, without re-sorting."""

from __future__ import annotations

import numpy as np

from raresound.errors import DataError
from raresound.evaluation.eer import evaluate_scores

# Resamples are processed in fixed-size blocks to bound memory (a block holds a few [block, N]
# arrays); the block size is a constant so results for a seed never depend on machine or memory.
_BLOCK = 256


def _weighted_eer(scores: np.ndarray, labels: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EER of one class for each row of clip multiplicities `counts` [B, N].

    Returns (eer [B], valid [B]); a row is invalid when it holds no positive or no negative clip.
    Same definition as `eer`: detect when score >= threshold, tied scores form one operating point,
    linear interpolation between the two operating points that bracket FA = miss."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    pos = labels[order]
    # Last index of every run of tied scores: one operating point per distinct score.
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    c = counts[:, order]
    ones = np.ones((c.shape[0], 1))
    # Clips drawn at or above each operating point, and positives among them: cumulative sums
    # with a leading zero column, gathered at the tied-run ends. The positive sum runs over the
    # positive columns only (events are rare, so it is much narrower than N).
    zero = np.zeros((c.shape[0], 1), dtype=np.int64)
    drawn = np.cumsum(c, axis=1)[:, ends]
    pos_cols = np.flatnonzero(pos)
    tp_cum = np.hstack([zero, np.cumsum(c[:, pos_cols], axis=1)])
    tp = tp_cum[:, np.searchsorted(pos_cols, ends, side="right")]
    fp = drawn - tp
    n_pos, n_neg = tp[:, -1], fp[:, -1]
    valid = (n_pos > 0) & (n_neg > 0)
    n_pos_safe = np.where(valid, n_pos, 1)[:, None]
    n_neg_safe = np.where(valid, n_neg, 1)[:, None]
    # Prepend the "reject everything" point (FA 0, miss 1) so the walk starts below the diagonal.
    fa = np.hstack([0.0 * ones, fp / n_neg_safe])
    miss = np.hstack([ones, 1.0 - tp / n_pos_safe])
    # Walking down the thresholds d = FA - miss rises from -1 to +1; the first d >= 0 closes the
    # bracket [k-1, k] (k >= 1 because d starts at -1).
    d = fa - miss
    k = np.argmax(d >= 0, axis=1)
    rows = np.arange(c.shape[0])
    d0, d1 = d[rows, k - 1], d[rows, k]
    w = -d0 / np.where(d1 > d0, d1 - d0, 1.0)
    rate = fa[rows, k - 1] + w * (fa[rows, k] - fa[rows, k - 1])
    return rate, valid


def _class_eers_weighted(scores: np.ndarray, targets: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class EERs [B, L] for each row of `counts` [B, N]; a row is valid only where every
    class has positives and negatives."""
    rates = np.zeros((counts.shape[0], scores.shape[1]))
    valid = np.ones(counts.shape[0], dtype=bool)
    for l in range(scores.shape[1]):
        rates[:, l], ok = _weighted_eer(scores[:, l], targets[:, l], counts)
        valid &= ok
    return rates, valid


def _overall_eer_weighted(scores: np.ndarray, targets: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-over-classes EER for each row of `counts` [B, N]; valid only where every class has
    positives and negatives."""
    rates, valid = _class_eers_weighted(scores, targets, counts)
    return rates.mean(axis=1), valid


def _multiplicities(idx: np.ndarray) -> np.ndarray:
    """Clip multiplicities [m, N] of m resamples given as drawn clip indices [m, N]."""
    m, n = idx.shape
    return np.bincount((idx + n * np.arange(m)[:, None]).ravel(), minlength=m * n).reshape(m, n)


def _check_ci(ci: float, n_boot: int) -> None:
    if not 0.0 < ci < 1.0:
        raise DataError(f"ci must lie in (0, 1), got {ci}")
    if n_boot < 1:
        raise DataError(f"n_boot must be >= 1, got {n_boot}")


def paired_bootstrap_eer_diff(
    scores_a,
    scores_b,
    targets,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict:
    """Paired bootstrap of overall EER(a) - EER(b) (negative = system a better).

    Each resample draws N clips with replacement (the same clips for both systems). Resamples in
    which some class has no positive or no negative clip have no EER and are skipped and counted.
    Returns ``{"diff": observed difference on all clips, "mean_diff": mean over valid resamples,
    "low", "high": percentile confidence interval at level `ci`, "frac_a_better": fraction of valid
    resamples with diff < 0, "frac_b_better": fraction with diff > 0, "n_boot", "n_valid",
    "n_skipped", "ci", "seed"}``."""
    return pooled_bootstrap_eer_diff([(scores_a, scores_b)], targets, n_boot, seed, ci)


def pooled_bootstrap_eer_diff(pairs, targets, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> dict:
    """As `paired_bootstrap_eer_diff` for the mean difference over several (a, b) pairs scored on
    the same clips (e.g. one pair per training seed): every resample draws the same clips for every
    pair, so the interval reflects test-set sampling of the seed-averaged difference."""
    pairs = [(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)) for a, b in pairs]
    y = np.asarray(targets)
    if not pairs:
        raise DataError("no score pairs to compare")
    for a, b in pairs:
        if a.ndim != 2 or a.shape != b.shape or a.shape != y.shape:
            raise DataError(f"scores_a, scores_b and targets must be [N, L] of one shape, got {a.shape}, {b.shape}, {y.shape}")
    _check_ci(ci, n_boot)
    classes = [f"column {l}" for l in range(y.shape[1])]
    # Full-set evaluation also validates the inputs (finite scores, 0/1 targets, every class present).
    diff = float(np.mean([evaluate_scores(a, y, classes)["overall"] - evaluate_scores(b, y, classes)["overall"]
                          for a, b in pairs]))
    y = y.astype(bool)

    n = y.shape[0]
    rng = np.random.default_rng(seed)
    diffs = []
    n_skipped = 0
    for start in range(0, n_boot, _BLOCK):
        m = min(_BLOCK, n_boot - start)
        counts = _multiplicities(rng.integers(0, n, size=(m, n)))
        total = np.zeros(m)
        for a, b in pairs:
            eer_a, ok = _overall_eer_weighted(a, y, counts)
            eer_b, _ = _overall_eer_weighted(b, y, counts)  # same clips, same validity
            total += eer_a - eer_b
        diffs.append((total / len(pairs))[ok])
        n_skipped += int((~ok).sum())
    d = np.concatenate(diffs)
    if d.size == 0:
        raise DataError(f"all {n_boot} bootstrap resamples lacked positives or negatives for some class")
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(d, [alpha, 1.0 - alpha])
    return {
        "diff": diff,
        "mean_diff": float(d.mean()),
        "low": float(low),
        "high": float(high),
        "frac_a_better": float((d < 0).mean()),
        "frac_b_better": float((d > 0).mean()),
        "n_boot": int(n_boot),
        "n_valid": int(d.size),
        "n_skipped": int(n_skipped),
        "ci": float(ci),
        "seed": int(seed),
    }


def eer_intervals(scores, targets, classes, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> dict:
    """Percentile bootstrap intervals of one system's per-class and overall EER.

    Each resample redraws the test clips with replacement within each label combination (stratum),
    keeping its size, so every class keeps its numbers of positives and negatives: the interval
    reflects which clips were drawn, never a resample without positives. `scores` may also be a
    list of [N, L] matrices scored on the same clips (one per training seed): the intervals are then
    those of their mean EER, every resample drawing the same clips for each. Returns
    ``{"ci_low": {class: low}, "ci_high": {class: high}, "overall_ci_low", "overall_ci_high",
    "n_pos": {class: int}, "n_neg": {class: int}, "bootstrap": {"n_boot", "seed", "ci"}}``."""
    several = isinstance(scores, (list, tuple)) and len(scores) > 0 and np.ndim(scores[0]) == 2
    systems = [np.asarray(s, dtype=np.float64) for s in (scores if several else [scores])]
    classes = list(classes)
    for s in systems:  # validates (shapes, finite scores, 0/1 targets, both kinds)
        evaluate_scores(s, targets, classes)
    y = np.asarray(targets).astype(bool)
    _check_ci(ci, n_boot)
    _, stratum = np.unique(y, axis=0, return_inverse=True)
    members = [np.flatnonzero(stratum.ravel() == k) for k in range(int(stratum.max()) + 1)]
    rng = np.random.default_rng(seed)
    rates = []
    for start in range(0, n_boot, _BLOCK):
        m = min(_BLOCK, n_boot - start)
        idx = np.hstack([clips[rng.integers(0, clips.size, size=(m, clips.size))] for clips in members])
        counts = _multiplicities(idx)
        rates.append(np.mean([_class_eers_weighted(s, y, counts)[0] for s in systems], axis=0))
    per_class = np.vstack(rates)
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(per_class, [alpha, 1.0 - alpha], axis=0)
    overall = np.quantile(per_class.mean(axis=1), [alpha, 1.0 - alpha])
    n_pos = y.sum(axis=0)
    return {
        "ci_low": dict(zip(classes, low.tolist())),
        "ci_high": dict(zip(classes, high.tolist())),
        "overall_ci_low": float(overall[0]),
        "overall_ci_high": float(overall[1]),
        "n_pos": dict(zip(classes, n_pos.astype(int).tolist())),
        "n_neg": dict(zip(classes, (y.shape[0] - n_pos).astype(int).tolist())),
        "bootstrap": {"n_boot": int(n_boot), "seed": int(seed), "ci": float(ci)},
    }
