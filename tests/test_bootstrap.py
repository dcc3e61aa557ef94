import numpy as np
import pytest

from raresound.errors import DataError
from raresound.evaluation.bootstrap import _overall_eer_weighted, _weighted_eer, eer_intervals, paired_bootstrap_eer_diff
from raresound.evaluation.eer import eer, evaluate_scores


def _task(n, rng, n_classes=3):
    """Clips that are background or exactly one event class (one-hot rows or all-zero rows)."""
    which = rng.integers(0, n_classes + 1, n)
    targets = np.zeros((n, n_classes))
    for l in range(n_classes):
        targets[which == l, l] = 1
    return targets


def test_weighted_eer_equals_eer_of_explicit_resample_with_ties():
    rng = np.random.default_rng(3)
    n = 40
    labels = rng.random(n) < 0.3
    scores = np.round(rng.random(n) + 0.3 * labels, 1)  # one decimal: many tied scores
    idx = rng.integers(0, n, size=(20, n))
    counts = np.stack([np.bincount(row, minlength=n) for row in idx])
    rates, valid = _weighted_eer(scores, labels, counts)
    for r, row, ok in zip(rates, idx, valid):
        y = labels[row]
        assert ok == (0 < y.sum() < n)
        if ok:
            assert r == pytest.approx(eer(scores[row], y.astype(int)), abs=1e-12)


def test_overall_weighted_equals_evaluate_scores_on_resample():
    rng = np.random.default_rng(4)
    targets = _task(60, rng)
    scores = np.round(rng.random((60, 3)) + 0.5 * targets, 2)
    row = rng.integers(0, 60, 60)
    counts = np.bincount(row, minlength=60)[None, :]
    overall, valid = _overall_eer_weighted(scores, targets.astype(bool), counts)
    assert valid[0]
    expected = evaluate_scores(scores[row], targets[row], ["a", "b", "c"])["overall"]
    assert overall[0] == pytest.approx(expected, abs=1e-12)


def test_identical_systems_give_zero_difference_and_zero_interval():
    rng = np.random.default_rng(0)
    targets = _task(200, rng)
    scores = rng.random((200, 3)) + targets
    res = paired_bootstrap_eer_diff(scores, scores.copy(), targets, n_boot=200)
    assert (res["diff"], res["mean_diff"], res["low"], res["high"]) == (0.0, 0.0, 0.0, 0.0)
    assert res["frac_a_better"] == 0.0 and res["frac_b_better"] == 0.0
    assert res["n_valid"] == 200 and res["n_skipped"] == 0


def test_clearly_better_system_interval_excludes_zero_at_full_size():
    # 1000 resamples of 2000 clips x 3 classes: the size the training reports use.
    rng = np.random.default_rng(1)
    targets = _task(2000, rng)
    good = rng.normal(size=(2000, 3)) + 3.0 * targets
    weak = rng.normal(size=(2000, 3)) + 1.0 * targets
    res = paired_bootstrap_eer_diff(good, weak, targets, n_boot=1000, seed=0)
    assert res["high"] < 0.0
    assert res["low"] <= res["mean_diff"] <= res["high"]
    assert res["frac_a_better"] == 1.0



def test_swapping_systems_negates_every_resampled_difference():
    rng = np.random.default_rng(6)
    targets = _task(300, rng)
    a = rng.normal(size=(300, 3)) + 1.5 * targets
    b = rng.normal(size=(300, 3)) + 1.0 * targets
    res = paired_bootstrap_eer_diff(a, b, targets, n_boot=200, seed=0)
    rev = paired_bootstrap_eer_diff(b, a, targets, n_boot=200, seed=0)
    assert rev["low"] == pytest.approx(-res["high"]) and rev["high"] == pytest.approx(-res["low"])
    assert rev["diff"] == pytest.approx(-res["diff"])
    assert rev["frac_a_better"] == res["frac_b_better"]


def test_deterministic_for_a_seed_and_different_across_seeds():
    rng = np.random.default_rng(2)
    targets = _task(150, rng)
    a = rng.random((150, 3)) + 0.6 * targets
    b = rng.random((150, 3)) + 0.5 * targets
    r1 = paired_bootstrap_eer_diff(a, b, targets, n_boot=300, seed=7)
    r2 = paired_bootstrap_eer_diff(a, b, targets, n_boot=300, seed=7)
    r3 = paired_bootstrap_eer_diff(a, b, targets, n_boot=300, seed=8)
    assert r1 == r2
    assert r1["mean_diff"] != r3["mean_diff"]
    assert r1["diff"] == r3["diff"]  # the observed difference does not depend on the seed


def test_resamples_missing_a_class_are_skipped_and_counted():
    # 6 clips, class 0 has one positive (clip 0), class 1 one positive (clip 1). A resample of 6
    # draws keeps both with probability 1 - 2*(5/6)^6 + (4/6)^6 = 0.4180 (inclusion-exclusion).
    targets = np.array([[1, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 0]])
    rng = np.random.default_rng(5)
    a, b = rng.random((6, 2)), rng.random((6, 2))
    res = paired_bootstrap_eer_diff(a, b, targets, n_boot=4000, seed=0)
    assert res["n_valid"] + res["n_skipped"] == 4000
    assert res["n_valid"] / 4000 == pytest.approx(1 - 2 * (5 / 6) ** 6 + (4 / 6) ** 6, abs=0.025)


