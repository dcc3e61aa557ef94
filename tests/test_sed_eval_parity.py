"""Event-based and segment-based metrics equal sed_eval's (0.2.1, installed with the test extra) on
hand-made and seeded random event lists: every count exactly, every rate where both define it.

Inputs keep to what the documented deviations leave equal (`evaluation/counts.py`,
`evaluation/events.py`): events are given to sed_eval file by file in onset order, and times are
either continuous random numbers or multiples of 1/8 s with collars that are binary fractions too,
so no onset sits within float rounding of a collar's edge."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # dcase_util: "pkg_resources is deprecated"
    import dcase_util
    import sed_eval

from raresound.evaluation.events import Event, event_based_metrics
from raresound.evaluation.segments import segment_based_metrics

RATES = ("error_rate", "substitution_rate", "deletion_rate", "insertion_rate", "precision", "recall", "f_measure")
TOL = 1e-12


def _container(events):
    return dcase_util.containers.MetaDataContainer([
        {"filename": e.filename, "onset": e.onset, "offset": e.offset, "event_label": e.event_label}
        for e in sorted(events, key=lambda e: (e.onset, e.offset, e.event_label))])


def _files(ref, est, durations=None):
    return sorted({e.filename for e in ref} | {e.filename for e in est} | set(durations or ()))


def sed_event_based(ref, est, labels, **kw):
    m = sed_eval.sound_event.EventBasedMetrics(event_label_list=list(labels), **kw)
    for f in _files(ref, est):
        m.evaluate(_container([e for e in ref if e.filename == f]), _container([e for e in est if e.filename == f]))
    return m


def sed_segment_based(ref, est, labels, time_resolution, durations=None):
    m = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=list(labels), time_resolution=time_resolution)
    for f in _files(ref, est, durations):
        m.evaluate(_container([e for e in ref if e.filename == f]), _container([e for e in est if e.filename == f]),
                   evaluated_length_seconds=None if durations is None else durations[f])
    return m


def _close(ours: float, theirs: float, where: str) -> float:
    """|ours - theirs|, after checking it is within TOL (or both undefined)."""
    if math.isnan(ours) or math.isnan(theirs):
        return 0.0
    assert abs(ours - theirs) <= TOL, (where, ours, theirs)
    return abs(ours - theirs)


def compare_event_based(ref, est, t_collar, evaluate_offset, percentage_of_length=0.5) -> float:
    labels = sorted({e.event_label for e in ref + est})
    ours = event_based_metrics(ref, est, t_collar, evaluate_offset=evaluate_offset,
                               percentage_of_length=percentage_of_length)
    m = sed_event_based(ref, est, labels, evaluate_onset=True, evaluate_offset=evaluate_offset,
                        t_collar=float(t_collar), percentage_of_length=float(percentage_of_length))
    o = ours["overall"]
    assert (o["Nref"], o["Nsys"], o["Ntp"], o["S"], o["D"], o["I"]) == tuple(
        int(m.overall[k]) for k in ("Nref", "Nsys", "Ntp", "Nsubs", "Nfn", "Nfp")), (ref, est)
    return _compare_rates(ours, m, labels, {"D": "Nfn", "I": "Nfp"})


def compare_segment_based(ref, est, time_resolution, durations=None) -> float:
    labels = sorted({e.event_label for e in ref + est})
    ours = segment_based_metrics(ref, est, time_resolution, durations=durations)
    m = sed_segment_based(ref, est, labels, time_resolution, durations)
    o = ours["overall"]
    assert (o["Nref"], o["Nsys"], o["Ntp"], o["S"], o["D"], o["I"]) == tuple(
        int(m.overall[k]) for k in ("Nref", "Nsys", "Ntp", "S", "D", "I")), (ref, est)
    return _compare_rates(ours, m, labels, {"D": "Nfn", "I": "Nfp"})


def _compare_rates(ours, m, labels, names) -> float:
    worst = 0.0
    theirs = m.results_overall_metrics()
    flat = {**theirs["f_measure"], **theirs["error_rate"]}
    o = ours["overall"]
    for key in RATES:
        if o["Nref"] > 0 and (o["Nsys"] > 0 or key not in ("precision", "f_measure")):
            worst = max(worst, _close(o[key], flat[key], f"overall {key}"))
    class_wise = m.results_class_wise_metrics()
    for label in labels:
        c = ours["class_wise"][label]
        assert (c["Nref"], c["Nsys"], c["Ntp"], c["D"], c["I"]) == tuple(
            int(m.class_wise[label][k]) for k in ("Nref", "Nsys", "Ntp", names["D"], names["I"])), label
        flat = {**class_wise[label]["f_measure"], **class_wise[label]["error_rate"]}
        for key in ("error_rate", "deletion_rate", "insertion_rate", "precision", "recall", "f_measure"):
            if c["Nref"] > 0 and c["Nsys"] > 0:
                worst = max(worst, _close(c[key], flat[key], f"{label} {key}"))
    if all(c["Nref"] > 0 and c["Nsys"] > 0 for c in ours["class_wise"].values()):
        average = m.results_class_wise_average_metrics()
        worst = max(worst, _close(ours["class_wise_average"]["error_rate"], average["error_rate"]["error_rate"], "avg ER"))
        worst = max(worst, _close(ours["class_wise_average"]["f_measure"], average["f_measure"]["f_measure"], "avg F1"))
    return worst


def random_lists(rng, n_files=3, labels=("a", "b", "c"), n=10, length=10.0, grid=None):
    ref, est = [], []
    for f in range(n_files):
        for events in (ref, est):
            for _ in range(int(rng.integers(0, n + 1))):
                onset, dur = rng.uniform(0, length), rng.uniform(0.05, 3.0)
                if grid:
                    onset, dur = round(onset / grid) * grid, max(grid, round(dur / grid) * grid)
                events.append(Event(f"f{f}.wav", float(onset), float(onset + dur), str(rng.choice(labels))))
    return ref, est


E = Event
HAND_MADE = [
    # one hit, one wrong label, one miss, one insertion, an onset outside the collar
    ([E("f1", 1.0, 2.0, "dog"), E("f2", 2.0, 3.0, "baby"), E("f3", 5.0, 6.0, "gun"), E("f5", 1.0, 2.0, "baby")],
     [E("f1", 1.125, 2.5, "dog"), E("f2", 2.125, 3.0, "gun"), E("f4", 3.0, 4.0, "dog"), E("f5", 1.75, 2.0, "baby")]),
    # a double detection and overlapping events of two classes
    ([E("a", 1.0, 4.0, "dog"), E("a", 2.0, 2.5, "cat")],
     [E("a", 1.0, 3.875, "dog"), E("a", 1.125, 4.0, "dog"), E("a", 2.0, 2.5, "cat"), E("a", 2.5, 3.0, "cat")]),
    # which reference the matching leaves unmatched decides the substitution (module doc of event_matching)
    ([E("a", 1.0, 2.0, "dog"), E("a", 1.375, 2.375, "dog")], [E("a", 1.25, 2.25, "dog"), E("a", 1.75, 2.75, "cat")]),
    # long events: the offset collar grows with the reference length
    ([E("a", 0.0, 10.0, "rain"), E("a", 12.0, 12.5, "dog")], [E("a", 0.125, 8.5, "rain"), E("a", 12.0, 12.875, "dog")]),
    # nothing estimated / nothing referenced in a file
    ([E("a", 1.0, 2.0, "dog")], [E("b", 1.0, 2.0, "dog")]),
]


@pytest.mark.parametrize("ref, est", HAND_MADE)
@pytest.mark.parametrize("t_collar, evaluate_offset, percentage_of_length",
                         [(0.5, False, 0.5), (0.25, True, 0.5), (0.25, True, 0.125), (0.125, True, 0.25)])
def test_event_based_hand_made(ref, est, t_collar, evaluate_offset, percentage_of_length):
    compare_event_based(ref, est, t_collar, evaluate_offset, percentage_of_length)


def test_substitutions_follow_sed_eval_matching():
    # Two maximum matchings of the "a" events exist; sed_eval's leaves no reference close to the
    # "b" estimate, so S = 0 (a plain augmenting-path matching left one and counted S = 1).
    ref = [E("f", 0.25, 2.0, "a"), E("f", 1.25, 2.25, "b"), E("f", 0.75, 2.75, "a")]
    est = [E("f", 0.75, 2.25, "a"), E("f", 0.5, 3.25, "a"), E("f", 2.5, 5.0, "b"), E("f", 0.25, 1.75, "a")]
    compare_event_based(ref, est, 0.5, True, 0.25)
    assert event_based_metrics(ref, est, 0.5, evaluate_offset=True, percentage_of_length=0.25)["overall"]["S"] == 0


@pytest.mark.parametrize("ref, est", HAND_MADE)
@pytest.mark.parametrize("time_resolution", [1.0, 0.5, 0.25])
def test_segment_based_hand_made(ref, est, time_resolution):
    compare_segment_based(ref, est, time_resolution)
    compare_segment_based(ref, est, time_resolution, {f: 13.0 for f in _files(ref, est)})


def test_event_based_random_lists():
    rng = np.random.default_rng(2026)
    cases = 0
    # DCASE settings on continuous times, then dense lists on a 1/8 s grid where several maximum
    # matchings are common and collar edges are met exactly.
    for t_collar, offset, pct, grid, n, length in [(0.2, True, 0.2, None, 10, 10.0), (0.5, False, 0.5, None, 10, 10.0),
                                                   (0.25, True, 0.5, 0.125, 20, 5.0), (0.5, False, 0.5, 0.125, 20, 5.0),
                                                   (0.5, True, 0.25, 0.25, 20, 5.0)]:
        for _ in range(60):
            ref, est = random_lists(rng, n=n, length=length, grid=grid)
            compare_event_based(ref, est, t_collar, offset, pct)
            cases += 1
    assert cases == 300


def test_segment_based_random_lists():
    rng = np.random.default_rng(7)
    for i in range(150):
        ref, est = random_lists(rng, grid=0.125 if i % 2 else None)
        durations = None if i % 3 else {f"f{k}.wav": float(rng.uniform(3.0, 14.0)) for k in range(3)}
        compare_segment_based(ref, est, (1.0, 0.5, 0.2)[i % 3], durations)
