"""Figures: DET curves on normal-deviate (probit) axes as in the paper (one panel per class), learning
curves of a run, and a 3-D view of unit-norm embeddings on a sphere for the toy example. Figures are
drawn with the Agg canvas directly (no pyplot, no display, no global backend switch) and saved
through raresound.io's atomic path."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.special import ndtri

from raresound.errors import DataError
from raresound.evaluation.det import det_curve
from raresound.evaluation.eer import eer_of_curve
from raresound.io import atomic_path

# ndtri is the inverse standard-normal CDF (scipy.stats.norm.ppf without importing scipy.stats).
# Rates are clipped into [_RATE_EPS, 1 - _RATE_EPS] before the probit transform because the
# normal deviate of exactly 0 or 1 is infinite; clipped points land beyond the drawn axis range.
_RATE_EPS = 1e-6
DET_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99)  # 10 % would crowd 5 % on a panel
# Up to 99.5 %: near-chance detectors spend most of their curve at high miss / false-alarm rates.
DET_LIMITS = (0.001, 0.995)


def probit(p) -> np.ndarray:
    """Normal deviate (inverse standard-normal CDF) of a rate, with 0 and 1 clipped to stay finite."""
    return ndtri(np.clip(np.asarray(p, dtype=np.float64), _RATE_EPS, 1.0 - _RATE_EPS))


def _percent_label(p: float) -> str:
    return f"{p * 100:g}%"


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write `fig` as a PNG through raresound.io's atomic path (Agg canvas, no pyplot)."""
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        # The temp file's suffix is .tmp, so the format must be explicit.
        fig.savefig(tmp, format="png", dpi=fig.dpi)


def _det_axes(ax, lo: float, hi: float) -> None:
    """Probit axes labelled in %, and the chance line: a detector that ignores its input has
    miss = 1 - false alarm (EER 50 %), which on probit axes is the anti-diagonal."""
    ticks = [t for t in DET_TICKS if lo <= t <= hi]
    tick_pos, tick_labels = probit(ticks), [_percent_label(t) for t in ticks]
    ax.set_xticks(tick_pos, tick_labels, fontsize="small")
    ax.set_yticks(tick_pos, tick_labels, fontsize="small")
    ax.set_xlim(probit(lo), probit(hi))
    ax.set_ylim(probit(lo), probit(hi))
    ax.set_xlabel("False alarm rate")
    ax.set_ylabel("Miss rate")
    ax.grid(True, linestyle=":", linewidth=0.7)
    p = np.array([lo, hi])
    ax.plot(probit(p), probit(1.0 - p), color="0.55", linestyle="--", linewidth=1.0,
            label="chance (EER 50%)", gid="chance")


def plot_det(curves: Mapping[str, Mapping[str, tuple]], path: str | Path, title: str | None = None,
             eers: Mapping[str, Mapping[str, float]] | None = None, limits: tuple[float, float] = DET_LIMITS,
             positives: Mapping[str, int] | None = None) -> Path:
    """Write the `det_figure` of these arguments as a PNG; returns the written path."""
    save_figure(det_figure(curves, title, eers, limits, positives, where=path), path)
    return Path(path)


