import numpy as np
import pytest

from raresound.errors import DataError
from raresound.evaluation.det import check_binary_task, det_curve


def test_det_curve_hand_computed_points():
    # scores 0.1..0.5, positives at 0.2 and 0.5 (2 pos, 3 neg); detect when score >= threshold.
    # threshold 0.2: FA {0.3,0.4} = 2/3, miss 0   <- first point with no misses
    # threshold 0.3: FA 2/3, miss {0.2} = 1/2
    # threshold 0.4: FA 1/3, miss 1/2
    # threshold 0.5: FA 0,   miss 1/2             <- first point with no false alarms
    fpr, fnr, thr = det_curve([0.1, 0.2, 0.3, 0.4, 0.5], [0, 1, 0, 0, 1])
    np.testing.assert_allclose(thr, [0.2, 0.3, 0.4, 0.5])
    np.testing.assert_allclose(fpr, [2 / 3, 2 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(fnr, [0.0, 0.5, 0.5, 0.5])


def test_tied_scores_are_one_operating_point():
    # The tied pair (one positive, one negative at 0.4) enters together: FA 1/2 and miss 0 at once.
    fpr, fnr, thr = det_curve([0.1, 0.4, 0.4, 0.8], [0, 1, 0, 1])
    np.testing.assert_allclose(thr, [0.4, 0.8])
    np.testing.assert_allclose(fpr, [0.5, 0.0])
    np.testing.assert_allclose(fnr, [0.0, 0.5])


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_single_class_labels_raise_data_error_naming_class(labels):
    with pytest.raises(DataError, match="class 'dog'.*no (positive|negative)"):
        det_curve([0.1, 0.2, 0.3], labels, name="dog")


def test_bad_inputs_raise_data_error():
    with pytest.raises(DataError, match="equal length"):
        check_binary_task([0.1, 0.2], [0, 1, 1])
    with pytest.raises(DataError, match="NaN"):
        check_binary_task([0.1, np.nan], [0, 1])
    with pytest.raises(DataError, match="0/1"):
        check_binary_task([0.1, 0.2], [0, 2])
