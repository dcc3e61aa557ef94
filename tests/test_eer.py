import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raresound.errors import DataError
from raresound.evaluation.eer import eer, eer_threshold, evaluate_scores


def brute_force_eer(scores, labels):
    """Independent reference: try every distinct score (and +inf, "reject all") as a threshold,
    detect when score >= threshold, walk thresholds upwards until the miss rate first reaches the
    false-alarm rate, and interpolate linearly with the previous operating point."""
    scores = [float(s) for s in scores]
    labels = [int(v) for v in labels]
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    points = []
    for t in sorted(set(scores)) + [float("inf")]:
        fa = sum(1 for s, y in zip(scores, labels) if y == 0 and s >= t) / n_neg
        miss = sum(1 for s, y in zip(scores, labels) if y == 1 and s < t) / n_pos
        points.append((fa, miss))
    prev = None
    for fa, miss in points:
        if miss >= fa:
            if prev is None or miss == fa:
                return fa
            pfa, pmiss = prev
            gap_before, gap_after = pfa - pmiss, miss - fa
            w = gap_before / (gap_before + gap_after)
            return pfa + w * (fa - pfa)
        prev = (fa, miss)
    raise AssertionError("unreachable: at +inf the miss rate is 1")


def test_perfectly_separated_is_zero():
    assert eer([0.1, 0.2, 0.3, 0.7, 0.9], [0, 0, 0, 1, 1]) == 0.0


def test_perfectly_inverted_is_one():
    assert eer([0.7, 0.9, 0.1, 0.2, 0.3], [0, 0, 1, 1, 1]) == 1.0


def test_tie_between_positive_and_negative_hand_computed():
    # scores [0.1, 0.4, 0.4, 0.8], labels [0, 1, 0, 1]. Operating points (FA, miss):
    #   t=0.4 -> (1/2, 0)   (the tied pair is one point: both clips switch together)
    #   t=0.8 -> (0, 1/2)
    # d = FA - miss goes +1/2 -> -1/2, zero halfway: EER = 1/4, threshold = 0.4 + 0.5*0.4 = 0.6.
    # (Breaking the tie either way would give 0 or 1/2 instead.)
    assert eer([0.1, 0.4, 0.4, 0.8], [0, 1, 0, 1]) == pytest.approx(0.25)
    assert eer_threshold([0.1, 0.4, 0.4, 0.8], [0, 1, 0, 1]) == pytest.approx(0.6)


def test_asymmetric_interpolation_hand_computed():
    # scores [0.2, 0.5, 0.5, 0.5, 0.9], labels [0, 1, 0, 0, 1]: 2 positives, 3 negatives.
    #   t=0.5 -> FA 2/3 (two tied negatives), miss 0     d = +2/3
    #   t=0.9 -> FA 0,                        miss 1/2   d = -1/2
    # Zero at w = (2/3) / (2/3 + 1/2) = 4/7 of the way: FA = 2/3 * 3/7 = 2/7, miss = 1/2 * 4/7 = 2/7.
    # Threshold = 0.5 + 4/7 * 0.4 = 0.5 + 1.6/7.
    assert eer([0.2, 0.5, 0.5, 0.5, 0.9], [0, 1, 0, 0, 1]) == pytest.approx(2 / 7)
    assert eer_threshold([0.2, 0.5, 0.5, 0.5, 0.9], [0, 1, 0, 0, 1]) == pytest.approx(0.5 + 1.6 / 7)


def test_exact_crossing_at_an_operating_point():
    # scores 0.1..0.6, labels [0,1,0,1,0,1]: at t=0.4, FA {0.5} = 1/3 and miss {0.2} = 1/3.
    assert eer([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0, 1, 0, 1, 0, 1]) == pytest.approx(1 / 3)
    assert eer_threshold([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0, 1, 0, 1, 0, 1]) == pytest.approx(0.4)


