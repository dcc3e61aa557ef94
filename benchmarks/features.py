"""Featurisation throughput: decode + resample + log-mel, end to end vs each stage alone.

Generates its own 10-s clips in a temp dir (half 44.1 kHz FLAC so resampling is exercised, half
16 kHz FLAC), then measures in this one run, on this machine:

* each stage alone, one process, one torch thread: decode (libsndfile), resample (soxr HQ,
  44.1k clips only; 16k clips need none), log-mel (batched LogMel);
* the store's real work unit (raresound.store._featurise_chunk: audio.load + batched LogMel +
  float16 .npy write) with 1 process and with 2 processes (warm pool);
* build_store end to end (pool start-up and split assembly included).

Prints clips/s and the ratios pipeline / slowest stage and pipeline / sequential bound (the rate a
single process would reach if the stages cost exactly what they cost alone: 1 / sum(1/rate)).

    python benchmarks/features.py [--clips 96] [--chunk-size 16]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf
import soxr
import torch

from raresound import store as store_mod
from raresound.audio import AudioWarning
from raresound.features import FeatureConfig, LogMel
from raresound.store import build_store

SECONDS = 10.0


def make_clips(root: Path, n: int) -> list[tuple[Path, int]]:
    rng = np.random.default_rng(0)
    clips = []
    for i in range(n):
        rate = 44100 if i % 2 == 0 else 16000
        t = np.arange(int(rate * SECONDS)) / rate
        x = 0.2 * np.sin(2 * np.pi * (300 + 50 * i) * t) + 0.05 * rng.standard_normal(t.size)
        path = root / f"clip{i:04d}_{rate}.flac"
        sf.write(path, x.astype(np.float32), rate, subtype="PCM_16")
        clips.append((path, rate))
    return clips


CPU = {}  # stage -> best CPU seconds of this process (robust to other load on the machine)


def best_of(repeats: int, fn, name: str | None = None) -> float:
    """Best wall time of `repeats` runs; also records this process's CPU time under `name`."""
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if name:
        CPU[name] = min(cpu)
    return min(times)