def test_input_errors():
    t = np.array([[1], [0], [0]])
    with pytest.raises(DataError, match="one shape"):
        paired_bootstrap_eer_diff(np.zeros((3, 1)), np.zeros((2, 1)), t)
    with pytest.raises(DataError, match="no positive"):
        paired_bootstrap_eer_diff(np.zeros((3, 1)), np.zeros((3, 1)), np.zeros((3, 1)))
    with pytest.raises(DataError, match="ci"):
        paired_bootstrap_eer_diff(np.zeros((3, 1)), np.zeros((3, 1)), t, ci=1.5)


def test_pooled_over_seeds_averages_the_per_pair_differences_on_shared_resamples():
    from raresound.evaluation.bootstrap import pooled_bootstrap_eer_diff

    rng = np.random.default_rng(7)
    y = _task(300, rng)
    good = rng.normal(size=y.shape) + 2.0 * y
    bad = rng.normal(size=y.shape) + 0.5 * y
    single = paired_bootstrap_eer_diff(good, bad, y, n_boot=200, seed=3)
    assert pooled_bootstrap_eer_diff([(good, bad)], y, n_boot=200, seed=3) == single
    # a pair and its mirror cancel in every resample: the pooled difference is exactly zero
    mirror = pooled_bootstrap_eer_diff([(good, bad), (bad, good)], y, n_boot=200, seed=3)
    assert mirror["diff"] == 0.0 and mirror["low"] == 0.0 and mirror["high"] == 0.0
    # two copies of one pair pool to that pair's result
    twice = pooled_bootstrap_eer_diff([(good, bad), (good, bad)], y, n_boot=200, seed=3)
    assert twice["low"] == pytest.approx(single["low"]) and twice["high"] == pytest.approx(single["high"])


def test_eer_intervals_contain_the_estimate_and_narrow_with_more_clips():
    from raresound.evaluation.bootstrap import eer_intervals

    rng = np.random.default_rng(8)
    widths = []
    for n in (200, 2000):
        y = _task(n, rng)
        scores = rng.normal(size=y.shape) + 1.5 * y
        point = evaluate_scores(scores, y, ["a", "b", "c"])
        iv = eer_intervals(scores, y, ["a", "b", "c"], n_boot=1000, seed=0)
        for c in ("a", "b", "c"):
            assert iv["ci_low"][c] <= point["eer"][c] <= iv["ci_high"][c]
            assert iv["n_pos"][c] == point["n_positive"][c] and iv["n_neg"][c] == n - iv["n_pos"][c]
        assert iv["overall_ci_low"] <= point["overall"] <= iv["overall_ci_high"]
        widths.append(iv["overall_ci_high"] - iv["overall_ci_low"])
    assert widths[1] < 0.5 * widths[0]  # ~ 1/sqrt(10) of the width with 10x the clips


def test_eer_intervals_keep_every_class_in_every_resample_and_are_seeded():
    from raresound.evaluation.bootstrap import eer_intervals

    # One positive per class: unstratified resamples would often lose it; stratified ones never do.
    y = np.array([[1, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 0]])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.3], [0.1, 0.2], [0.5, 0.4], [0.4, 0.9]])
    iv = eer_intervals(scores, y, ["x", "z"], n_boot=300, seed=1)
    assert iv == eer_intervals(scores, y, ["x", "z"], n_boot=300, seed=1)
    assert 0.0 <= iv["ci_low"]["x"] <= iv["ci_high"]["x"] <= 1.0
    assert iv["bootstrap"] == {"n_boot": 300, "seed": 1, "ci": 0.95}
    with pytest.raises(DataError, match="no positive"):
        eer_intervals(scores, np.zeros_like(y), ["x", "z"])


def test_eer_intervals_of_several_seeds_cover_their_mean():
    rng = np.random.default_rng(3)
    y = np.zeros((120, 2), dtype=int)
    y[:30, 0] = 1
    y[30:60, 1] = 1
    good = y + rng.normal(0, 0.6, y.shape)
    poor = y + rng.normal(0, 1.5, y.shape)
    one = eer_intervals(good, y, ["a", "b"], n_boot=300, seed=1)
    same = eer_intervals([good, good], y, ["a", "b"], n_boot=300, seed=1)
    assert same["overall_ci_low"] == pytest.approx(one["overall_ci_low"])
    assert same["overall_ci_high"] == pytest.approx(one["overall_ci_high"])
    mixed = eer_intervals([good, poor], y, ["a", "b"], n_boot=300, seed=1)
    alone_poor = eer_intervals(poor, y, ["a", "b"], n_boot=300, seed=1)
    # the seed-mean sits between the two systems, and so does its interval
    assert one["overall_ci_low"] < mixed["overall_ci_low"] < alone_poor["overall_ci_low"]
    assert one["overall_ci_high"] < mixed["overall_ci_high"] < alone_poor["overall_ci_high"]
