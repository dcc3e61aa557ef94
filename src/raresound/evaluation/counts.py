"""From detection counts to error rate, precision, recall and F1: the arithmetic that the event-based
(`events`) and segment-based (`segments`) metrics share, in sed_eval's definitions (Mesaros,
Heittola & Virtanen, "Metrics for polyphonic sound event detection", 2016).

* Overall: ER = (S + D + I) / Nref, precision = Ntp / Nsys, recall = Ntp / Nref,
  F1 = 2 Ntp / (Nref + Nsys), each rate = its count / Nref.
* Class-wise (no substitutions): D = Nref - Ntp, I = Nsys - Ntp, ER = (D + I) / Nref.
* Class-wise averages: unweighted means over the classes whose value is defined.

Undefined ratios are NaN. sed_eval instead divides ER by Nref + eps (so a class without reference
events gets an ER near 1e16, which then dominates its class average) and computes F1 as 2PR/(P+R),
which is NaN when there is no system output (precision 0/0) and so drops such a class from the
F1 class average; here F1 = 2 Ntp / (Nref + Nsys) is 0 for a class that was never detected, and
counts as 0 in the average. Where both are defined the values are equal.
"""

from __future__ import annotations

import math


def rate(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def overall_metrics(n_ref: int, n_sys: int, n_tp: int, subs: int, dels: int, ins: int) -> dict:
    return {
        "Nref": n_ref,
        "Nsys": n_sys,
        "Ntp": n_tp,
        "S": subs,
        "D": dels,
        "I": ins,
        "substitution_rate": rate(subs, n_ref),
        "deletion_rate": rate(dels, n_ref),
        "insertion_rate": rate(ins, n_ref),
        "error_rate": rate(subs + dels + ins, n_ref),
        "precision": rate(n_tp, n_sys),
        "recall": rate(n_tp, n_ref),
        "f_measure": rate(2 * n_tp, n_ref + n_sys),
    }


def class_metrics(n_ref: int, n_sys: int, n_tp: int) -> dict:
    dels, ins = n_ref - n_tp, n_sys - n_tp
    return {
        "Nref": n_ref,
        "Nsys": n_sys,
        "Ntp": n_tp,
        "D": dels,
        "I": ins,
        "deletion_rate": rate(dels, n_ref),
        "insertion_rate": rate(ins, n_ref),
        "error_rate": rate(dels + ins, n_ref),
        "precision": rate(n_tp, n_sys),
        "recall": rate(n_tp, n_ref),
        "f_measure": rate(2 * n_tp, n_ref + n_sys),
    }


def class_average(class_wise: dict) -> dict:
    def mean_defined(key: str) -> float:
        values = [m[key] for m in class_wise.values() if not math.isnan(m[key])]
        return sum(values) / len(values) if values else float("nan")

    return {"error_rate": mean_defined("error_rate"), "f_measure": mean_defined("f_measure")}
