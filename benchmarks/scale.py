"""Paper-scale training data without audio: memory and throughput of the training pipeline.

Writes a synthetic store in the store format (meta.json, <split>.f16 float16 memmap,
<split>.index.csv) with random features — default 56K ten-second clips x 1000 frames x 64 mels
(~7.2 GB, the paper's training set size) — then, in this one process:

  1. load_training_data: open the store and fit the normaliser (streams the whole train split);
  2. train the paper LSTM with the real Trainer for `--batches` batches of 64 (a full CPU epoch of
     56K clips takes hours: the epoch time is EXTRAPOLATED from the measured batches, and says so);
  3. one clustering round: embed `--embed-batches` batches (measured, extrapolated to all clips),
     then cluster_per_class on random unit embeddings of the full size [clips, 128] with the
     store's class ids (so the clustering cost is measured at full size, the embedding pass is not);

and prints peak RSS (getrusage; also the anonymous/file-backed split from /proc/self/status —
file-backed pages are the memmap's page cache, reclaimable) and clips/s per phase.

    python benchmarks/scale.py                      # 56K clips under /tmp, deleted afterwards
    python benchmarks/scale.py --clips 8000 --keep  # smaller, keep the store
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from raresound.clustering import cluster_per_class
from raresound.data.manifest import ClipRecord, write_manifest
from raresound.features import FeatureConfig
from raresound.io import write_json

CLASSES = ("baby", "dog", "gunshot")
RATIO = (1, 6, 2, 16)  # baby:dog:gunshot:background (paper's 6:1:2:16 family)
GIB = 1024 ** 3


def rss() -> dict:
    """Current RssAnon / RssFile (GiB) and peak RSS so far (getrusage, GiB)."""
    out = {"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024 / GIB
    return out


def fmt_rss(r: dict) -> str:
    return (f"peak RSS {r['peak']:.2f} GiB (now: anon {r.get('RssAnon', math.nan):.2f} GiB, "
            f"file-backed {r.get('RssFile', math.nan):.2f} GiB)")


def write_store(out: Path, clips: int, frames: int, mels: int, val_clips: int, seed: int = 0,
                chunk: int = 512) -> Path:
    """Random float16 features streamed chunk by chunk into the store format (no audio)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cfg = FeatureConfig(n_mels=mels, clip_seconds=frames * 0.01)
    assert cfg.n_frames(cfg.clip_samples) == frames
    p = np.array(RATIO, dtype=float) / sum(RATIO)
    splits = {}
    for split, n in (("train", clips), ("val", val_clips)):
        labels = rng.choice(len(RATIO), size=n, p=p)
        with open(out / f"{split}.f16", "wb") as f:
            for start in range(0, n, chunk):
                m = min(chunk, n - start)
                block = rng.standard_normal((m, frames, mels), dtype=np.float32)
                block += labels[start:start + m, None, None].astype(np.float32)  # a little class signal
                block.astype(np.float16).tofile(f)
        records = [ClipRecord(f"synthetic/{split}-{i:06d}.wav", (CLASSES[c],) if c < len(CLASSES) else (), split,
                              f"s{i}", frames * 0.01) for i, c in enumerate(labels)]
        write_manifest(records, out / f"{split}.index.csv")
        splits[split] = {"n": n, "n_frames": frames, "n_mels": mels}
    write_json(out / "meta.json", {"version": 1, "feature_config": cfg.to_dict(), "classes": list(CLASSES),
                                   "splits": splits, "dtype": "float16"})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=56_000, help="training clips (paper: ~56K)")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--mels", type=int, default=64)
    ap.add_argument("--batches", type=int, default=8, help="training batches measured (epoch is extrapolated)")
    ap.add_argument("--embed-batches", type=int, default=8, help="embedding batches measured (extrapolated)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="parent folder of the store (default: /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic store")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from raresound.bundle import build_model
    from raresound.losses.weighted_bce import ClassWeightedBCE
    from raresound.training.config import config_from_dict
    from raresound.training.data import label_vector_ids, load_training_data, loader
    from raresound.training.loop import Stage, Trainer
    from raresound.training.recipes import detection_objective, model_spec

    parent = args.dir or Path(tempfile.gettempdir())
    val_clips = max(64, args.clips // 100)
    need = (args.clips + val_clips) * args.frames * args.mels * 2
    free = shutil.disk_usage(parent).free
    clips = args.clips
    if need > free - 2 * GIB:
        clips = max(1024, int((free - 2 * GIB) / (args.frames * args.mels * 2)) - val_clips)
        print(f"NOTE: {parent} has {free / GIB:.1f} GiB free, {need / GIB:.1f} GiB needed: "
              f"shrinking to {clips} clips")
    work = Path(tempfile.mkdtemp(prefix="raresound-scale-", dir=parent))
    try:
        t0 = time.perf_counter()
        store = write_store(work / "store", clips, args.frames, args.mels, val_clips)
        size = sum(f.stat().st_size for f in store.iterdir())
        print(f"store: {clips} train + {val_clips} val clips x {args.frames} x {args.mels} float16 = "
              f"{size / GIB:.2f} GiB on disk, written in {time.perf_counter() - t0:.1f} s ({store})")
        print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}")

        t0 = time.perf_counter()
        print(f"    after writing the store: {fmt_rss(rss())}")
        data = load_training_data(store)
        dt = time.perf_counter() - t0
        print(f"[1] load + fit normaliser on train: {dt:.1f} s ({clips / dt:.0f} clips/s); {fmt_rss(rss())}")

        cfg = config_from_dict({"model": {"backbone": "lstm", "hidden_size": 128}})
        spec = model_spec(cfg, len(data.classes), args.frames, args.mels)
        model = build_model(spec)
        train_loader = loader(data.train, args.batch_size, True, 0)
        stage = Stage("scale", detection_objective(ClassWeightedBCE(torch.as_tensor(data.class_counts()))),
                      lambda m: list(m.parameters()), train_loader, val_loader=None, max_epochs=1, patience=None,
                      keep_best=False)
        trainer = Trainer(model, work / "run", progress=False, max_train_batches=args.batches)
        t0 = time.perf_counter()
        trainer.fit(stage)
        dt = time.perf_counter() - t0  # includes the two small checkpoint writes
        seen = min(args.batches, len(train_loader)) * args.batch_size
        rate = seen / dt
        print(f"[2] LSTM-128 training, real Trainer, {min(args.batches, len(train_loader))} batches of "
              f"{args.batch_size} measured: {rate:.1f} clips/s; {fmt_rss(rss())}")
        print(f"    EXTRAPOLATED full epoch of {clips} clips at that rate: {clips / rate / 3600:.2f} h on this CPU "
              f"(8 GPUs x 64 per rank would divide the batch count by 8)")

        n_embed = min(args.embed_batches * args.batch_size, clips)
        positions = np.arange(n_embed)
        t0 = time.perf_counter()
        with torch.no_grad():
            model.eval()
            for start in range(0, n_embed, args.batch_size):
                model.embed(data.train.rows(positions[start:start + args.batch_size]))
        dt = time.perf_counter() - t0
        print(f"[3a] embedding pass, {n_embed} clips measured: {n_embed / dt:.1f} clips/s; EXTRAPOLATED to all "
              f"{clips} clips: {clips / (n_embed / dt) / 60:.1f} min")
        class_ids, _ = label_vector_ids(data.train_targets)
        emb = torch.nn.functional.normalize(torch.randn(clips, 128, generator=torch.Generator().manual_seed(0)), dim=1)
        t0 = time.perf_counter()
        result = cluster_per_class(emb, torch.as_tensor(class_ids), seed=0)
        dt = time.perf_counter() - t0
        print(f"[3b] cluster_per_class on RANDOM unit embeddings [{clips}, 128] with the store's class ids "
              f"(full size, measured): K = {result.centroids.shape[0]} clusters in {dt:.1f} s; {fmt_rss(rss())}")
        final = rss()
        verdict = "OK" if final["peak"] < 4 else "OVER"
        print(f"peak RSS {final['peak']:.2f} GiB (goal < 4 GiB: {verdict}); "
              f"store {size / GIB:.2f} GiB is never loaded whole")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
