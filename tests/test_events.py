import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from raresound.errors import DataError
from raresound.evaluation.event_matching import maximum_matching
from raresound.evaluation.events import (
    Event,
    event_based_metrics,
    read_event_list,
    write_event_list,
)


def E(onset, label, filename="a.wav", offset=None):
    return Event(filename, onset, onset + 1.0 if offset is None else offset, label)


def test_perfect_detection():
    ref = [E(1.0, "dog"), E(3.0, "baby", "b.wav")]
    m = event_based_metrics(ref, list(ref), t_collar=0.5)
    o = m["overall"]
    assert (o["Ntp"], o["S"], o["D"], o["I"]) == (2, 0, 0, 0)
    assert o["error_rate"] == 0.0 and o["f_measure"] == 1.0
    assert m["class_wise"]["dog"]["error_rate"] == 0.0
    assert m["class_wise_average"] == {"error_rate": 0.0, "f_measure": 1.0}


def test_onset_only_offsets_ignored():
    # Onset 0.3 s late (inside 500 ms) with a wildly different offset still counts.
    m = event_based_metrics([E(1.0, "dog", offset=2.0)], [E(1.3, "dog", offset=9.0)], t_collar=0.5)
    assert m["overall"]["Ntp"] == 1


def test_collar_edges_inclusive_and_exclusive():
    # |diff| = 0.5 exactly (decimal text 2.7 - 2.2 is 0.5000000000000004 in binary) -> hit;
    # |diff| = 0.501 -> miss. 200 ms collar: 0.2 hit, 0.21 miss.
    assert event_based_metrics([E(2.2, "dog")], [E(2.7, "dog")], 0.5)["overall"]["Ntp"] == 1
    assert event_based_metrics([E(2.2, "dog")], [E(1.7, "dog")], 0.5)["overall"]["Ntp"] == 1
    assert event_based_metrics([E(2.2, "dog")], [E(2.701, "dog")], 0.5)["overall"]["Ntp"] == 0
    assert event_based_metrics([E(1.0, "dog")], [E(1.2, "dog")], 0.2)["overall"]["Ntp"] == 1
    assert event_based_metrics([E(1.0, "dog")], [E(1.21, "dog")], 0.2)["overall"]["Ntp"] == 0


def test_miss_outside_collar_is_one_deletion_and_one_insertion():
    # Same label, onset 1 s off: no hit, and no substitution (onset condition fails) ->
    # D = 1, I = 1, ER = (0 + 1 + 1) / 1 = 2, F1 = 0.
    o = event_based_metrics([E(1.0, "dog")], [E(2.0, "dog")], 0.5)["overall"]
    assert (o["Ntp"], o["S"], o["D"], o["I"]) == (0, 0, 1, 1)
    assert o["error_rate"] == 2.0 and o["f_measure"] == 0.0


def test_double_detection_counts_one_insertion():
    # Two estimates inside the collar of one reference: one TP, one insertion.
    # Overall ER = (0 + 0 + 1)/1 = 1; P = 1/2, R = 1, F1 = 2*1/(1+2) = 2/3.
    m = event_based_metrics([E(1.0, "dog")], [E(1.1, "dog"), E(0.95, "dog")], 0.5)
    o = m["overall"]
    assert (o["Ntp"], o["S"], o["D"], o["I"]) == (1, 0, 0, 1)
    assert o["error_rate"] == 1.0
    assert o["precision"] == 0.5 and o["recall"] == 1.0
    assert o["f_measure"] == pytest.approx(2 / 3)
    assert m["class_wise"]["dog"]["error_rate"] == 1.0


def test_same_onset_wrong_label_is_a_substitution():
    # Overall: S = 1, D = 0, I = 0, ER = 1/1. Class-wise there are no substitutions:
    # dog: D = 1, I = 0 -> ER 1; baby: Nref = 0 -> ER undefined (NaN), I = 1.
    m = event_based_metrics([E(1.0, "dog")], [E(1.0, "baby")], 0.5)
    o = m["overall"]
    assert (o["Ntp"], o["S"], o["D"], o["I"]) == (0, 1, 0, 0)
    assert o["error_rate"] == 1.0 and o["substitution_rate"] == 1.0 and o["f_measure"] == 0.0
    assert m["classes"] == ["baby", "dog"]
    assert m["class_wise"]["dog"]["error_rate"] == 1.0 and m["class_wise"]["dog"]["D"] == 1
    assert math.isnan(m["class_wise"]["baby"]["error_rate"]) and m["class_wise"]["baby"]["I"] == 1
    # Class-wise average over defined values only: ER mean over {dog} = 1, F1 mean over both = 0.
    assert m["class_wise_average"] == {"error_rate": 1.0, "f_measure": 0.0}


