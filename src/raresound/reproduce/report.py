"""The reproduction report: report.md and results.json from the finished cells."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Callable

import numpy as np

from raresound.io import read_json, write_json, write_text
from raresound.reproduce.config import BACKGROUND, SPLITS, ReproduceConfig, cell_done, cell_label, cells, named_ratio
from raresound.reproduce.curve import curve_section
from raresound.reproduce.frames import events_table
from raresound.reproduce.results import (PAPER_OVERALL, collect, comparison_table, convergence, det_figure,
                                         fmt_mean_std, main_table, overall_intervals, paired_comparisons,
                                         ratio_counts, schedule_diff, step_times, verdict)

# Overall EER above which the claim section warns that the detectors are near chance (50 %).
CHANCE_WARNING = 0.40


def write_report(cfg: ReproduceConfig, out: Path, data_summary: dict, log: Callable[[str], None] = print,
                 train_toy: bool = True) -> Path:
    """report.md + results.json from the finished cells; train_toy=False (--report-only) trains
    nothing: the toy section shows an earlier toy run, if any."""
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    table = collect(cfg, out)
    grid = cells(cfg)
    done = [c for c in grid if cell_done(c.run_dir(out))]
    store = Path(data_summary["store"]["dir"])
    lines = [f"# Reproduction report: {cfg.name}", ""]
    lines += [f"Schedule **{cfg.schedule.get('name')}**. Cells finished: {len(done)} of {len(grid)} "
              f"(backbones {cfg.grid.backbones} × ratios {cfg.grid.ratios} × methods {cfg.grid.methods} × "
              f"seeds {cfg.grid.seeds}). Every number below is computed from the run directories under "
              f"`{out / 'runs'}` (eer.json and saved test scores); EERs in %, mean ± sample std over seeds.", ""]
    if cfg.schedule.get("notes"):
        lines += [str(cfg.schedule["notes"]).strip(), ""]
    lines += ["The paper's numbers (ICASSP 2019, AudioSet dog / baby cry / gunshot + background) are printed "
              "beside ours for reference only: different data (here: " + _data_line(cfg) + "), "
              + ("the same three classes" if sorted(cfg.data.classes) == ["baby", "dog", "gunshot"]
                 else "a different third class") + ", and a different schedule. Only the paper's overall EERs "
              "are shown (per-class values were not available to us).", ""]

    results_json: dict = {"cells_done": len(done), "cells_total": len(grid), "tables": {}, "comparisons": {}}
    lines += ["## Main results (Tables 1 and 2 layout)", ""]
    for backbone in cfg.grid.backbones:
        for ratio in cfg.grid.ratios:
            models = table.get((backbone, ratio))
            lines += [f"### {backbone.upper()}, ratio {named_ratio(cfg, ratio)}", ""]
            if not models:
                lines += ["No finished cells yet.", ""]
                continue
            intervals = overall_intervals(cfg, out, backbone, ratio)
            lines += [main_table(cfg, backbone, ratio, models, intervals), "",
                      f"The interval is a bootstrap over the test clips ({cfg.bootstrap.n_boot} resamples, "
                      "stratified by label) of the seed-mean overall EER; it does not cover the choice of the "
                      "few source recordings behind the test events.", ""]
            for model, (low, high) in intervals.items():
                if model in models:
                    models[model]["overall_ci"] = [low, high]
            results_json["tables"][f"{backbone}/{ratio}"] = models
            comp = paired_comparisons(cfg, out, backbone, ratio)
            if comp is not None:
                results_json["comparisons"][f"{backbone}/{ratio}"] = comp
                lines += [f"Paired bootstrap over the {comp['n_test']} test clips ({cfg.bootstrap.n_boot} "
                          f"resamples): overall-EER difference Proposed2 − baseline in percentage points "
                          f"(negative = Proposed2 better); 'pooled' averages the per-seed differences on the "
                          f"same resampled clips.", "", comparison_table(comp), ""]
            localised = events_table(cfg, out, backbone, ratio, models)
            if localised is not None:
                results_json.setdefault("events", {})[f"{backbone}/{ratio}"] = localised[1]
                f = cfg.frames
                how = ("frozen backbone, so the clip EER is the one above" if not f.finetune_epochs else
                       f"head on the frozen backbone, then everything fine-tuned on frame + clip loss for up to "
                       f"{f.finetune_epochs} epochs: a new clip model, whose test EER is the third column")
                lines += [f"Localised events: each model with a frame head ({how}) "
                          f"detecting in one pass over {f.long_files} long test files of "
                          f"{f.clips_per_file} test clips each (median filter {f.median} steps). Boundary errors "
                          "are medians over reference events matched to their most-overlapping detection; event "
                          "F1 has onset and offset criteria (200 ms collar, offset collar 20 % of the length), "
                          "segment F1 uses 1-s segments, PSDS1 is DCASE scenario 1 (sed_scores_eval). Seed means.",
                          "", localised[0], ""]
            fig = report / f"det_{backbone}_{ratio.replace(':', '-')}.png"
            seed = det_figure(cfg, out, backbone, ratio, fig)
            if seed is not None:
                lines += [f"![DET {backbone} {ratio}]({fig.name})", "",
                          f"DET curves (like the paper's Figs 3/4), seed {seed}, per class: baseline vs Proposed2.", ""]

    lines += _claim_section(results_json["comparisons"], table)
    curve_lines, results_json["curve"] = curve_section(cfg, out)
    lines += curve_lines
    lines += _data_section(cfg, data_summary, ratio_counts(cfg, store))
    lines += _schedule_section(cfg, out)
    lines += _toy_section(cfg, report, log, train_toy)
    lines += ["## Reproduce", "", "```", f"raresound reproduce --config <this config> --out {out}", "```", "",
              "Re-running the command resumes: finished cells (eval/test/eer.json present) are never retrained, "
              "interrupted cells continue from their last epoch checkpoint, the data build and store are cached.", ""]
    write_json(report / "results.json", results_json)
    write_text(report / "report.md", "\n".join(lines))
    return report


def _data_line(cfg: ReproduceConfig) -> str:
    d = cfg.data
    if d.mixtures is None:
        return f"{d.source} clips from {d.root}"
    return (f"{d.source} events ({', '.join(d.classes)}) mixed into {d.source} backgrounds, "
            f"{d.mixtures.clip_seconds:g}-s clips")


def _claim_section(comparisons: dict, table: dict) -> list[str]:
    lines = ["## Did the paper's claim hold?", ""]
    if not comparisons:
        return lines + ["Not enough finished cells for a paired comparison yet.", ""]
    for key, comp in comparisons.items():
        backbone, ratio = key.split("/")
        models = table[(backbone, ratio)]
        base = fmt_mean_std(models["baseline"]["overall"])
        p2 = fmt_mean_std(models["proposed2"]["overall"])
        paper = PAPER_OVERALL.get((backbone, ratio))
        claim = (f"paper: {paper['baseline']:.1f} → {paper['proposed2']:.1f}" if paper else "paper: no number given")
        lines.append(f"- **{backbone.upper()} {ratio}**: baseline {base} vs Proposed2 {p2} "
                     f"({claim}); pooled paired bootstrap: {verdict(comp['pooled'])}, "
                     f"Δ = {100 * comp['pooled']['diff']:+.1f} pts, "
                     f"CI [{100 * comp['pooled']['low']:+.1f}, {100 * comp['pooled']['high']:+.1f}].")
        worst = max(np.mean(models["baseline"]["overall"]), np.mean(models["proposed2"]["overall"]))
        if worst > CHANCE_WARNING:
            lines.append(f"  Caution: an overall EER above {100 * CHANCE_WARNING:.0f}% (chance is 50%) means the "
                         f"detectors barely learned on this schedule; this comparison cannot confirm or refute "
                         f"the paper's claim.")
    return lines + [""]


def _data_section(cfg: ReproduceConfig, summary: dict, counts: dict) -> list[str]:
    d = cfg.data
    lines = ["## Data", "",
             f"Source `{d.source}` at `{summary['root']}`; splits by source recording "
             f"(fractions train/val/test {d.fractions}, seed {d.split_seed}); "
             f"{summary['import_skipped']} imported clips skipped.", ""]
    lines += ["Source recordings (and clips) per split available to the mixer:", "",
              "| split | " + " | ".join([*d.classes, BACKGROUND]) + " |", "|---|" + "---:|" * (len(d.classes) + 1)]
    for split in SPLITS:
        per = summary["sources"].get(split, {})
        lines.append(f"| {split} | " + " | ".join(
            f"{per[c]['sources']} ({per[c]['clips']})" if c in per else "0" for c in [*d.classes, BACKGROUND]) + " |")
    lines.append("")
    if summary.get("mixtures"):
        mix = summary["mixtures"]
        lines += [f"Mixtures (DCASE 2017 Task 2 recipe via `data.mixtures.mix_dataset`): {mix['clip_seconds']:g}-s "
                  f"clips, one event per positive clip at a uniform onset and an EBR drawn from {mix['ebr_db']} dB "
                  f"(RMS over the event span), backgrounds built from random pieces of the split's background "
                  f"recordings (with ESC-50, two 5-s clips fill a 10-s clip), no clipping; material only from the "
                  f"clip's own split. With so few recordings per rare class, **many mixtures are drawn from each "
                  f"source recording** (onset, EBR and background vary); the table gives clips and mixtures per "
                  f"source (min–max).", "",
                  "| split | " + " | ".join([*d.classes, BACKGROUND]) + " |",
                  "|---|" + "---:|" * (len(d.classes) + 1)]
        for split in SPLITS:
            per = mix["clips"].get(split, {})
            lines.append(f"| {split} | " + " | ".join(
                (f"{per[c]['clips']} from {per[c]['sources']} src ({per[c]['per_source_min']}–{per[c]['per_source_max']}/src)"
                 if c in per else "0") for c in [*d.classes, BACKGROUND]) + " |")
        lines.append("")
    lines += ["Store: " + ", ".join(f"{s} {n}" for s, n in summary["store"]["counts"].items())
              + f" clips ({summary['store']['skipped']} skipped). Featurised once; each ratio is applied at "
              "train time (`data.ratio`: train and val subsampled to exactly k × ratio, k maximal, per training "
              "seed), so both ratios share one store and **the same test clips**, and differences between "
              "ratios come from training imbalance only (EER does not depend on the test prevalence).", ""]
    lines += ["Clips used per ratio (train/val after subsampling; test as stored):", "",
              "| ratio | split | " + " | ".join([*d.classes, BACKGROUND]) + " |",
              "|---|---|" + "---:|" * (len(d.classes) + 1)]
    for ratio, per_split in counts.items():
        for split, per in per_split.items():
            lines.append(f"| {named_ratio(cfg, ratio)} | {split} | "
                         + " | ".join(str(per.get(c, 0)) for c in [*d.classes, BACKGROUND]) + " |")
    return lines + [""]


def _schedule_section(cfg: ReproduceConfig, out: Path) -> list[str]:
    lines = ["## Schedule and what was reduced", "",
             f"Schedule **{cfg.schedule.get('name')}**. Recipe fields that differ from the paper's settings "
             "(the library defaults of `training.config.RecipeConfig` are the paper's: Adam 1e-3, batch 64, "
             "patience 10, N_iter 5, 2 + 30/150 epochs, β = 0, β' = 5):", ""]
    diff = schedule_diff(cfg)
    if diff:
        lines += ["| field | paper / default | used | cells |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {a} | {b} | {who} |" for who, k, a, b in diff]
    else:
        lines += ["None: the paper's schedule."]
    lines.append("")
    times = step_times(cfg, out)
    if times:
        lines += ["Measured training cost (baseline stage, this machine, epoch time incl. validation):", ""]
        for backbone, t in times.items():
            lines.append(f"- {backbone.upper()}: {t['seconds_per_batch']:.2f} s per training batch "
                         f"({t['mean_epoch_seconds']:.1f} s per epoch, {t['epochs']} epochs measured)")
        lines.append("")
    conv = convergence(cfg, out)
    if conv:
        lines += ["Convergence of the detector stages (from the cells' metrics.jsonl): epochs run, and in how many "
                  "cells the best validation loss was at the last epoch run, i.e. the stage was still improving "
                  "when `max_epochs` stopped it (undertrained):", "",
                  "| model | cells | epochs run (mean) | still improving at the end |", "|---|---:|---:|---:|"]
        for model, c in conv.items():
            lines.append(f"| {cell_label(cfg, cfg.grid.backbones[0], cfg.grid.ratios[0], model)} | {c['cells']} | {c['mean_epochs']:.1f} | "
                         f"{c['still_improving']} of {c['cells']} |")
        lines.append("")
    walls = []
    for cell in cells(cfg):
        p = cell.run_dir(out) / "reproduce.json"
        if p.exists():
            r = read_json(p)
            walls.append(r["train_seconds"] + r["eval_seconds"])
    if walls:
        lines += [f"Wall time of the cells finished by this harness: {sum(walls) / 60:.1f} min in total "
                  f"({len(walls)} cells; a resumed cell counts only its last invocation). "
                  f"Host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                  f"threads {cfg.threads if cfg.threads is not None else 'auto'}.", ""]
    return lines


def _toy_section(cfg: ReproduceConfig, report: Path, log, train_toy: bool = True) -> list[str]:
    if cfg.toy is None:
        return []
    from raresound.toy import run_toy

    opts = dict(cfg.toy)
    if train_toy:
        toy = run_toy(report / "toy", seed=int(opts.pop("seed", 0)), n_rounds=int(opts.pop("n_rounds", 3)), **opts)
    elif (report / "toy" / "toy.json").is_file():
        toy = read_json(report / "toy" / "toy.json")
    else:
        return ["## Toy example (paper's Fig 1)", "", "Not run yet (`--report-only` trains nothing).", ""]
    rounds = toy.get("rounds", []) if isinstance(toy, dict) else []
    lines = ["## Toy example (paper's Fig 1)", "",
             "Algorithm 1 on 1000 points at 166/166/668 with a 3-unit LSTM embedding on the unit sphere "
             "(`raresound.toy.run_toy`).", ""]
    pngs = [r["png"] for r in rounds if "png" in r] or sorted(p.name for p in (report / "toy").glob("round_*.png"))
    for png in pngs:
        lines.append(f"![toy {png}](toy/{png})")
    lines.append("")
    return lines
