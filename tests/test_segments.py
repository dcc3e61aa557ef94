import math

import pytest

from raresound.errors import DataError
from raresound.evaluation.events import Event
from raresound.evaluation.segments import activity_roll, segment_based_metrics


def test_activity_roll_covers_every_touched_segment():
    roll = activity_roll([Event("a", 0.5, 2.2, "dog"), Event("a", 3.0, 3.0, "cat"), Event("a", 4.0, 9.0, "owl")],
                         ["cat", "dog"], 5, 1.0)
    # dog 0.5-2.2 s touches segments 0, 1, 2; a zero-length event on a boundary touches none;
    # an unlisted class is left out.
    assert roll[:, 1].tolist() == [True, True, True, False, False]
    assert not roll[:, 0].any()


def test_hand_worked_overall_and_class_wise():
    # 1-s segments, file length 4 s (the latest offset).
    # ref: dog 0-2, cat 1-3          -> seg0 {dog}, seg1 {dog, cat}, seg2 {cat}, seg3 {}
    # est: dog 0-1, owl 1-2, cat 3-4 -> seg0 {dog}, seg1 {owl},      seg2 {},    seg3 {cat}
    ref = [Event("a", 0, 2, "dog"), Event("a", 1, 3, "cat")]
    est = [Event("a", 0, 1, "dog"), Event("a", 1, 2, "owl"), Event("a", 3, 4, "cat")]
    m = segment_based_metrics(ref, est, 1.0)
    o = m["overall"]
    # seg0: tp1; seg1: Nref2 Nsys1 tp0 -> S1 D1; seg2: Nref1 Nsys0 -> D1; seg3: Nsys1 -> I1
    assert (o["Nref"], o["Nsys"], o["Ntp"], o["S"], o["D"], o["I"]) == (4, 3, 1, 1, 2, 1)
    assert o["error_rate"] == pytest.approx(4 / 4) and o["f_measure"] == pytest.approx(2 / 7)
    cw = m["class_wise"]
    assert (cw["dog"]["Ntp"], cw["dog"]["D"], cw["dog"]["I"]) == (1, 1, 0)
    assert (cw["cat"]["Ntp"], cw["cat"]["D"], cw["cat"]["I"]) == (0, 2, 1)
    assert math.isnan(cw["owl"]["error_rate"]) and cw["owl"]["f_measure"] == 0.0
    assert m["class_wise_average"]["error_rate"] == pytest.approx((0.5 + 1.5) / 2)
    assert m["evaluated_seconds"] == 4.0


def test_durations_cut_events_and_add_files():
    ref = [Event("a", 0, 2, "dog"), Event("a", 5, 6, "dog")]
    m = segment_based_metrics(ref, [Event("a", 0, 2, "dog")], 1.0, durations={"a": 3.0, "b": 10.0})
    # the event at 5-6 s lies past a's 3 s: not counted; b adds segments without events
    assert (m["overall"]["Nref"], m["overall"]["Ntp"], m["overall"]["error_rate"]) == (2, 2, 0.0)
    assert m["evaluated_seconds"] == 13.0
    with pytest.raises(DataError, match="no duration given for file 'c'"):
        segment_based_metrics([Event("c", 0, 1, "dog")], [], 1.0, durations={"a": 3.0})


def test_bad_resolution_and_duration():
    with pytest.raises(DataError, match="time_resolution"):
        segment_based_metrics([], [], 0.0)
    with pytest.raises(DataError, match="duration of 'a'"):
        segment_based_metrics([], [], 1.0, durations={"a": float("nan")})