def test_events_only_match_within_the_same_file():
    o = event_based_metrics([E(1.0, "dog", "a.wav")], [E(1.0, "dog", "b.wav")], 0.5)["overall"]
    assert (o["Ntp"], o["S"], o["D"], o["I"]) == (0, 0, 1, 1)


def test_matching_is_one_to_one_and_maximum():
    # 200 ms collar. refs at 1.0 and 1.3; estimates at 1.15 and 0.9.
    # Pairing 1.0<->1.15 first would strand 1.3 (vs 0.9 is 0.4 off): 1 TP. The maximum matching
    # 1.0<->0.9 and 1.3<->1.15 gives 2 TPs.
    ref = [E(1.0, "dog"), E(1.3, "dog")]
    est = [E(1.15, "dog"), E(0.9, "dog")]
    assert event_based_metrics(ref, est, 0.2)["overall"]["Ntp"] == 2


def test_mixed_case_hand_worked():
    # 500 ms collar, DCASE 2017 T2 style (at most one event per file):
    #   f1: ref dog@1.0,   est dog@1.2       -> TP
    #   f2: ref baby@2.0,  est gunshot@2.1   -> substitution
    #   f3: ref gunshot@5, no estimate       -> deletion
    #   f4: no reference,  est dog@3.0       -> insertion
    #   f5: ref baby@1.0,  est baby@1.8      -> outside collar: deletion + insertion
    ref = [E(1.0, "dog", "f1"), E(2.0, "baby", "f2"), E(5.0, "gunshot", "f3"), E(1.0, "baby", "f5")]
    est = [E(1.2, "dog", "f1"), E(2.1, "gunshot", "f2"), E(3.0, "dog", "f4"), E(1.8, "baby", "f5")]
    m = event_based_metrics(ref, est, 0.5)
    o = m["overall"]
    # Nref = 4, Nsys = 4, Ntp = 1, S = 1, D = 4-1-1 = 2, I = 4-1-1 = 2, ER = 5/4, F1 = 2/8.
    assert (o["Nref"], o["Nsys"], o["Ntp"], o["S"], o["D"], o["I"]) == (4, 4, 1, 1, 2, 2)
    assert o["error_rate"] == pytest.approx(1.25)
    assert o["f_measure"] == pytest.approx(0.25)
    cw = m["class_wise"]
    # dog: Nref 1, Nsys 2, Ntp 1 -> D 0, I 1, ER 1, F1 2/3.
    assert (cw["dog"]["D"], cw["dog"]["I"], cw["dog"]["error_rate"]) == (0, 1, 1.0)
    assert cw["dog"]["f_measure"] == pytest.approx(2 / 3)
    # baby: Nref 2, Nsys 1, Ntp 0 -> D 2, I 1, ER 3/2, F1 0.
    assert (cw["baby"]["D"], cw["baby"]["I"], cw["baby"]["error_rate"]) == (2, 1, 1.5)
    # gunshot: Nref 1, Nsys 1, Ntp 0 -> D 1, I 1, ER 2.
    assert cw["gunshot"]["error_rate"] == 2.0
    assert m["class_wise_average"]["error_rate"] == pytest.approx((1.0 + 1.5 + 2.0) / 3)
    assert m["class_wise_average"]["f_measure"] == pytest.approx((2 / 3) / 3)


def test_empty_lists():
    m = event_based_metrics([], [], 0.5)
    assert m["overall"]["Nref"] == 0 and math.isnan(m["overall"]["error_rate"])
    assert math.isnan(m["overall"]["f_measure"]) and m["class_wise"] == {}
    o = event_based_metrics([E(1.0, "dog")], [], 0.5)["overall"]
    assert (o["D"], o["error_rate"], o["recall"], o["f_measure"]) == (1, 1.0, 0.0, 0.0)
    assert math.isnan(o["precision"])
    o = event_based_metrics([], [E(1.0, "dog")], 0.5)["overall"]
    assert o["I"] == 1 and math.isnan(o["error_rate"]) and o["f_measure"] == 0.0


def test_explicit_classes_and_tuple_input():
    m = event_based_metrics([("a.wav", 1.0, 2.0, "dog")], [("a.wav", 1.0, 2.0, "dog")], 0.5, classes=["dog", "baby"])
    assert list(m["class_wise"]) == ["dog", "baby"]
    assert m["class_wise"]["baby"]["Nref"] == 0


def test_bad_collar():
    with pytest.raises(DataError, match="t_collar"):
        event_based_metrics([], [], -0.1)


