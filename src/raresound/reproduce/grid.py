"""Running the grid: every cell trained and evaluated once (finished cells are never retrained,
interrupted ones resume), then the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import yaml

from raresound.io import write_json, write_text
from raresound.reproduce.config import Cell, ReproduceConfig, cell_done, cell_recipe, cells, load_config, named_ratio
from raresound.reproduce.curve import point_config, point_dir, point_tag
from raresound.reproduce.data import build_data, data_cache
from raresound.reproduce.frames import run_frames
from raresound.reproduce.report import write_report


def run_cell(cfg: ReproduceConfig, cell: Cell, out: Path, store: Path, log: Callable[[str], None] = print) -> str:
    """Train + evaluate one cell unless it is done; returns 'done', 'trained' or 'resumed'."""
    from raresound.scoring import evaluate_run
    from raresound.training.fingerprint import check_run
    from raresound.training.recipes import train

    run_dir = cell.run_dir(out)
    recipe = cell_recipe(cfg, cell)
    check_run(run_dir, recipe, store)  # a finished cell of another recipe too: use a fresh --out
    if cell_done(run_dir):
        return "done"
    state = "resumed" if (run_dir / "stages").exists() else "trained"
    started = time.perf_counter()
    train(recipe, store, run_dir, device=None)
    trained = time.perf_counter()
    evaluate_run(run_dir, "test", store_dir=store)
    write_json(run_dir / "reproduce.json", {"state": state, "train_seconds": round(trained - started, 2),
                                            "eval_seconds": round(time.perf_counter() - trained, 2)})
    return state


def reproduce(config: ReproduceConfig | str | Path, out: str | Path, log: Callable[[str], None] = print,
              report_only: bool = False) -> Path:
    """Build data, run every cell (resuming), write the report; returns the report directory."""
    from raresound.training.threads import apply_threads

    cfg = config if isinstance(config, ReproduceConfig) else load_config(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "reproduce-config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    threads = apply_threads(cfg.threads, "the config's threads")
    started = time.perf_counter()

    def say(msg: str) -> None:
        log(f"[reproduce {time.perf_counter() - started:7.1f}s] {msg}")

    say(threads)
    cache = data_cache(cfg, out)
    summary = build_data(cfg, cache, say)
    store = cache / "store"
    grid = cells(cfg)
    if not report_only:
        for i, cell in enumerate(grid, 1):
            tag = f"{cell.backbone} {named_ratio(cfg, cell.ratio)} {cell.method} seed {cell.seed}"
            if cell_done(cell.run_dir(out)):
                say(f"[{i}/{len(grid)}] {tag}: done earlier, not retrained")
            else:
                t0 = time.perf_counter()
                state = run_cell(cfg, cell, out, store, say)
                say(f"[{i}/{len(grid)}] {tag}: {state} in {time.perf_counter() - t0:.1f}s")
            t0 = time.perf_counter()
            if run_frames(cfg, cell, out, store, cache, say):
                say(f"[{i}/{len(grid)}] {tag}: frame heads and localised events in {time.perf_counter() - t0:.1f}s")
        run_curve(cfg, out, say)  # after the grid: the grid is its 100 % point
    report_dir = write_report(cfg, out, summary, say, train_toy=not report_only)
    say(f"report: {report_dir / 'report.md'}")
    return report_dir


def run_curve(cfg: ReproduceConfig, out: Path, log: Callable[[str], None] = print) -> None:
    """The learning curve's points (reproduce/curve.py): each point's data, then its cells
    (finished cells are skipped, interrupted ones resume)."""
    for share in cfg.curve.train_sources:
        pcfg, pout = point_config(cfg, share, out), point_dir(out, share)
        cache = Path(pcfg.data.cache_dir)
        build_data(pcfg, cache, log)
        for cell in cells(pcfg):
            state = "done earlier" if cell_done(cell.run_dir(pout)) else run_cell(pcfg, cell, pout, cache / "store", log)
            log(f"curve {point_tag(share)}: {cell.method} seed {cell.seed}: {state}")
