"""Threshold-free evaluation of frame-level scores: the Polyphonic Sound Detection Score (PSDS;
Bilen et al., ICASSP 2020), computed exactly over all thresholds by sed_scores_eval (Ebbers,
Haeb-Umbach & Serizel, ICASSP 2022), the DCASE task 4 evaluation since 2023.

Defaults are DCASE 2021-2023 task 4 scenario 1: detection and ground-truth intersection criteria
0.7 (a detection counts when >= 70 % of it overlaps reference events of its class, and a
reference is found when >= 70 % of it is covered), no cross-trigger criterion (alpha_ct 0),
instability across classes penalised with alpha_st 1, area under the PSD-ROC up to 100 false
positives per hour, normalised to [0, 1].

The scores come from score files (`score_files`) or memory; each audio file's duration defaults
to the end of its last frame. The reference is an event list: its events must all have score
files, with labels among the score columns, and every class needs at least one reference event
(sed_scores_eval's PSDS is undefined otherwise). Overlapping or touching reference events of one
class in one file are merged first, because sed_scores_eval requires disjoint events and the class
is active over their union either way.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from raresound.errors import DataError, RaresoundError
from raresound.evaluation.events import _as_event
from raresound.evaluation.score_files import audio_id, checked_scores, read_score_files

SCENARIO_1 = {"dtc_threshold": 0.7, "gtc_threshold": 0.7, "cttc_threshold": None, "alpha_ct": 0.0,
              "alpha_st": 1.0, "max_efpr": 100.0}


def _sed_scores_eval():
    try:
        with warnings.catch_warnings():
            # dcase_util (under sed_eval) imports pkg_resources, which warns on every import
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            import sed_scores_eval
    except ImportError as exc:
        hint = (" (its sed_eval/dcase_util import needs pkg_resources: pip install 'setuptools<81')"
                if exc.name == "pkg_resources" else "")
        raise RaresoundError(f"PSDS needs the sed_scores_eval package: pip install 'raresound[psds]'{hint}") from None
    return sed_scores_eval


def _ground_truth(reference: Iterable, ids: set[str], classes: Sequence[str], where: str) -> dict:
    """{audio id: [(onset, offset, label)]} with same-class overlaps merged (module docstring)."""
    spans: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    for e in map(_as_event, reference):
        aid = audio_id(e.filename)
        if aid not in ids:
            raise DataError(f"reference file {e.filename!r} has events but no score file {aid}.tsv in {where}")
        if e.event_label not in classes:
            raise DataError(f"reference label {e.event_label!r} ({e.filename}) has no score column in {where} "
                            f"(columns: {', '.join(classes)})")
        spans[aid, e.event_label].append([e.onset, e.offset])
    missing = [c for c in classes if not any(label == c for _, label in spans)]
    if missing:
        raise DataError(f"classes {missing} of {where} have no reference events; PSDS is undefined for them")
    truth: dict[str, list] = {aid: [] for aid in ids}
    for (aid, label), intervals in sorted(spans.items()):
        merged: list[list[float]] = []
        for onset, offset in sorted(intervals):
            if merged and onset <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], offset)
            else:
                merged.append([onset, offset])
        truth[aid] += [(onset, offset, label) for onset, offset in merged]
    return truth


def psds(
    scores: str | Path | Mapping[str, tuple[np.ndarray, np.ndarray]],
    reference: Iterable,
    durations: Mapping[str, float] | None = None,
    classes: Sequence[str] | None = None,
    **settings,
) -> dict:
    """PSDS of `scores` (a directory of score files, or `{filename: (timestamps (S+1,), scores
    (S, L))}` with `classes`) against `reference` events. `durations` ({filename or audio id:
    seconds}) default to each file's last frame end; `settings` override SCENARIO_1. Returns
    ``{"psds", "class_wise": {class: PSDS of that class alone}, "classes", "files", "settings"}``."""
    unknown = set(settings) - set(SCENARIO_1)
    if unknown:
        raise TypeError(f"unknown PSDS settings {sorted(unknown)}; known: {sorted(SCENARIO_1)}")
    settings = {**SCENARIO_1, **settings}
    if isinstance(scores, (str, Path)):
        where = str(scores)
        classes, by_id = read_score_files(scores)
    else:
        where = "the scores"
        if classes is None:
            raise DataError("in-memory scores need their classes")
        classes = list(classes)
        by_id = {audio_id(name): checked_scores(name, *value, len(classes)) for name, value in scores.items()}
        if not by_id:
            raise DataError("no scores to evaluate")
    truth = _ground_truth(reference, set(by_id), classes, where)
    if durations is None:
        lengths = {aid: float(ts[-1]) for aid, (ts, _) in by_id.items()}
    else:
        given = {audio_id(name): float(seconds) for name, seconds in durations.items()}
        absent = sorted(set(by_id) - set(given))
        if absent:
            raise DataError(f"{where}: no duration given for {absent[0]}{'.tsv' if where != 'the scores' else ''}"
                            + (f" and {len(absent) - 1} more" if len(absent) > 1 else ""))
        lengths = {aid: given[aid] for aid in by_id}
    sse = _sed_scores_eval()
    from sed_scores_eval.base_modules.scores import create_score_dataframe

    frames = {aid: create_score_dataframe(values, timestamps, list(classes))
              for aid, (timestamps, values) in by_id.items()}
    value, per_class, _, _ = sse.intersection_based.psds(
        scores=frames, ground_truth=truth, audio_durations=lengths, unit_of_time="hour", **settings)
    return {
        "psds": float(value),
        "class_wise": {c: float(per_class[c]) for c in classes},
        "classes": list(classes),
        "files": len(frames),
        "settings": settings,
    }