def test_maximum_matching_needs_augmenting_path():
    # ref 0 can take est 0 or 1, ref 1 only est 0: taking 0-0 first must be undone.
    assert maximum_matching(2, 2, {0: [0, 1], 1: [0]}) == {0: 1, 1: 0}


def test_maximum_matching_size_equals_assignment_reference():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_ref, n_est = rng.integers(1, 8, size=2)
        adj = rng.random((n_ref, n_est)) < 0.3
        edges = {j: list(np.flatnonzero(adj[j])) for j in range(n_ref)}
        match = maximum_matching(n_ref, n_est, edges)
        assert all(adj[j, i] for j, i in match.items())
        assert len(set(match.values())) == len(match)
        rows, cols = linear_sum_assignment(adj, maximize=True)
        assert len(match) == int(adj[rows, cols].sum())


def test_event_list_round_trip(tmp_path):
    events = [Event("mix_001.wav", 0.1, 2.35, "babycry"), Event("mix 002.wav", 12.0, 13.123456789, "gunshot")]
    path = write_event_list(events, tmp_path / "est.txt")
    assert path.read_text().splitlines()[0] == "mix_001.wav\t0.1\t2.35\tbabycry"
    assert read_event_list(path) == events
    write_event_list(events, tmp_path / "h.txt", header=True)
    assert read_event_list(tmp_path / "h.txt") == events


def test_read_event_list_tolerates_header_blank_and_file_only_lines(tmp_path):
    p = tmp_path / "ref.csv"
    p.write_text("\nfilename,onset,offset,event_label\na.wav,1.5,2.5,dog\nb.wav\nc.wav\t0\t1\tbaby\n")
    assert read_event_list(p) == [Event("a.wav", 1.5, 2.5, "dog"), Event("c.wav", 0.0, 1.0, "baby")]


def test_read_event_list_errors_name_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("a.wav\t1.0\t2.0\tdog\na.wav\tx\t2.0\tdog\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: onset/offset"):
        read_event_list(p)
    p.write_text("a.wav\t1.0\tdog\n")
    with pytest.raises(DataError, match=r"bad\.txt:1: expected 4 fields"):
        read_event_list(p)
    p.write_text("a.wav\t3.0\t2.0\tdog\n")
    with pytest.raises(DataError, match="onset <= offset"):
        read_event_list(p)
    with pytest.raises(DataError, match="cannot read"):
        read_event_list(tmp_path / "missing.txt")


def test_offset_criterion_collar_grows_with_reference_length():
    # t_collar 0.2, 20 % of length. A 1-s reference: offset collar max(0.2, 0.2) = 0.2 s.
    # A 5-s reference: max(0.2, 1.0) = 1.0 s.
    kw = dict(evaluate_offset=True, percentage_of_length=0.2)
    short, long_ = E(1.0, "dog", offset=2.0), E(1.0, "rain", offset=6.0)
    assert event_based_metrics([short], [E(1.1, "dog", offset=2.2)], 0.2, **kw)["overall"]["Ntp"] == 1
    assert event_based_metrics([short], [E(1.1, "dog", offset=2.25)], 0.2, **kw)["overall"]["Ntp"] == 0
    assert event_based_metrics([long_], [E(1.0, "rain", offset=5.0)], 0.2, **kw)["overall"]["Ntp"] == 1
    assert event_based_metrics([long_], [E(1.0, "rain", offset=4.9)], 0.2, **kw)["overall"]["Ntp"] == 0
    # the onset still has to be within the plain collar
    assert event_based_metrics([long_], [E(1.3, "rain", offset=6.0)], 0.2, **kw)["overall"]["Ntp"] == 0


def test_offset_criterion_also_gates_substitutions():
    # Same onset, wrong label: a substitution when the offsets agree, else a deletion + insertion.
    kw = dict(evaluate_offset=True, percentage_of_length=0.2)
    o = event_based_metrics([E(1.0, "dog", offset=2.0)], [E(1.0, "cat", offset=2.1)], 0.2, **kw)["overall"]
    assert (o["S"], o["D"], o["I"]) == (1, 0, 0)
    o = event_based_metrics([E(1.0, "dog", offset=2.0)], [E(1.0, "cat", offset=3.0)], 0.2, **kw)["overall"]
    assert (o["S"], o["D"], o["I"]) == (0, 1, 1)


def test_onset_only_default_unchanged_and_reported():
    m = event_based_metrics([E(1.0, "dog", offset=2.0)], [E(1.3, "dog", offset=9.0)])
    assert m["overall"]["Ntp"] == 1 and m["t_collar"] == 0.5 and m["evaluate_offset"] is False


