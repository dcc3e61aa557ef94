"""Helpers shared by several test modules: tiny stores, bundles, planted audio and a varied clip
folder. Fixtures live in conftest.py; these are plain functions and constants, imported with
`from helpers import ...` (tests/ is on sys.path under pytest's default import mode)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from raresound.bundle import Bundle
from raresound.models.factory import ModelSpec, build_model
from raresound.cli import main as cli_main
from raresound.data.manifest import ClipRecord, write_manifest
from raresound.features import FeatureConfig, LogMel, Normalizer
from raresound.io import write_json

# ------------------------------------------------------------------ tiny stores (tests/test_recipes.py)

CLASSES = ("alarm", "knock")


def make_store(out: str | Path, counts=None, n_mels: int = 16, clip_seconds: float = 0.5, seed: int = 0,
               classes=CLASSES, noise: float = 1.0, signal: float = 2.0) -> Path:
    """A store written straight in the store format (meta.json, <split>.f16, <split>.index.csv):
    background is noise, each class adds energy in its own mel bands, so the task is learnable
    (with noise = signal = 0 every clip is the same silence: nothing can be learned)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = counts or {"train": {"alarm": 12, "knock": 8, "": 44}, "val": {"alarm": 4, "knock": 4, "": 8}}
    cfg = FeatureConfig(n_mels=n_mels, clip_seconds=clip_seconds)
    n_frames = cfg.n_frames(cfg.clip_samples)
    rng = np.random.default_rng(seed)
    splits = {}
    for split, per_label in counts.items():
        labels = [label for label, n in per_label.items() for _ in range(n)]
        labels = [labels[i] for i in rng.permutation(len(labels))]
        x = rng.normal(0.0, noise, size=(len(labels), n_frames, n_mels))
        for i, label in enumerate(labels):
            if label:
                band = 2 + 6 * list(classes).index(label)
                x[i, :, band:band + 3] += signal
        x.astype(np.float16).tofile(out / f"{split}.f16")
        records = [ClipRecord(f"clips/{split}-{i:04d}.wav", (label,) if label else (), split, f"src{i}",
                              clip_seconds) for i, label in enumerate(labels)]
        write_manifest(records, out / f"{split}.index.csv")
        splits[split] = {"n": len(labels), "n_frames": n_frames, "n_mels": n_mels}
    write_json(out / "meta.json", {"version": 1, "feature_config": cfg.to_dict(), "classes": list(classes),
                                   "splits": splits, "dtype": "float16"})
    return out


def train(config, store, out, *extra) -> int:
    # one thread, as the store fixture set: `train` would otherwise take every usable core
    return cli_main(["train", "--config", str(config), "--data", str(store), "--out", str(out), "--no-progress",
                     "--threads", "1", *extra])


# ------------------------------------------------------------------ bundles (tests/test_bundle.py)

SPEC = ModelSpec(backbone="lstm", backbone_kwargs={"n_mels": 64, "hidden_size": 8}, n_classes=3)


def make_bundle(path, spec=SPEC):
    torch.manual_seed(0)
    normalizer = Normalizer().fit(np.random.default_rng(0).normal(-5, 2, size=(2, 100, 64)))
    Bundle(build_model(spec), spec, ["a", "b", "c"][: spec.n_classes], FeatureConfig(clip_seconds=1.0),
           normalizer, {"a": 0.5, "b": 0.5, "c": 0.5}).save(path)
    return path


# ---------------------------------------------- planted audio and bundle (tests/test_detect.py explains)

TONE_HZ = 1000.0
NOISE = 0.01
TONE_AMP = 0.3
PHI = math.tanh(1.0)
SR = 16000


