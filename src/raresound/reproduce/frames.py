"""Localised events in the reproduction (config section `frames`, off while `epochs` is 0).

After a cell is trained and scored, every bundle it made (the probe has no per-step outputs and is
left out) gets a frame head (`training.frames`, frozen backbone: the clip EERs do not move), and
detects in one pass over long test files built once from the test mixtures
(`evaluation.localisation`). Per model, `eval/test/events.json` records the boundary errors, DCASE
event-based F1 (onset + offset: 200-ms collar, offset collar 20 % of the event's length),
segment-based F1 (1-s segments) and PSDS (scenario 1), which the report prints next to the EER.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from raresound.io import read_json, write_json
from raresound.reproduce.config import METHOD_MODELS, Cell, ReproduceConfig, cell_done

EVENTS_JSON = Path("eval") / "test" / "events.json"
LONG_FILES_DIR = "long-test"


def long_files(cfg: ReproduceConfig, cache: Path) -> tuple[list[Path], list]:
    """The long test files (built once per data cache and frames settings) and their reference events."""
    from raresound.data.manifest import read_manifest
    from raresound.evaluation.events import read_event_list, write_event_list
    from raresound.evaluation.localisation import long_test_files

    f = cfg.frames
    folder = cache / LONG_FILES_DIR / f"{f.long_files}x{f.clips_per_file}"
    reference = folder / "reference.tsv"
    paths = [folder / f"long{i:02d}.wav" for i in range(f.long_files)]
    if not (reference.exists() and all(p.exists() for p in paths)):
        paths, events = long_test_files(read_manifest(cache / "manifest.csv"), folder, f.long_files, f.clips_per_file)
        write_event_list(events, reference)  # written last: marks the folder complete
    return paths, read_event_list(reference)


def localise(bundle_dir: Path, paths: list[Path], reference: list, median: int) -> dict:
    """One pass over `paths` with a frame bundle -> boundary errors and DCASE metrics."""
    from raresound.bundle import load_bundle
    from raresound.detection.frame_detector import FrameDetector
    from raresound.detection.outputs import frame_score_map
    from raresound.evaluation.events import Event, event_based_metrics
    from raresound.evaluation.localisation import boundary_errors
    from raresound.evaluation.psds import psds
    from raresound.evaluation.segments import segment_based_metrics

    bundle = load_bundle(bundle_dir)
    detector = FrameDetector(bundle, median=median)
    results = [detector.detect_file(p) for p in paths]
    estimated = [Event(r.filename, e.onset, e.offset, e.event_label) for r in results for e in r.events]
    durations = {r.filename: r.duration for r in results}
    events = event_based_metrics(reference, estimated, t_collar=0.2, evaluate_offset=True, percentage_of_length=0.2)
    segments = segment_based_metrics(reference, estimated, 1.0, classes=bundle.classes, durations=durations)
    threshold_free = psds(frame_score_map(results), reference, durations, classes=bundle.classes)
    return {**boundary_errors(reference, estimated), "event_f1": events["overall"]["f_measure"],
            "event_error_rate": events["overall"]["error_rate"], "segment_f1": segments["overall"]["f_measure"],
            "psds": threshold_free["psds"], "step_seconds": detector.step_seconds, "median": median,
            "frame_thresholds": dict(zip(bundle.classes, detector.thresholds.tolist()))}


def clip_eer(bundle_dir: Path, store: Path) -> float:
    """Overall test EER of a bundle's clip scores on the store's test split."""
    import numpy as np

    from raresound.bundle import load_bundle
    from raresound.evaluation.eer import evaluate_scores
    from raresound.scoring import score_split
    from raresound.store import FeatureStore

    bundle = load_bundle(bundle_dir)
    split = FeatureStore(store).split("test")
    return evaluate_scores(score_split(bundle, split), np.asarray(split.labels), bundle.classes)["overall"]


def run_frames(cfg: ReproduceConfig, cell: Cell, out: Path, store: Path, cache: Path,
               log: Callable[[str], None] = print) -> bool:
    """Frame heads + localisation for a finished cell (each model once); True if anything ran."""
    from raresound.training.frames import train_frame_head

    run_dir = cell.run_dir(out)
    if cfg.frames.epochs < 1 or not cell_done(run_dir):
        return False
    done = read_json(run_dir / EVENTS_JSON) if (run_dir / EVENTS_JSON).exists() else {}
    todo = [m for m in METHOD_MODELS[cell.method] if m != "probe" and m not in done]
    if not todo:
        return False
    paths, reference = long_files(cfg, cache)
    f = cfg.frames
    for model in todo:
        frames_dir = run_dir / "models" / f"{model}-frames"
        train_frame_head(run_dir / "models" / model, store, frames_dir, head_input=f.head_input, epochs=f.epochs,
                         lr=f.lr, patience=f.patience, seed=cell.seed, finetune_epochs=f.finetune_epochs,
                         progress=False, log=lambda *_: None)
        done[model] = localise(frames_dir, paths, reference, f.median)
        if f.finetune_epochs:  # a new clip model: its own test EER beside the original's
            done[model]["clip_eer"] = clip_eer(frames_dir, store)
        write_json(run_dir / EVENTS_JSON, done)
        r = done[model]
        log(f"  {model}: onset/offset error median {r['onset_median']:.3f}/{r['offset_median']:.3f} s, "
            f"event F1 {100 * r['event_f1']:.1f}%, PSDS {r['psds']:.3f}")
    return True


COLUMNS = (("onset_median", "onset err (s)", 1), ("offset_median", "offset err (s)", 1), ("matched", "matched %", 100),
           ("event_f1", "event F1 %", 100), ("segment_f1", "segment F1 %", 100), ("psds", "PSDS1", 1))


def events_table(cfg: ReproduceConfig, out: Path, backbone: str, ratio: str, models: dict) -> tuple[str, dict] | None:
    """Markdown table (seed means) of the localisation metrics beside the clip EER, and its data;
    None when no cell of (backbone, ratio) has any."""
    import numpy as np

    from raresound.reproduce.config import cell_label
    from raresound.reproduce.results import fmt_mean_std

    found: dict = {}
    for method in cfg.grid.methods:
        for seed in cfg.grid.seeds:
            path = Cell(backbone, ratio, method, seed).run_dir(out) / EVENTS_JSON
            for model, metrics in (read_json(path) if path.exists() else {}).items():
                found.setdefault(model, []).append(metrics)
    if not found:
        return None
    tuned = all("clip_eer" in r for runs in found.values() for r in runs)
    header = ["method", "clip EER % (overall)", *(["fine-tuned clip EER %"] if tuned else []),
              *[label for _, label, _ in COLUMNS], "seeds"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    data = {}
    for model, runs in found.items():
        means = {key: float(np.nanmean([r[key] for r in runs])) for key, _, _ in COLUMNS}
        data[model] = {**means, "seeds": len(runs)}
        eer = fmt_mean_std(models[model]["overall"]) if model in models else "n/a"
        cells_ = [f"{scale * means[key]:.{3 if scale == 1 else 1}f}" for key, _, scale in COLUMNS]
        if tuned:
            data[model]["clip_eer"] = float(np.mean([r["clip_eer"] for r in runs]))
            cells_ = [f"{100 * data[model]['clip_eer']:.1f}", *cells_]
        lines.append("| " + " | ".join([cell_label(cfg, backbone, ratio, model), eer, *cells_, str(len(runs))]) + " |")
    return "\n".join(lines) + "\n", data