def test_bad_percentage_of_length():
    with pytest.raises(DataError, match="percentage_of_length"):
        event_based_metrics([], [], 0.2, evaluate_offset=True, percentage_of_length=1.5)


def test_an_event_row_without_its_label_is_refused(tmp_path):
    p = tmp_path / "ref.tsv"
    for text in ("a.wav\t1.0\t2.0\n", "a.wav,1.0,2.0,\n", "a.wav\t1.0\t2.0\t \n"):
        p.write_text("b.wav\t0.5\t1.0\tdog\n" + text)
        with pytest.raises(DataError, match=r"ref\.tsv:2: expected 4 fields .*got 3: an event with onset and offset "
                                            r"needs its class label"):
            read_event_list(p)


def test_overlapping_events_of_one_class_in_one_file_are_refused():
    from raresound.evaluation.events import check_no_overlap

    def rows(*events):
        return [(f"r.tsv:{i + 1}", *e) for i, e in enumerate(events)]

    fine = rows(("a.wav", 1.0, 2.0, "dog"), ("a.wav", 2.0, 3.0, "dog"), ("a.wav", 1.5, 2.5, "cat"),
                ("b.wav", 1.5, 2.5, "dog"), ("c.wav", None, None, None))
    check_no_overlap(fine)  # touching, other class, other file: all fine
    with pytest.raises(DataError, match=r"r\.tsv:3: dog event 4-5 s overlaps the one at r\.tsv:1 \(1-6 s\) in a\.wav"):
        check_no_overlap(rows(("a.wav", 1.0, 6.0, "dog"), ("a.wav", 2.0, 3.0, "cat"), ("a.wav", 4.0, 5.0, "dog")))


# ---------------------------------------------------------------- issue 24: hostile event lists


def test_space_separated_lines_are_refused_but_names_with_spaces_are_not(tmp_path):
    from raresound.errors import DataError
    from raresound.evaluation.events import read_event_rows

    path = tmp_path / "ev.txt"
    path.write_text("my clip 2.wav\nb.wav\t1.0\t2.0\tdog\n")
    assert [r[1:] for r in read_event_rows(path)] == [("my clip 2.wav", None, None, None), ("b.wav", 1.0, 2.0, "dog")]
    for line in ("a.wav 1.0 2.0 dog", "a.wav  1 2", "my file.wav 0.5 3 baby cry"):
        path.write_text(f"b.wav\t1.0\t2.0\tdog\n{line}\n")
        with pytest.raises(DataError) as info:
            read_event_rows(path)
        assert str(info.value).startswith(f"{path}:2: fields separated by spaces")


def test_event_times_beyond_any_recording_are_refused(tmp_path):
    from raresound.errors import DataError
    from raresound.evaluation.events import read_event_rows

    path = tmp_path / "ev.txt"
    path.write_text("a.wav\t1e300\t1e300\tdog\n")
    with pytest.raises(DataError, match=r"ev.txt:1: event time 1e\+300 s is beyond any recording"):
        read_event_rows(path)
    path.write_text("a.wav\t0\t1e9\tdog\n")  # the limit itself is fine
    assert read_event_rows(path)[0][3] == 1e9


def test_segment_grid_is_bounded_before_allocation():
    from raresound.errors import DataError
    from raresound.evaluation.segments import MAX_SEGMENTS, segment_based_metrics

    ref = [("a.wav", 0.0, 10.0, "dog")]
    with pytest.raises(DataError, match=r"file 'a.wav': 10 s in 1e-09 s segments is 1e\+10 segments"):
        segment_based_metrics(ref, ref, 1e-9)
    with pytest.raises(DataError, match="segments"):
        segment_based_metrics(ref, ref, 1.0, durations={"a.wav": 10.0 * MAX_SEGMENTS + 1})
    assert segment_based_metrics(ref, ref, 10.0 / MAX_SEGMENTS)["overall"]["f_measure"] == 1.0


def test_detected_event_times_are_rounded_to_the_millisecond():
    from raresound.detection.framing import WindowGrid
    from raresound.detection.postprocess import EventTracker

    tracker = EventTracker(WindowGrid.for_config(__import__("raresound.features", fromlist=["FeatureConfig"])
                                                 .FeatureConfig(clip_seconds=0.08), 0.04), ["dog"])
    out = []
    tracker.add_run(0, 21, 21, 0.9, out)  # window 21 starts at 21 * 0.04 = 0.8400000000000001 s
    tracker.flush(0, 100.0, out)
    assert (out[0].onset, out[0].offset) == (0.84, 0.92) and repr(out[0].onset) == "0.84"
