"""A learning curve over source recordings: how many recordings does a class need?

Each point retrains a slice of the grid (curve.methods at one backbone and ratio, curve.seeds) on
a share of each class's train *event recordings* (`data.train_sources`: nested subsets, so a
larger share only adds recordings), with the validation and test clips unchanged; the grid
itself is the 100 % point. A point is a reproduce config of its own (its own data cache and
OUT/curve/train-sources-NNN run directories), run and resumed like the grid (`grid.run_curve`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from raresound.reproduce.config import CurveSection, FramesSection, GridSection, ReproduceConfig, named_ratio


def point_tag(share: float) -> str:
    return f"train-sources-{round(100 * share):03d}"


def point_dir(out: Path, share: float) -> Path:
    return Path(out) / "curve" / point_tag(share)


def curve_grid(cfg: ReproduceConfig) -> GridSection:
    """The slice of the grid every curve point trains (and the grid's own 100 % point)."""
    c = cfg.curve
    return GridSection(backbones=[c.backbone], ratios=[c.ratio], methods=list(c.methods), seeds=list(c.seeds))


def point_config(cfg: ReproduceConfig, share: float, out: Path) -> ReproduceConfig:
    """The reproduce config of one curve point (its own data cache: its train mixtures differ)."""
    cache = (f"{cfg.data.cache_dir.rstrip('/')}-{point_tag(share)}" if cfg.data.cache_dir
             else str(point_dir(out, share) / "data"))
    data = dataclasses.replace(cfg.data, train_sources=share, cache_dir=cache)
    return dataclasses.replace(cfg, name=f"{cfg.name} {point_tag(share)}", data=data, grid=curve_grid(cfg),
                               frames=FramesSection(), curve=CurveSection())


def curve_points(cfg: ReproduceConfig, out: Path) -> list[dict]:
    """One row per (share, model) with finished cells: the train event recordings per class and
    the test EERs per class and overall over seeds (fractions). The grid gives the 1.0 point."""
    from raresound.io import read_json
    from raresound.reproduce.data import data_cache
    from raresound.reproduce.results import collect

    c = cfg.curve
    points = [(share, point_config(cfg, share, out), point_dir(out, share)) for share in c.train_sources]
    points.append((1.0, dataclasses.replace(cfg, grid=curve_grid(cfg)), Path(out)))
    rows = []
    for share, pcfg, pout in points:
        models = collect(pcfg, pout).get((c.backbone, c.ratio), {})
        data_json = data_cache(pcfg, pout) / "data.json"
        sources = read_json(data_json).get("sources", {}).get("train", {}) if data_json.is_file() else {}
        recordings = {cls: sources.get(cls, {}).get("sources") for cls in cfg.data.classes}
        for model, entry in models.items():
            rows.append({"train_sources": share, "model": model, "recordings": recordings,
                         "seeds": entry["seeds"], "eer": entry["eer"], "overall": entry["overall"]})
    return rows


def curve_section(cfg: ReproduceConfig, out: Path) -> tuple[list[str], list[dict]]:
    """The report's Markdown section and its rows (results.json "curve"); empty when off."""
    from raresound.reproduce.config import model_label
    from raresound.reproduce.results import fmt_mean_std

    if not cfg.curve.train_sources:
        return [], []
    rows = curve_points(cfg, out)
    classes = list(cfg.data.classes)
    lines = ["## Learning curve over training sources", "",
             f"{cfg.curve.backbone.upper()}, ratio {named_ratio(cfg, cfg.curve.ratio)}, seeds {cfg.curve.seeds}: "
             "the same models trained on a share of each class's train event recordings (nested subsets; the "
             f"mixture counts, backgrounds, validation and test clips unchanged). Test EER in %, mean ± std over "
             "seeds; 'recordings' = train event recordings per class (" + ", ".join(classes) + ").", "",
             "| share | recordings | model | " + " | ".join(classes) + " | overall |",
             "|---:|---|---|" + "---:|" * (len(classes) + 1)]
    for row in sorted(rows, key=lambda r: (r["model"], r["train_sources"])):
        recs = " / ".join("?" if row["recordings"][c] is None else str(row["recordings"][c]) for c in classes)
        lines.append(f"| {100 * row['train_sources']:.0f} % | {recs} | {model_label(row['model'])} | "
                     + " | ".join(fmt_mean_std(row["eer"].get(c, [])) for c in classes)
                     + f" | {fmt_mean_std(row['overall'])} |")
    if not rows:
        lines.append("| | | no finished cells yet | " + " | " * len(classes))
    return lines + [""], rows
