"""Reproduction harness: the paper's Tables 1/2 and Figs 1, 3, 4 on real audio, end to end.

One YAML config (see `configs/reproduce/`) names a data source, a grid and a training schedule:

    data -> import (any importer in `data.sources`, or a prepared manifest) -> split by source
         -> DCASE 2017 Task 2 mixtures per split (exact counts per split and class)
         -> one feature store (featurised once)
    grid -> for backbone x ratio x method x seed: `recipes.train` with data.ratio = the ratio
         (train/val subsampled at train time; the test split is the same for every cell), then
         `scoring.evaluate_run(run, "test")`
    report -> report.md (+ results.json) with per-class / overall EER mean ± std over seeds
         (the probe, when in the grid, as a labelled reference row), the paper's published numbers
         beside ours, paired bootstrap of Proposed2 - baseline, DET figures per backbone x ratio
         (Figs 3/4) and the toy (Fig 1).

Caching and resume: the data build is stamped with a fingerprint of its config (same config ->
nothing is rebuilt; the store has its own chunk-level resume); a cell whose
`eval/test/eer.json` exists is never retrained; an interrupted cell resumes through the trainer's
stage checkpoints. A cell directory holding a different recipe is refused (use another --out).

Modules: `config` (the YAML's dataclasses, validated like recipes, and the grid's cells), `data`
(import, mixtures, store), `grid` (running the cells), `results` (tables and statistics from the
run directories) and `report` (report.md, results.json). Everything is re-exported here.
"""

from raresound.reproduce.config import (BACKGROUND, LOSS_FIELDS_READ, METHOD_MODELS, MODEL_LABELS, PROBE_FIELDS_READ,
                                        SPLITS, BootstrapSection, Cell, DataSection, GridSection, MixConfig,
                                        ReproduceConfig, cell_done, cell_recipe, cells, config_from_dict, deep_merge,
                                        load_config, named_ratio)
from raresound.reproduce.data import build_data, feature_config, import_records
from raresound.reproduce.grid import reproduce, run_cell
from raresound.reproduce.report import CHANCE_WARNING, write_report
from raresound.reproduce.results import (PAPER_OVERALL, collect, comparison_table, convergence, det_figure, fmt_mean_std,
                                         main_table, mean_std, overall_intervals, paired_comparisons, pooled_bootstrap,
                                         ratio_counts, schedule_diff, step_times, verdict)

__all__ = [
    "BACKGROUND", "CHANCE_WARNING", "LOSS_FIELDS_READ", "METHOD_MODELS", "MODEL_LABELS", "PAPER_OVERALL",
    "PROBE_FIELDS_READ", "SPLITS", "BootstrapSection", "Cell", "DataSection", "GridSection", "MixConfig",
    "ReproduceConfig", "build_data", "cell_done", "cell_recipe", "cells", "collect", "comparison_table",
    "config_from_dict", "convergence", "deep_merge", "det_figure", "feature_config", "fmt_mean_std",
    "import_records", "load_config", "main_table", "mean_std", "named_ratio", "overall_intervals",
    "paired_comparisons", "pooled_bootstrap", "ratio_counts", "reproduce", "run_cell", "schedule_diff",
    "step_times", "verdict", "write_report",
]