def test_all_scores_tied_is_one_half_and_threshold_is_the_score():
    # Only "accept all" (1, 0) and "reject all" (0, 1): the crossing is at 1/2.
    assert eer([0.5, 0.5, 0.5], [1, 0, 0]) == pytest.approx(0.5)
    assert eer_threshold([0.5, 0.5, 0.5], [1, 0, 0]) == pytest.approx(0.5)


def test_random_scores_on_large_set_near_one_half():
    rng = np.random.default_rng(0)
    labels = rng.random(20000) < 0.1
    assert eer(rng.random(20000), labels.astype(int)) == pytest.approx(0.5, abs=0.02)


def test_invariant_to_monotone_transform():
    rng = np.random.default_rng(1)
    labels = (rng.random(300) < 0.3).astype(int)
    scores = rng.normal(size=300) + labels
    assert eer(np.exp(3 * scores), labels) == pytest.approx(eer(scores, labels))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 1)), min_size=2, max_size=25))
def test_matches_brute_force_reference_with_many_ties(pairs):
    scores = [s / 6 for s, _ in pairs]
    labels = [y for _, y in pairs]
    if len(set(labels)) < 2:
        with pytest.raises(DataError):
            eer(scores, labels)
        return
    assert eer(scores, labels) == pytest.approx(brute_force_eer(scores, labels), abs=1e-12)


def test_evaluate_scores_negatives_include_other_events_and_background():
    # Columns: dog, baby. Clip rows: dog, dog, baby, baby, background, background.
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]], dtype=np.float32)
    scores = np.array(
        [
            [0.9, 0.1],
            [0.8, 0.2],
            [0.85, 0.7],  # baby clip scoring high for dog: a dog false alarm above one dog clip
            [0.1, 0.6],
            [0.2, 0.3],
            [0.3, 0.65],  # background clip scoring between the two baby clips
        ]
    )
    res = evaluate_scores(scores, targets, ["dog", "baby"])
    # dog: positives {0.9, 0.8}, negatives {0.85, 0.1, 0.2, 0.3}.
    #   t=0.8 -> FA 1/4, miss 0 (d=+1/4); t=0.85 -> FA 1/4, miss 1/2 (d=-1/4); halfway: EER 1/4.
    # baby: positives {0.7, 0.6}, negatives {0.1, 0.2, 0.3, 0.65}.
    #   t=0.6 -> FA 1/4, miss 0; t=0.65 -> FA 1/4, miss 1/2; EER 1/4 again.
    assert res["eer"]["dog"] == pytest.approx(0.25)
    assert res["eer"]["baby"] == pytest.approx(0.25)
    assert res["overall"] == pytest.approx(0.25)
    assert res["n_positive"] == {"dog": 2, "baby": 2}
    assert res["n_negative"] == {"dog": 4, "baby": 4}
    assert res["classes"] == ["dog", "baby"]
    assert res["threshold"]["dog"] == pytest.approx(0.825)


def test_evaluate_scores_overall_is_equal_weight_mean():
    targets = np.array([[1, 0], [0, 0], [0, 1], [0, 0], [0, 0], [0, 0]])
    # class a perfect (EER 0), class b inverted (EER 1): the mean is 0.5 regardless of counts.
    scores = np.array([[0.9, 0.9], [0.1, 0.8], [0.2, 0.0], [0.1, 0.7], [0.1, 0.6], [0.1, 0.5]])
    res = evaluate_scores(scores, targets, ["a", "b"])
    assert res["eer"] == {"a": 0.0, "b": 1.0}
    assert res["overall"] == 0.5


def test_evaluate_scores_class_without_positives_names_the_class():
    targets = np.array([[1, 0], [0, 0], [0, 0]])
    with pytest.raises(DataError, match="class 'gunshot'.*no positive"):
        evaluate_scores(np.zeros((3, 2)), targets, ["dog", "gunshot"])


def test_evaluate_scores_shape_errors():
    with pytest.raises(DataError, match="class names"):
        evaluate_scores(np.zeros((3, 2)), np.zeros((3, 2)), ["dog"])
    with pytest.raises(DataError, match=r"\[N, L\]"):
        evaluate_scores(np.zeros((3, 2)), np.zeros((3, 3)), ["a", "b"])