def det_figure(curves: Mapping[str, Mapping[str, tuple]], title: str | None = None,
               eers: Mapping[str, Mapping[str, float]] | None = None, limits: tuple[float, float] = DET_LIMITS,
               positives: Mapping[str, int] | None = None, where: str | Path = "DET plot") -> Figure:
    """DET curves, one panel per class: `curves` is {class: {system: (fpr, fnr)}}, false-alarm
    rate on x and miss rate on y, both on probit axes labelled in %, with the chance line. A system
    keeps its colour in every panel; where `eers` ({class: {system: eer}}) has its EER, the point is
    marked on the curve and the legend (below the panel, over no curve) gives it in %. `positives`
    ({class: n}) adds each class's positive count to its title; `where` names errors."""
    if not curves or not any(curves.values()):
        raise DataError(f"{where}: no DET curves to plot")
    lo, hi = limits
    if not 0.0 < lo < hi < 1.0:
        raise DataError(f"{where}: DET axis limits must satisfy 0 < low < high < 1, got {limits}")
    systems = list(dict.fromkeys(name for per_class in curves.values() for name in per_class))
    colors = {name: f"C{i % 10}" for i, name in enumerate(systems)}
    ncols = 2 if len(curves) == 4 else min(3, len(curves))
    nrows = -(-len(curves) // ncols)
    legend_rows = len(systems) + 1
    fig = Figure(figsize=(4.0 * ncols, (4.3 + 0.22 * legend_rows) * nrows + 0.4), dpi=100, layout="constrained")
    for i, (cls, per_system) in enumerate(curves.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _det_axes(ax, lo, hi)
        for name, (fpr, fnr) in per_system.items():
            fpr, fnr = np.asarray(fpr, np.float64), np.asarray(fnr, np.float64)
            if fpr.shape != fnr.shape or fpr.ndim != 1:
                raise DataError(f"{where}: curve '{name}' of class '{cls}' needs 1-D fpr and fnr of equal length")
            rate = (eers or {}).get(cls, {}).get(name)
            label = str(name) if rate is None else f"{name}: EER {100.0 * float(rate):.1f}%"
            # Rates beyond the axes (0 %, 100 %) are drawn on its edge: a perfect detector's curve
            # would otherwise vanish, and one that reaches 100 % would leave the panel.
            ax.plot(probit(np.clip(fpr, lo, hi)), probit(np.clip(fnr, lo, hi)), color=colors[name], linewidth=1.5,
                    label=label, clip_on=False)
            if rate is not None:  # the EER point lies where the curve crosses the FA = miss diagonal
                at = probit(np.clip(rate, lo, hi))
                ax.plot(at, at, marker="o", markersize=5, color=colors[name], markeredgecolor="black",
                        markeredgewidth=0.6, linestyle="none", clip_on=False)
        n_pos = (positives or {}).get(cls)
        ax.set_title(str(cls) if n_pos is None else f"{cls} (n+ = {n_pos})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_scored_det(scored: Mapping[str, tuple], classes: Sequence[str], path: str | Path, title: str | None = None,
                    only_class: str | None = None, limits: tuple[float, float] = DET_LIMITS) -> Path:
    """`plot_det` of systems given as {system: (scores [N, L], targets [N, L])} over `classes`
    (or only `only_class`): each curve with its EER, each panel with its test positives."""
    curves: dict = {c: {} for c in classes if only_class in (None, c)}
    eers: dict = {c: {} for c in curves}
    positives: dict = {}
    for name, (scores, targets) in scored.items():
        for l, cls in enumerate(classes):
            if cls in curves:
                fpr, fnr, thresholds = det_curve(scores[:, l], targets[:, l], cls)
                curves[cls][name], eers[cls][name] = (fpr, fnr), eer_of_curve(fpr, fnr, thresholds)
                positives.setdefault(cls, int(np.sum(targets[:, l] == 1)))
    return plot_det(curves, path, title=title, eers=eers, limits=limits, positives=positives)


def plot_embedding_sphere(
    points3d,
    labels: Sequence,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Write a PNG scatter of 3-D points (one colour and legend entry per distinct label) drawn over
    a unit-sphere wireframe, for showing L2-normalised toy embeddings. Returns the written path."""
    pts = np.asarray(points3d, dtype=np.float64)
    labels = list(labels)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise DataError(f"{path}: points must have shape [N, 3], got {pts.shape}")
    if len(labels) != pts.shape[0]:
        raise DataError(f"{path}: {len(labels)} labels for {pts.shape[0]} points")
    fig = Figure(figsize=(6.0, 6.0), dpi=100)
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.8", linewidth=0.4)
    # Order of first appearance keeps colours stable for a given label sequence.
    distinct = list(dict.fromkeys(labels))
    for i, lab in enumerate(distinct):
        mask = np.array([x == lab for x in labels])
        ax.scatter(pts[mask, 0], pts[mask, 1], pts[mask, 2], s=8, color=f"C{i % 10}", label=str(lab), depthshade=False)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_zlim(-1, 1)
    ax.set_box_aspect((1, 1, 1))
    if distinct:
        ax.legend(loc="upper left", fontsize="small")
    if title:
        ax.set_title(title)
    save_figure(fig, path)
    return Path(path)


def _panels(rows: Sequence[dict]) -> list[tuple[str, list[dict]]]:
    """Group per-epoch metric rows ({"stage", "epoch", "train_loss", "val_loss"[, "val_eer"]}) into
    panels: each detector stage (rows with val_eer) alone; runs of consecutive other stages (e.g.
    Algorithm 1's clustering rounds, all on one loss) share a panel, epochs laid end to end."""
    stages: dict[str, list[dict]] = {}
    for row in rows:
        stages.setdefault(str(row["stage"]), []).append(row)
    panels: list[tuple[list[str], list[dict]]] = []
    for name, history in stages.items():
        detector = any("val_eer" in r for r in history)
        if not detector and panels and not any("val_eer" in r for r in panels[-1][1]):
            panels[-1][0].append(name)
            panels[-1][1].extend(history)
        else:
            panels.append(([name], list(history)))
    return [(names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}", history) for names, history in panels]


def plot_learning_curves(rows: Sequence[dict], path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of training and validation loss per epoch (left axis) and validation EER in %
    (right axis, where logged), one panel per detector stage and one per run of other stages, whose
    boundaries are marked. `rows` are metrics.jsonl rows. Returns the written path."""
    panels = _panels(rows)
    if not panels:
        raise DataError(f"{path}: no epochs to plot")
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4.4 * ncols, 3.0 * nrows + 0.8), dpi=100, layout="constrained")
    handles: dict[str, object] = {}
    for i, (name, history) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        x = np.arange(1, len(history) + 1)
        marker = "o" if len(history) <= 30 else None  # dots show single epochs, but clutter long runs
        for key, label, color in (("train_loss", "train loss", "C0"), ("val_loss", "val loss", "C1")):
            y = np.array([r.get(key, np.nan) for r in history], dtype=np.float64)
            if np.isfinite(y).any():
                (handles[label],) = ax.plot(x, y, color=color, marker=marker, markersize=3, label=label)
        boundaries = [k for k in range(1, len(history)) if history[k]["stage"] != history[k - 1]["stage"]]
        for k in boundaries:
            ax.axvline(k + 0.5, color="0.7", linewidth=0.8)
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("epoch (stages end to end; grey lines between)" if boundaries else "epoch")
        ax.set_ylabel("loss")
        ax.grid(True, linestyle=":", linewidth=0.7)
        eer = np.array([r.get("val_eer", np.nan) for r in history], dtype=np.float64)
        if np.isfinite(eer).any():
            twin = ax.twinx()
            (handles["val EER"],) = twin.plot(x, 100 * eer, color="C2", marker=marker and "s", markersize=3, label="val EER")
            handles["chance (EER 50 %)"] = twin.axhline(50, color="C2", linestyle=":", linewidth=1.0,
                                                        label="chance (EER 50 %)")
            twin.set_ylim(0, max(60.0, float(np.nanmax(100 * eer)) + 5))
            twin.set_ylabel("val EER (%)", color="C2")
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=len(handles),
               fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
    return Path(path)
