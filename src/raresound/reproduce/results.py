"""Reproduction results from the run directories: per-model EER tables over seeds, bootstrap
intervals and paired comparisons, DET figures, and the schedule / data / cost facts the report states."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from raresound.errors import DataError
from raresound.io import read_json
from raresound.reproduce.config import (BACKGROUND, LOSS_FIELDS_READ, METHOD_MODELS, PROBE_FIELDS_READ,
                                        PROPOSED_READERS, REFERENCE_MODELS, Cell, ReproduceConfig, cell_done,
                                        cell_label, cell_recipe, cells, named_ratio)

# The paper's published overall EERs (%), AudioSet dog / baby cry / gunshot + background, as given
# in the project brief: (backbone, ratio) -> {model: overall EER %}. Per-class numbers are not
# reproduced here (not available to us); the report prints only these.
PAPER_OVERALL = {
    ("lstm", "6:1:2:16"): {"baseline": 20.3, "proposed2": 15.8},
    ("cnn", "6:1:2:16"): {"baseline": 8.7, "proposed2": 8.5},
    ("cnn", "2:2:1:26"): {"baseline": 12.8, "proposed2": 10.4},
}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_mean_std(values: Sequence[float]) -> str:
    """EER fractions -> 'mean ± std' in % with one decimal (the paper's precision); one value -> 'mean'."""
    if not len(values):
        return "n/a"
    m, s = mean_std([100.0 * v for v in values])
    return f"{m:.1f} ± {s:.1f}" if len(values) > 1 else f"{m:.1f}"  # no spread from one seed


def pooled_bootstrap(pairs: Sequence[tuple[np.ndarray, np.ndarray]], targets: np.ndarray, n_boot: int,
                     seed: int, ci: float) -> dict:
    """Bootstrap over test clips of the seed-averaged overall-EER difference mean_s(EER(a_s) - EER(b_s)).

    Every resample draws the same clips for every seed and both systems (the test clips are shared
    by all seeds), so the interval reflects test-set sampling of the averaged difference. Uses the
    same weighted-EER evaluation as `evaluation.paired_bootstrap_eer_diff`."""
    from raresound.evaluation.bootstrap import pooled_bootstrap_eer_diff

    return pooled_bootstrap_eer_diff(pairs, targets, n_boot, seed, ci)


def verdict(res: dict) -> str:
    if res["high"] < 0:
        return "Proposed2 better (CI below 0)"
    if res["low"] > 0:
        return "Proposed2 worse (CI above 0)"
    return "no significant difference (CI contains 0)"


def collect(cfg: ReproduceConfig, out: Path) -> dict:
    """(backbone, ratio) -> model -> {"seeds": [...], "eer": {class: [..]}, "overall": [..]} from
    the eer.json files of finished cells."""
    table: dict = {}
    for cell in cells(cfg):
        run_dir = cell.run_dir(out)
        if not cell_done(run_dir):
            continue
        results = read_json(run_dir / "eval" / "test" / "eer.json")
        for model in METHOD_MODELS[cell.method]:
            if model not in results:
                continue
            res = results[model]
            entry = table.setdefault((cell.backbone, cell.ratio), {}).setdefault(
                model, {"seeds": [], "eer": {c: [] for c in res["classes"]}, "overall": [], "classes": res["classes"]})
            entry["seeds"].append(cell.seed)
            for c in res["classes"]:
                entry["eer"][c].append(res["eer"][c])
            entry["overall"].append(res["overall"])
    return table


def overall_intervals(cfg: ReproduceConfig, out: Path, backbone: str, ratio: str) -> dict:
    """model -> (low, high): bootstrap interval over test clips of the seed-mean overall EER (the
    same resampled clips for every seed), for the main table."""
    from raresound.evaluation.bootstrap import eer_intervals
    from raresound.scoring import load_scores

    b, found = cfg.bootstrap, {}
    for method in cfg.grid.methods:
        for seed in cfg.grid.seeds:
            run_dir = Cell(backbone, ratio, method, seed).run_dir(out)
            if cell_done(run_dir):
                for model in METHOD_MODELS[method]:
                    found.setdefault(model, []).append(load_scores(run_dir, model))
    intervals = {}
    for model, scored in found.items():
        targets = scored[0][1]
        if any(not np.array_equal(y, targets) for _, y in scored):
            raise DataError(f"{model}: seeds of {backbone} {ratio} were scored on different test clips")
        res = eer_intervals([s for s, _ in scored], targets, list(cfg.data.classes), n_boot=int(b.n_boot),
                            seed=int(b.seed), ci=float(b.ci))
        intervals[model] = (res["overall_ci_low"], res["overall_ci_high"])
    return intervals


def main_table(cfg: ReproduceConfig, backbone: str, ratio: str, models: dict, intervals: dict | None = None) -> str:
    classes = list(cfg.data.classes)
    paper = PAPER_OVERALL.get((backbone, ratio), {})
    intervals = intervals or {}
    ci = int(round(100 * float(cfg.bootstrap.ci)))
    header = ["method", *classes, "overall", f"overall {ci}% CI", "seeds", "paper overall (AudioSet)"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    order = [m for method in cfg.grid.methods for m in METHOD_MODELS[method]]
    order.sort(key=lambda m: m in REFERENCE_MODELS)  # reference rows last, below the detectors
    for model in order:
        if model not in models:
            continue
        e = models[model]
        cells_ = [fmt_mean_std(e["eer"][c]) if c in e["eer"] else "n/a" for c in classes]
        ref = f"{paper[model]:.1f}" if model in paper else "—"
        low, high = intervals.get(model, (None, None))
        interval = f"[{100 * low:.1f}, {100 * high:.1f}]" if low is not None else "—"
        lines.append("| " + " | ".join([cell_label(cfg, backbone, ratio, model), *cells_, fmt_mean_std(e["overall"]),
                                        interval, str(len(e["seeds"])), ref]) + " |")
    return "\n".join(lines) + "\n"


def paired_comparisons(cfg: ReproduceConfig, out: Path, backbone: str, ratio: str) -> dict | None:
    from raresound.evaluation import paired_bootstrap_eer_diff
    from raresound.scoring import load_scores

    b = cfg.bootstrap
    per_seed, pairs, targets = [], [], None
    for seed in cfg.grid.seeds:
        base_dir = Cell(backbone, ratio, "baseline", seed).run_dir(out)
        prop_dir = Cell(backbone, ratio, "proposed", seed).run_dir(out)
        if not (cell_done(base_dir) and cell_done(prop_dir)):
            continue
        p2, y = load_scores(prop_dir, "proposed2")
        base, y2 = load_scores(base_dir, "baseline")
        if not np.array_equal(y, y2):
            raise DataError(f"{prop_dir} and {base_dir} were scored on different test clips")
        res = paired_bootstrap_eer_diff(p2, base, y, n_boot=int(b.n_boot), seed=int(b.seed), ci=float(b.ci))
        per_seed.append({**res, "bootstrap_seed": res["seed"], "seed": seed})
        pairs.append((p2, base))
        targets = y
    if not per_seed:
        return None
    pooled = pooled_bootstrap(pairs, targets, int(b.n_boot), int(b.seed), float(b.ci))
    return {"per_seed": per_seed, "pooled": {**pooled, "seeds": [r["seed"] for r in per_seed]},
            "n_test": int(targets.shape[0])}


def comparison_table(comp: dict) -> str:
    ci = int(round(100 * comp["pooled"]["ci"]))
    lines = [f"| seeds | ΔEER P2 − baseline (pts) | {ci}% CI | P(P2 better) | verdict |", "|---|---:|---:|---:|---|"]
    for r in comp["per_seed"]:
        lines.append(f"| {r['seed']} | {100 * r['diff']:+.1f} | [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}] | "
                     f"{r['frac_a_better']:.2f} | {verdict(r)} |")
    p = comp["pooled"]
    lines.append(f"| pooled ({','.join(map(str, p['seeds']))}) | {100 * p['diff']:+.1f} | "
                 f"[{100 * p['low']:+.1f}, {100 * p['high']:+.1f}] | {p['frac_a_better']:.2f} | {verdict(p)} |")
    return "\n".join(lines) + "\n"


def det_figure(cfg: ReproduceConfig, out: Path, backbone: str, ratio: str, path: Path) -> int | None:
    """Per class, baseline vs Proposed2 of one seed (det_seed, else the first seed done)."""
    from raresound.evaluation import plot_scored_det
    from raresound.scoring import load_scores

    seeds = [cfg.det_seed] if cfg.det_seed is not None else cfg.grid.seeds
    for seed in seeds:
        base_dir = Cell(backbone, ratio, "baseline", seed).run_dir(out)
        prop_dir = Cell(backbone, ratio, "proposed", seed).run_dir(out)
        if cell_done(base_dir) and cell_done(prop_dir):
            break
    else:
        return None
    scored = {"baseline": load_scores(base_dir, "baseline"), "Proposed2": load_scores(prop_dir, "proposed2")}
    classes = read_json(prop_dir / "eval" / "test" / "eer.json")["proposed2"]["classes"]
    plot_scored_det(scored, classes, path, title=f"{backbone.upper()} {named_ratio(cfg, ratio)}: DET (test, seed {seed})")
    return seed


def schedule_diff(cfg: ReproduceConfig) -> list[tuple[str, str, Any, Any]]:
    """(methods, field, paper/library default, used) for every recipe field a cell changes."""
    from raresound.training.config import RecipeConfig
    from raresound.training.fingerprint import flatten

    default = flatten(RecipeConfig().to_dict())
    seen: dict = {}
    for cell in cells(cfg):
        if cell.seed != cfg.grid.seeds[0] or cell.ratio != cfg.grid.ratios[0]:
            continue
        used = flatten(cell_recipe(cfg, cell).to_dict())
        for key, value in used.items():
            if key in ("method", "seed", "data.ratio", "data.classes", "model.backbone", "training.progress"):
                continue
            if value == default.get(key):
                continue
            if key.startswith("proposed.") and cell.method not in PROPOSED_READERS:
                continue  # not read by this method
            if key.startswith("loss.") and cell.method not in LOSS_FIELDS_READ.get(key[5:], ()):
                continue
            if cell.method == "probe" and not key.startswith(PROBE_FIELDS_READ):
                continue
            if True:
                seen.setdefault((key, json.dumps(default.get(key)), json.dumps(value)), []).append(
                    f"{cell.backbone}/{cell.method}")
    return [(", ".join(v), k[0], k[1], k[2]) for k, v in sorted(seen.items())]


def ratio_counts(cfg: ReproduceConfig, store: Path) -> dict:
    """ratio -> split -> class -> clips after the train-time subsampling (seed of the first cell;
    the counts do not depend on the seed, only which clips are drawn)."""
    from raresound.store import FeatureStore
    from raresound.training.data import ratio_indices

    fs = FeatureStore(store)
    names = ",".join([*cfg.data.classes, BACKGROUND])
    out = {}
    for ratio in cfg.grid.ratios:
        out[ratio] = {}
        for split in ("train", "val", "test"):
            sp = fs.split(split)
            idx = ratio_indices(sp, ratio, names, cfg.grid.seeds[0]) if split != "test" else np.arange(len(sp))
            labels = sp.labels[idx]
            counts = {c: int(labels[:, fs.classes.index(c)].sum()) for c in cfg.data.classes if c in fs.classes}
            counts[BACKGROUND] = int((labels.sum(axis=1) == 0).sum())
            out[ratio][split] = counts
    return out


def step_times(cfg: ReproduceConfig, out: Path) -> dict:
    """backbone -> measured seconds per training epoch of the baseline stage and the derived seconds
    per batch (epoch time includes the validation pass), from the cells' metrics.jsonl."""
    out_t: dict = {}
    for cell in cells(cfg):
        if cell.method != "baseline":
            continue
        run_dir = cell.run_dir(out)
        metrics, run = run_dir / "metrics.jsonl", run_dir / "run.json"
        if not (metrics.exists() and run.exists()):
            continue
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        secs = [r["seconds"] for r in rows if r.get("stage") == "baseline"]
        if not secs:
            continue
        recipe = cell_recipe(cfg, cell)
        n_batches = math.ceil(read_json(run)["n_train"] / recipe.training.batch_size)
        if recipe.training.max_train_batches is not None:
            n_batches = min(n_batches, recipe.training.max_train_batches)
        entry = out_t.setdefault(cell.backbone, {"epoch_seconds": [], "batches": []})
        entry["epoch_seconds"].extend(secs)
        entry["batches"].extend([n_batches] * len(secs))
    return {b: {"epochs": len(v["epoch_seconds"]), "mean_epoch_seconds": float(np.mean(v["epoch_seconds"])),
                "seconds_per_batch": float(np.sum(v["epoch_seconds"]) / np.sum(v["batches"]))}
            for b, v in out_t.items()}


def convergence(cfg: ReproduceConfig, out: Path) -> dict:
    """model -> {"cells", "mean_epochs", "still_improving"} for the detector stage of each model
    (the stage named like the model), over finished cells."""
    rows: dict = {}
    for cell in cells(cfg):
        run_dir = cell.run_dir(out)
        path = run_dir / "metrics.jsonl"
        if not (cell_done(run_dir) and path.exists()):
            continue
        history: dict = {}
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                history.setdefault(row["stage"], []).append(row)
        for model in METHOD_MODELS[cell.method]:
            stage = history.get(model)
            if not stage:
                continue
            losses = [r["val_loss"] if r["val_loss"] == r["val_loss"] else r["train_loss"] for r in stage]
            entry = rows.setdefault(model, {"cells": 0, "epochs": [], "still_improving": 0})
            entry["cells"] += 1
            entry["epochs"].append(len(stage))
            entry["still_improving"] += int(int(np.argmin(losses)) == len(losses) - 1)
    return {m: {"cells": e["cells"], "mean_epochs": float(np.mean(e["epochs"])), "still_improving": e["still_improving"]}
            for m, e in rows.items()}