def _warm(_: int) -> int:
    time.sleep(0.2)  # keeps each worker busy so both get a warm-up task
    return os.getpid()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=96)
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore", AudioWarning)
    torch.set_num_threads(1)
    cfg = FeatureConfig()
    n = args.clips

    with tempfile.TemporaryDirectory(prefix="raresound-bench-") as tmp:
        root = Path(tmp)
        clips = make_clips(root, n)
        print(f"{n} clips of {SECONDS:.0f} s ({sum(r == 44100 for _, r in clips)} at 44.1 kHz, "
              f"{sum(r == 16000 for _, r in clips)} at 16 kHz, FLAC 16-bit); cores: {os.cpu_count()}; "
              f"torch {torch.__version__}, 1 torch thread per process")
        print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
              "(other processes compete for the cores; compare ratios measured in this same run)")

        # --- stages alone (one process) ---------------------------------------------------
        decoded: list[tuple[np.ndarray, int]] = []

        def decode():
            decoded.clear()
            for path, _ in clips:
                x, rate = sf.read(path, dtype="float32")
                decoded.append((x, rate))

        t_decode = best_of(args.repeats, decode, "decode")

        resampled: list[np.ndarray] = []

        def resample():
            resampled.clear()
            for x, rate in decoded:
                resampled.append(soxr.resample(x, rate, 16000, quality="HQ") if rate != 16000 else x)

        t_resample = best_of(args.repeats, resample, "resample")
        waves = np.stack([np.pad(w, (0, max(0, 160000 - w.size)))[:160000] for w in resampled]).astype(np.float32)
        logmel = LogMel(cfg)

        def featurise():
            with torch.inference_mode():
                for s in range(0, n, store_mod._LOGMEL_BATCH):
                    logmel(torch.from_numpy(waves[s : s + store_mod._LOGMEL_BATCH]))

        t_logmel = best_of(args.repeats, featurise, "log-mel")

        stages = {"decode": n / t_decode, "resample": n / t_resample, "log-mel": n / t_logmel}
        slowest_name = min(stages, key=stages.get)
        slowest = stages[slowest_name]
        sequential = 1.0 / sum(1.0 / r for r in stages.values())

        # --- the store's work unit, 1 and 2 processes ----------------------------------------
        out = root / "chunks"
        out.mkdir()
        tasks = [
            {"key": f"train-{c:06d}", "out": str(out / f"{c}.npy"),
             "clips": [(i, str(clips[i][0])) for i in range(s, min(n, s + args.chunk_size))]}
            for c, s in enumerate(range(0, n, args.chunk_size))
        ]
        store_mod._init_worker(logmel)
        t_pipe1 = best_of(args.repeats, lambda: [store_mod._featurise_chunk(t) for t in tasks], "pipeline")

        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(2, mp_context=ctx, initializer=store_mod._init_worker, initargs=(logmel,)) as pool:
            workers = [psutil.Process(pid) for pid in set(pool.map(_warm, range(4)))]

            def worker_cpu() -> float:
                return sum(p.cpu_times().user + p.cpu_times().system for p in workers)

            cpu0 = worker_cpu()
            t_pipe2 = best_of(args.repeats, lambda: list(pool.map(store_mod._featurise_chunk, tasks)))
            CPU["pipeline2"] = (worker_cpu() - cpu0) / args.repeats

        # --- build_store end to end ----------------------------------------------------------
        manifest = root / "manifest.csv"
        manifest.write_text("path,labels,split,source_id\n" + "".join(f"{p.name},,train,s{i}\n" for i, (p, _) in enumerate(clips)))
        t0 = time.perf_counter()
        report = build_store(manifest, root / "store", cfg, workers=2, chunk_size=args.chunk_size, progress=False)
        t_store = time.perf_counter() - t0
        assert report.n_stored == n, report.summary()

    pipe1, pipe2, store_rate = n / t_pipe1, n / t_pipe2, n / t_store
    print()
    print("stage alone (1 process)              clips/s (wall)   CPU ms/clip")
    for name, rate in stages.items():
        mark = "  <- slowest" if name == slowest_name else ""
        print(f"  {name:<34} {rate:8.1f}        {1000 * CPU[name] / n:8.2f}{mark}")
    print(f"  {'sum of stage CPU':<34} {'':8}        {1000 * sum(CPU[k] for k in stages) / n:8.2f}")
    print(f"  {'sequential bound 1/sum(1/rate)':<34} {sequential:8.1f}")
    print()
    print("pipeline (store work unit: load + log-mel + f16 write)")
    print(f"  {'1 process':<34} {pipe1:8.1f}   CPU {1000 * CPU['pipeline'] / n:.2f} ms/clip   pipeline/slowest {pipe1 / slowest:5.2f}   pipeline/sequential bound {pipe1 / sequential:5.2f}")
    print(f"  {'2 processes (warm pool)':<34} {pipe2:8.1f}   CPU {1000 * CPU['pipeline2'] / n:.2f} ms/clip   pipeline/slowest {pipe2 / slowest:5.2f}   pipeline/sequential bound {pipe2 / sequential:5.2f}")
    print(f"  {'2-process speed-up':<34} {pipe2 / pipe1:8.2f}x")
    print(f"  {'build_store, 2 workers, end to end':<34} {store_rate:8.1f}   (incl. pool start-up + assembly, {t_store:.1f} s)")
    projected = 2000.0 / (1000 * CPU["pipeline2"] / n)
    print(f"  {'projection on 2 idle cores':<34} {projected:8.1f}   (= 2 cores / CPU per clip of the 2-process run; "
          "a projection, not a measurement)")
    print(f"load average at end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print()
    goal = 500.0
    print(f"goal >= {goal:.0f} clips/s end to end on 2 cores: {'met' if pipe2 >= goal else 'NOT met'} ({pipe2:.0f}); "
          f"goal pipeline >= 80% of slowest stage: {'met' if pipe2 >= 0.8 * slowest else 'NOT met'} ({pipe2 / slowest:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