def noise(n: int, seed: int) -> np.ndarray:
    return (NOISE * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def planted_wave(seconds: float, events, seed: int = 0, amp: float = TONE_AMP, sr: int = SR) -> np.ndarray:
    x = noise(int(round(seconds * sr)), seed)
    t = np.arange(x.size) / sr
    for a, b in events:
        m = (t >= a) & (t < b)
        x[m] += (amp * np.sin(2 * np.pi * TONE_HZ * t[m])).astype(np.float32)
    return x


def write_wav(path, wave, sr: int = SR):
    sf.write(str(path), wave, sr, subtype="PCM_16")
    return path


def planted_bundle(clip_seconds: float = 4.0, p0: float = 0.05, alpha: float = 200.0, thresholds=None) -> Bundle:
    """Bundle with classes ['tone', 'whistle']: tone score = sigmoid(alpha*2tanh(1)*(p - p0)), whistle ~ 0."""
    cfg = FeatureConfig(clip_seconds=clip_seconds)
    logmel = LogMel(cfg)
    with torch.no_grad():
        normalizer = Normalizer().fit(logmel(torch.from_numpy(noise(SR * 20, 123))).numpy())
    fft_bin = int(round(TONE_HZ * cfg.n_fft / cfg.sample_rate))
    band = int(np.argmax(logmel.mel_basis[fft_bin].numpy()))
    spec = ModelSpec(backbone="lstm", n_classes=2,
                     backbone_kwargs=dict(n_mels=cfg.n_mels, hidden_size=1, pooling="mean", normalize=False))
    model = build_model(spec)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        lstm = model.backbone.lstm
        lstm.weight_ih_l0[2, band] = 2.0  # gate rows: input, forget, cell, output
        lstm.bias_ih_l0.copy_(torch.tensor([20.0, -20.0, -6.0, 20.0]))
        model.head.linear.weight[0, 0] = alpha
        model.head.linear.bias[0] = -alpha * PHI * (2 * p0 - 1)
        model.head.linear.bias[1] = -10.0
    thresholds = {"tone": 0.5, "whistle": 0.5} if thresholds is None else thresholds
    return Bundle(model.eval(), spec, ["tone", "whistle"], cfg, normalizer, thresholds, {"test": "planted"})


def saved_planted_bundle(directory, **kwargs) -> Bundle:
    bundle = planted_bundle(**kwargs)
    bundle.save(directory)
    return bundle


def saved_frame_bundle(directory) -> Path:
    """The planted bundle with a frame head that fires on the tone's steps (score ~ 1 where h > 0.9 tanh 1)."""
    import dataclasses

    b = planted_bundle()
    b.model.attach_frame_head(2, "e")
    with torch.no_grad():
        b.model.frame_head.linear.weight.copy_(b.model.head.linear.weight)
        b.model.frame_head.linear.bias.copy_(torch.tensor([-200.0 * 0.9 * PHI, -10.0]))
    b.spec = dataclasses.replace(b.spec, frame_head_input="e")
    b.save(directory)
    return Path(directory)


# -------------------------------------------------- a varied clip folder (tests/test_store.py)

DATASET_CFG = FeatureConfig(clip_seconds=1.0)  # 100 frames: keeps the tests fast


def write_dataset(root: Path, n: int = 9, bad: bool = True) -> Path:
    """Clips of varied rate/length/channels; labels so that 'gunshot' appears only in val."""
    rng = np.random.default_rng(0)
    rows = ["path,labels,split,source_id,duration,onset,offset"]
    for i in range(n):
        rate = (16000, 44100, 8000)[i % 3]
        seconds = 0.6 + 0.2 * i  # some shorter than clip_seconds (padded), some longer (cropped)
        x = rng.uniform(-0.4, 0.4, int(rate * seconds)).astype(np.float32)
        if i % 4 == 1:
            x = np.stack([x, 0.5 * x], axis=1)
        sf.write(root / f"clip{i}.flac", x, rate)
        split = "val" if i >= 6 else "train"
        labels = "dog" if i % 2 == 0 else ""
        if i == 7:
            labels = "gunshot;dog"
        rows.append(f"clip{i}.flac,{labels},{split},src{i},,,")
    if bad:
        (root / "broken.wav").write_text("not audio at all")
        rows.insert(3, "broken.wav,baby,train,srcbad,,,")
        rows.append("missing.flac,,val,srcmiss,,,")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


# Where tests/test_detect.py plants events in its long test files (seconds), shared with test_api.
PLANTED = [(5.3, 7.3), (20.05, 22.05), (33.7, 35.7)]
README = Path(__file__).resolve().parents[1] / "README.md"


# ------------------------------------------------------------------ reproduce (tests/test_reproduce*.py)

def make_esc50_fixture(root: Path) -> Path:
    """4 recordings each of dog / crying_baby / glass_breaking and 12 background recordings
    (rain, wind), 1.5-s files, esc50_subset.csv layout."""
    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True)
    rows = []
    t = np.arange(int(1.5 * SR)) / SR
    specs = [("dog", 0, 4, 500.0), ("crying_baby", 20, 4, 1200.0), ("glass_breaking", 39, 4, 3000.0),
             ("rain", 10, 6, None), ("wind", 16, 6, None)]
    src = 1000
    for category, target, n, freq in specs:
        for i in range(n):
            src += 1
            if freq is None:
                wave = 0.1 * rng.standard_normal(t.size) * (1.0 + 0.5 * np.sin(2 * np.pi * (i + 1) * t))
            else:
                wave = np.zeros(t.size)
                start = int(rng.integers(0, SR // 2))
                burst = np.arange(int(0.4 * SR)) / SR
                f = freq * (1 + 0.1 * i)
                wave[start:start + burst.size] = 0.5 * np.sin(2 * np.pi * f * burst) * np.hanning(burst.size)
                wave[start:start + burst.size] += 0.02 * rng.standard_normal(burst.size)
            name = f"1-{src}-A-{target}.wav"
            sf.write(str(root / "audio" / name), wave.astype(np.float32), SR, subtype="PCM_16")
            rows.append([name, 1, target, category, False, src, "A"])
    with open(root / "esc50_subset.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root


def tiny_config(data_root: Path) -> dict:
    return {
        "name": "tiny",
        "schedule": {"name": "tiny", "notes": "Test schedule: 1-s clips, 1 epoch per stage."},
        "data": {
            "source": "esc50", "root": str(data_root), "classes": ["dog", "baby", "glass"],
            "fractions": [0.5, 0.25, 0.25], "workers": 1,
            "mixtures": {"clip_seconds": 1.0, "counts": {
                "train": {"dog": 12, "baby": 2, "glass": 4, "background": 32},
                "val": {"dog": 6, "baby": 1, "glass": 2, "background": 16},
                "test": {"dog": 5, "baby": 5, "glass": 5, "background": 15}}},
        },
        "grid": {"backbones": ["lstm"], "ratios": ["6:1:2:16"], "methods": ["baseline", "proposed", "probe"],
                 "seeds": [0, 1]},
        "recipe": {"model": {"hidden_size": 8},
                   "training": {"max_epochs": 1, "patience": 1, "progress": False, "batch_size": 16},
                   "proposed": {"n_iter": 1, "layer_epochs": 1, "e2e_epochs": 1, "last_e2e_epochs": 1,
                                "head_epochs": 1, "finetune_epochs": 1}},
        "bootstrap": {"n_boot": 50},
        "toy": {"seed": 0, "n_rounds": 1, "layer_epochs": 0, "e2e_epochs": 1, "n_test": 50},
        "threads": 1,
    }
