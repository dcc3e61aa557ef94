"""Real-time factor of long-file detection on one CPU thread: one pass against sliding windows.

A synthetic file (noise with tone bursts, 16-bit WAV) is detected with untrained paper-size bundles
(64 mel bands, 10-s = 1000-frame clips; LSTM hidden 128 at 10-ms steps / the paper CNN / train-sed's
CRNN, bidirectional and causal, at 40-ms steps), each with
a frame head, through the real pipelines, with torch.set_num_threads(1). Measured in this one run,
side by side, per model:

* one pass (`FrameDetector.detect_file`, fastest of --repeats runs: decode, log-mel, each frame through the backbone once,
  frame scores + the clip scores of every 1-s-hop window, events) against sliding windows
  (`WindowDetector.detect_file`, each frame re-scored window/hop times): time split and
  RTF = audio seconds / wall seconds; goals 1000x (LSTM), 200x (CNN), 300x (CRNN) for the one pass;
* agreement of the one-pass clip scores with the windowed ones: on a file of exactly one window,
  where the two definitions coincide (expected: equal to float rounding), and over every window of
  the long file, where they do not (LSTM state carried in, CNN context at window edges);
* streaming: events from `FrameStreamer` fed 0.1-s chunks, their confirmation delay after the
  reported offset (max, in seconds of audio) against the stated bound (goal <= 1 s); not for the
  bidirectional CRNN, which `detect --stream` refuses.

    .venv/bin/python benchmarks/detect.py [--minutes 10] [--models lstm cnn crnn crnn-causal]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from raresound.bundle import Bundle, ModelSpec, build_model
from raresound.detect import WindowDetector
from raresound.detection.frame_detector import FrameDetector
from raresound.features import FeatureConfig, Normalizer

GOALS = {"lstm": 1000.0, "cnn": 200.0, "crnn": 300.0, "crnn-causal": 300.0}
# train-sed's CRNN at the size of configs/sed/crnn.yaml; "crnn-causal" is its streamable variant
CRNN_KWARGS = {"channels": [16, 32, 64], "time_pools": [2, 2, 1], "freq_pools": [4, 4, 4], "hidden_size": 64,
               "dropout": 0.2}
SR = 16000
CHUNK_SECONDS = 0.1


def synthetic_file(path: Path, minutes: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * SR)
    x = (0.01 * rng.standard_normal(n)).astype(np.float32)
    t = np.arange(SR * 2) / SR
    for start in rng.integers(0, n - 2 * SR, size=int(minutes * 6)):
        x[start : start + 2 * SR] += (0.3 * np.sin(2 * np.pi * rng.uniform(300, 4000) * t)).astype(np.float32)
    sf.write(str(path), x, SR, subtype="PCM_16")
    return n / SR


def paper_bundle(kind: str) -> Bundle:
    torch.manual_seed(0)
    cfg = FeatureConfig()
    if kind.startswith("crnn"):
        kwargs = {"n_mels": 64, **CRNN_KWARGS, "bidirectional": kind == "crnn"}
    else:
        kwargs = {"n_mels": 64, "hidden_size": 128} if kind == "lstm" else {"n_mels": 64, "n_frames": cfg.n_frames()}
    spec = ModelSpec(backbone=kind.split("-")[0], backbone_kwargs=kwargs, n_classes=3, frame_head_input="e")
    normalizer = Normalizer(np.full(64, -8.0), np.full(64, 3.0), 1)
    classes = ["a", "b", "c"]
    # the post-processing `train-frames` stores (0.2-s median filter, 0.3-s merge gap): it adds to the latency
    from raresound.training.frames import DEFAULT_MEDIAN_SECONDS, DEFAULT_MIN_GAP

    info = {"frames": {"median": DEFAULT_MEDIAN_SECONDS, "min_gap": DEFAULT_MIN_GAP}}
    return Bundle(build_model(spec).eval(), spec, classes, cfg, normalizer, {c: 0.5 for c in classes}, info)


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def streaming_delay(detector: FrameDetector, wave: np.ndarray) -> tuple[float, int]:
    s = detector.streamer()
    step = int(CHUNK_SECONDS * SR)
    worst, n = 0.0, 0
    for a in range(0, wave.size, step):
        received = min(a + step, wave.size) / SR
        for e in s.push(wave[a : a + step]):
            worst, n = max(worst, received - e.offset), n + 1
    s.finish()
    return worst, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--models", nargs="+", default=list(GOALS), choices=list(GOALS))
    ap.add_argument("--repeats", type=int, default=3, help="one-pass runs per model; the fastest is reported")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path, one = Path(tmp) / "long.wav", Path(tmp) / "one-window.wav"
        audio = synthetic_file(path, args.minutes)
        synthetic_file(one, 10.0 / 60, seed=1)
        wave, _ = sf.read(str(path), dtype="float32")
        print(f"file: {audio / 60:.1f} min synthetic 16-bit WAV; clip 10 s (1000 frames x 64 mel); hop 1 s; "
              f"torch threads {torch.get_num_threads()}; torch {torch.__version__}")
        print("| model | path | decode s | features s | network s | total s | RTF | goal |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        notes = []
        for kind in args.models:
            bundle = paper_bundle(kind)
            # An untrained head scores everything near 0.5: thresholds at each class's 99.5th percentile
            # of the first minute give a trained detector's sparse events, not one per other step.
            probe = FrameDetector(bundle, hop=1.0).detect_wave(wave[: 60 * SR], SR).frame_scores
            bundle.info["frame_thresholds"] = dict(zip(bundle.classes, np.quantile(probe, 0.995, axis=0).tolist()))
            one_pass, windowed = FrameDetector(bundle, hop=1.0), WindowDetector(bundle, hop=1.0)
            notes.append(f"{kind}: frame post-processing median {one_pass.median} steps of "
                         f"{one_pass.step_seconds * 1000:.0f} ms, merge gap {one_pass.min_gap} s.")
            for d in (one_pass, windowed):  # warm-up (allocator, oneDNN primitives, librosa import)
                d.detect_wave(np.zeros(SR * 12, np.float32), SR)
            rows = {}
            for name, d in (("one pass", one_pass), ("windows", windowed)):
                # best of `--repeats` runs (as timeit does): the machine's other load only ever adds time
                runs = [timed(d.detect_file, path) for _ in range(args.repeats if name == "one pass" else 1)]
                rows[name], total = min(runs, key=lambda r: r[1])
                tm = rows[name].timings
                goal = f"{GOALS[kind]:.0f}x" if name == "one pass" else ""
                print(f"| {kind} | {name} | {tm['decode']:.2f} | {tm['features']:.2f} | {tm['network']:.2f} | "
                      f"{total:.2f} | {audio / total:.0f}x | {goal} |")
            a, b = rows["one pass"].scores, rows["windows"].scores
            single = np.abs(one_pass.detect_file(one).scores - windowed.detect_file(one).scores).max()
            if bundle.spec.backbone_kwargs.get("bidirectional", False):  # needs the whole signal: no streaming
                delay, n_events = float("nan"), 0
            else:
                delay, n_events = streaming_delay(one_pass, wave[: 120 * SR])
            notes.append(f"{kind}: {len(rows['one pass'].events)} events in the long file. Clip scores, one pass vs windows: one-window file max |diff| {single:.2e}; "
                         f"long file first window {np.abs(a[0] - b[0]).max():.2e}, all {a.shape[0]} windows "
                         f"max {np.abs(a - b).max():.2e} / median {np.median(np.abs(a - b)):.2e}. "
                         f"Streaming ({CHUNK_SECONDS} s chunks, 2 min): {n_events} events, max confirmation "
                         f"delay after offset {delay:.2f} s (bound {one_pass.latency_bound(CHUNK_SECONDS):.2f} s).")
        print()
        for line in notes:
            print(line)
        print(f"RTF = audio duration / wall time of detect_file on one thread, one pass: fastest of {args.repeats} "
              "runs, windows: one run (decode = everything but features and network).")


if __name__ == "__main__":
    main()
