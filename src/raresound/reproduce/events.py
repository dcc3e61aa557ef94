"""The DCASE 2017 Task 2 protocol as one benchmark (`raresound bench events`).

    protocol data (`data.protocol.build_protocol`: per class a devtrain and a devtest set of 30-s
    mixtures, event and background recordings disjoint between splits)
      -> one feature store of whole 30-s clips
      -> a sound event detector trained end to end on the strong labels (`training.sed.train_sed`,
         post-processing tuned on the validation events and stored in the bundle)
      -> events and frame scores on devtest, decoded as `raresound detect` decodes
      -> per class on its own set, and class-averaged: event-based ER and F1 (onset only, 0.5-s
         collar), PSDS1, median onset/offset error (`evaluation.sed.protocol_metrics`)
      -> OUT/results.md (Markdown table + settings + timings) and OUT/results.json; the devtest
         events and references as DCASE TSVs (OUT/test_events.tsv, OUT/test_reference.tsv).

Every stage is cached under OUT (data/, store/, sed/), so a re-run with the same settings resumes
where it stopped (the protocol build and the store are fingerprinted; training resumes from its
checkpoints) and an interrupted run loses at most the epoch in progress.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

# --quick: sizes a CI job can afford (~1-2 min on 2 cores); the full default is DCASE's 500 + 500.
QUICK = {"per_class": 40, "epochs": 4, "patience": 4}
CLIP_SECONDS = 30.0


@dataclass
class EventBenchmark:
    metrics: dict
    results_md: Path
    results_json: Path
    seconds: dict


def event_benchmark(source: str, out_dir, *, per_class: int = 500, config: dict | None = None,
                    seed: int = 0, data_root="../shared/data", dcase_root=None, workers: int = 2,
                    event_span: str = "active", train_sources: float = 1.0, progress: bool = False,
                    log=print) -> EventBenchmark:
    """Run the protocol benchmark into out_dir (module doc); returns the metrics and the report paths."""
    import torch

    from raresound.bundle import load_bundle
    from raresound.data.protocol import build_protocol
    from raresound.evaluation.events import write_event_list
    from raresound.evaluation.sed import protocol_metrics
    from raresound.features import FeatureConfig
    from raresound.io import json_safe, write_json, write_text
    from raresound.store import FeatureStore, build_store
    from raresound.training.sed import detect_split, sed_config, train_sed

    cfg = sed_config(config)  # validated before hours of data building (build_protocol checks the sizes first)
    out = Path(out_dir)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str, start: float) -> float:
        seconds[name] = round(time.perf_counter() - start, 1)
        return time.perf_counter()

    t = time.perf_counter()
    data = build_protocol(source, out / "data", per_class=per_class, clip_seconds=CLIP_SECONDS, seed=seed,
                          data_root=data_root, dcase_root=dcase_root, workers=workers, event_span=event_span,
                          train_sources=train_sources)
    log(data.summary())
    t = lap("data", t)
    report = build_store(data.manifest, out / "store", FeatureConfig(clip_seconds=CLIP_SECONDS),
                         workers=workers, progress=progress)
    if report.skipped:
        log(f"store: {len(report.skipped)} clip(s) skipped (store/report.csv)")
    t = lap("features", t)
    # augment.remix (when the config has it) remixes the protocol's isolated train sources every batch
    bundle_dir = train_sed(out / "store", out / "sed", cfg, remix_sources=data.source_manifest,
                           remix_span=event_span, progress=progress, log=log)
    t = lap("training", t)
    bundle = load_bundle(bundle_dir)
    test = FeatureStore(out / "store").split("test")
    reference, estimated, scores, durations = detect_split(bundle, test, keep_scores=True)
    # the events behind the table, for error analysis (`evaluate-events`, `plot`)
    write_event_list(estimated, out / "test_events.tsv", header=True)
    write_event_list(reference, out / "test_reference.tsv", header=True)
    t = lap("detection", t)
    sets = {c: [Path(p).name for p in paths] for c, paths in data.sets["test"].items()}
    metrics = protocol_metrics(reference, estimated, bundle.classes, sets, 0.5, scores, durations)
    lap("scoring", t)
    seconds["total"] = round(time.perf_counter() - t0, 1)
    audio_hours = sum(durations.values()) / 3600
    result = {"source": source, "per_class": per_class, "seed": seed, "protocol": data.settings,
              "sources": data.sources, "model": {"backbone": cfg.model.backbone, **cfg.model.kwargs},
              "postprocessing": bundle.info.get("frames", {}).get("postprocessing"),
              "best_epoch": bundle.info.get("frames", {}).get("stage", {}).get("best_epoch"),
              "metrics": metrics, "seconds": seconds, "test_audio_hours": round(audio_hours, 2),
              "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine()}
    md = _report(source, per_class, metrics, seconds, audio_hours, data)
    write_text(out / "results.md", md)
    write_json(out / "results.json", json_safe(result))
    log(md)
    return EventBenchmark(metrics, out / "results.md", out / "results.json", seconds)


def _report(source, per_class, metrics, seconds, audio_hours, data) -> str:
    from raresound.evaluation.sed import markdown_table

    title = (f"## DCASE 2017 Task 2 protocol, source `{source}`: {per_class} + {per_class} mixtures per class, "
             f"devtest {audio_hours:.1f} h")
    train_sources = data.sources.get("train", {})
    lines = [markdown_table(metrics, title),
             "Event-based, onset only, 0.5-s collar, each class scored on its own devtest set; "
             "PSDS1 on the frame scores; onset/offset error: median |error| over the reference events "
             "overlapped by a detection of their class.",
             "",
             "training sources per class: " + ", ".join(f"{k} {v}" for k, v in sorted(train_sources.items())),
             "time (s): " + ", ".join(f"{k} {v:g}" for k, v in seconds.items())]
    return "\n".join(lines) + "\n"


def quick_settings(per_class: int | None, config: dict) -> tuple[int, dict]:
    """--quick: the CI sizes (mixtures per class unless given; the schedule replaces the config's)."""
    config = dict(config)
    for key in ("epochs", "patience"):
        config[key] = QUICK[key]
    return (per_class if per_class is not None else QUICK["per_class"]), config



def curve_dir(out_dir, fraction: float) -> Path:
    """Where one point of the learning curve runs: OUT/train-sources-050 for 0.5."""
    return Path(out_dir) / f"train-sources-{int(round(100 * fraction)):03d}"


def event_learning_curve(source: str, out_dir, fractions, *, log=print, **kwargs) -> Path:
    """The protocol benchmark at each share of the training event recordings (`train_sources`:
    nested subsets, one devtest), each point cached in `curve_dir(out_dir, fraction)`; writes
    OUT/learning_curve.md (F1 and ER per class and class-averaged against the training recordings
    per class) and OUT/learning_curve.json. Returns the Markdown path."""
    from raresound.io import json_safe, write_json, write_text

    points = []
    for fraction in sorted(set(float(f) for f in fractions)):
        log(f"learning curve: train_sources {fraction:g}")
        result = event_benchmark(source, curve_dir(out_dir, fraction), train_sources=fraction, log=log, **kwargs)
        doc = __import__("json").loads(result.results_json.read_text())
        points.append({"train_sources": fraction, "sources": doc["sources"]["train"], "metrics": result.metrics,
                       "minutes": round(result.seconds["total"] / 60, 1)})
    md = _curve_table(source, points)
    out = Path(out_dir)
    write_text(out / "learning_curve.md", md)
    write_json(out / "learning_curve.json", json_safe({"source": source, "points": points}))
    log(md)
    return out / "learning_curve.md"


def _curve_table(source: str, points: list[dict]) -> str:
    classes = points[0]["metrics"]["classes"]
    head = ("| train sources | " + " | ".join(f"{c} recordings | {c} F1 % / ER" for c in classes)
            + " | average F1 % | average ER | PSDS1 | minutes |")
    rows = [f"## Learning curve over training sources, `{source}` protocol", "", head,
            "|" + "---|" * (head.count("|") - 1)]
    for p in points:
        m = p["metrics"]
        cells = [f"{p['sources'].get(c, 0)} | {100 * m['class_wise'][c]['f_measure']:.1f} / "
                 f"{m['class_wise'][c]['error_rate']:.2f}" for c in classes]
        a = m["class_average"]
        psds = a.get("psds1")
        rows.append(f"| {100 * p['train_sources']:.0f} % | " + " | ".join(cells)
                    + f" | {100 * a['f_measure']:.1f} | {a['error_rate']:.2f} | "
                    + ("–" if psds is None else f"{psds:.3f}") + f" | {p['minutes']:g} |")
    rows += ["", "Each point: the same devtest (unseen recordings), val and backgrounds; train mixes a nested "
                 "subset of each class's training event recordings (`--train-sources`)."]
    return "\n".join(rows) + "\n"
