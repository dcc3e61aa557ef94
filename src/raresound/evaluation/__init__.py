"""Evaluation: DET curves, interpolated EER (per class and overall), DET plots, EER report tables,
paired bootstrap of EER differences, and DCASE-style event-based metrics."""

from raresound.evaluation.bootstrap import eer_intervals, paired_bootstrap_eer_diff, pooled_bootstrap_eer_diff
from raresound.evaluation.det import det_curve
from raresound.evaluation.eer import eer, eer_threshold, evaluate_scores
from raresound.evaluation.events import Event, event_based_metrics, read_event_list, write_event_list
from raresound.evaluation.plots import plot_det, plot_embedding_sphere, plot_scored_det, probit
from raresound.evaluation.report import eer_table_markdown, write_eer_report

__all__ = [
    "Event",
    "det_curve",
    "eer",
    "eer_intervals",
    "eer_threshold",
    "eer_table_markdown",
    "event_based_metrics",
    "evaluate_scores",
    "paired_bootstrap_eer_diff",
    "pooled_bootstrap_eer_diff",
    "plot_det",
    "plot_embedding_sphere",
    "plot_scored_det",
    "probit",
    "read_event_list",
    "write_eer_report",
    "write_event_list",
]
