"""Real-time factor of long-file detection on one CPU thread, for the paper-size LSTM and CNN.

A synthetic file (noise with tone bursts, 16-bit WAV) is detected with untrained paper-size bundles
(64 mel bands, 10 s = 1000-frame windows, LSTM hidden 128 / the paper CNN) through the real
pipeline (`WindowDetector.detect_file`: decode, block log-mel front end, batched network, events),
with torch.set_num_threads(1). Everything below is measured in this one run, side by side:

* time split: decode / features / network / events, and RTF = audio seconds / total seconds;
* the network's share scales with windows per audio second = 1/hop, so the RTF is reported at each
  requested hop (default 1 s and 2 s), and the hop the goal would need is extrapolated from the
  measured per-window network cost (hop_needed = goal * (network s per window) / (1 - other share)).

    .venv/bin/python benchmarks/detect.py [--minutes 10] [--hops 1.0 2.0] [--batch 64] [--models lstm cnn]
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
from raresound.features import FeatureConfig, Normalizer

GOALS = {"lstm": 1000.0, "cnn": 200.0}
SR = 16000


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
    if kind == "lstm":
        spec = ModelSpec(backbone="lstm", backbone_kwargs={"n_mels": 64, "hidden_size": 128}, n_classes=3)
    else:
        spec = ModelSpec(backbone="cnn", backbone_kwargs={"n_mels": 64, "n_frames": cfg.n_frames()}, n_classes=3)
    normalizer = Normalizer(np.full(64, -8.0), np.full(64, 3.0), 1)
    return Bundle(build_model(spec).eval(), spec, ["a", "b", "c"], cfg, normalizer, {"a": 0.5, "b": 0.5, "c": 0.5})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--hops", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--models", nargs="+", default=["lstm", "cnn"], choices=["lstm", "cnn"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        audio = synthetic_file(path, args.minutes)
        print(f"file: {audio / 60:.1f} min synthetic 16-bit WAV; window 10 s (1000 frames x 64 mel); "
              f"torch threads {torch.get_num_threads()}; batch {args.batch}; torch {torch.__version__}")
        print("| model | hop s | windows | decode s | features s | network s | events s | total s | RTF | "
              "ms/window (net) | goal | hop for goal |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for kind in args.models:
            bundle = paper_bundle(kind)
            for hop in args.hops:
                detector = WindowDetector(bundle, hop=hop, batch=args.batch)
                detector.detect_wave(np.zeros(SR * 12, np.float32))  # warm-up (allocator, oneDNN primitives)
                start = time.perf_counter()
                result = detector.detect_file(path)
                total = time.perf_counter() - start
                tm = result.timings
                n_win = result.scores.shape[0]
                per_window = tm["network"] / n_win
                other = total - tm["network"]
                # RTF = audio / (other + n_audio_s / hop * per_window) = goal  ->  hop
                slack = audio / GOALS[kind] - other
                hop_goal = (audio * per_window / slack) if slack > 0 else float("inf")
                hop_txt = "unreachable (decode+features alone too slow)" if slack <= 0 else (
                    f"{hop_goal:.1f} s" + (" (> window)" if hop_goal > 10 else ""))
                print(f"| {kind} | {hop:g} | {n_win} | {tm['decode']:.2f} | {tm['features']:.2f} | "
                      f"{tm['network']:.2f} | {tm['events']:.3f} | {total:.2f} | {audio / total:.0f}x | "
                      f"{1000 * per_window:.2f} | {GOALS[kind]:.0f}x | {hop_txt} |")
        print("RTF = audio duration / wall time of detect_file on one thread. Windows overlap by "
              "(window - hop), so the network cost per audio second is (1/hop) windows x ms/window.")


if __name__ == "__main__":
    main()
