"""The public API (`import raresound`): the README's "Python API" block run as written on a tiny
manifest, the Detector facade on waveforms at their own sample rate, and a fast, lazy import."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import raresound
from raresound.errors import ConfigError, DataError
from raresound.training.config import RecipeConfig, config_from_dict
from helpers import PLANTED, README, SR, planted_bundle, planted_wave

CLASSES = ("alarm", "knock")
TONES = {"alarm": 1000.0, "knock": 3000.0}


def readme_python(section: str = "## Python API") -> str:
    body = README.read_text(encoding="utf-8").split(section, 1)[1]
    return re.search(r"```python\n(.*?)```", body, re.S).group(1)


def pipeline_like_layout(root: Path) -> None:
    """data/synth/{manifest.csv, audio/}, a tiny configs/baseline-lstm.yaml and a 44.1 kHz recording.wav."""
    audio = root / "data/synth/audio"
    audio.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(10 * SR) / SR
    rows = ["path,labels,split,source_id,duration"]
    per_split = {"train": (3, 3, 6), "val": (2, 2, 4), "test": (2, 2, 4)}
    for split, counts in per_split.items():
        labels = [c for c, n in zip((*CLASSES, ""), counts) for _ in range(n)]
        for i, label in enumerate(labels):  # 10-s clips (build_store's default clip) with a 2-s tone somewhere
            wave = 0.05 * rng.standard_normal(t.size)
            if label:
                on = (t >= (start := rng.uniform(0, 8))) & (t < start + 2)
                wave[on] += 0.3 * np.sin(2 * np.pi * TONES[label] * t[on])
            name = f"audio/{split}-{i}.wav"
            sf.write(root / "data/synth" / name, wave.astype(np.float32), SR)
            rows.append(f"{name},{label},{split},{split}{i},10.0")
    (root / "data/synth/manifest.csv").write_text("\n".join(rows) + "\n")
    (root / "configs").mkdir()
    # 12 training clips are one batch an epoch: the epochs are many and the rate high so that the
    # recording's alarm scores past the README's threshold of 0.5 (and knock stays far below it)
    (root / "configs/baseline-lstm.yaml").write_text(
        "method: baseline\nmodel:\n  hidden_size: 8\n  time_pool: 4\n"
        "training:\n  batch_size: 16\n  max_epochs: 150\n  lr: 0.03\n  progress: false\n")
    recording = 0.05 * rng.standard_normal(44100 * 12)
    t44 = np.arange(recording.size) / 44100
    recording[(t44 > 3) & (t44 < 5)] += 0.3 * np.sin(2 * np.pi * TONES["alarm"] * t44[(t44 > 3) & (t44 < 5)])
    sf.write(root / "recording.wav", recording.astype(np.float32), 44100)


def test_readme_python_block_runs_end_to_end(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    code = readme_python()
    called = {node.func.attr for node in ast.walk(ast.parse(code))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert {"build_store", "train", "evaluate", "from_bundle", "score", "detect"} <= called
    monkeypatch.chdir(tmp_path)
    pipeline_like_layout(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out.splitlines()
    assert Path("runs/b-lstm/models/baseline/bundle.json").is_file()
    assert Path("runs/b-lstm/eval/test/eer.json").is_file()
    eer = float(out[0].split()[-1])
    assert out[0].startswith("test EER") and 0.0 <= eer <= 1.0
    scores = ast.literal_eval(out[1])
    assert list(scores) == list(CLASSES) and all(0.0 <= s <= 1.0 for s in scores.values())
    events = [line.split() for line in out[2:]]  # onset offset label score, within the 12-s recording
    assert events, "the alarm planted at 3-5 s of recording.wav was not detected"
    for onset, offset, label, score in events:
        assert 0.0 <= float(onset) < float(offset) <= 12.0 and float(score) >= 0.5
    assert [e[2] for e in events] == ["alarm"] and float(events[0][0]) <= 3.0 and float(events[0][1]) >= 5.0


def test_import_is_lazy_and_fast():
    code = ("import sys, time; t = time.perf_counter(); import raresound; dt = time.perf_counter() - t; "
            "print(dt, sorted(m for m in ('torch', 'numpy', 'raresound.api') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert float(out[0]) < 1.0 and out[1].strip() == "[]"
    assert set(raresound.__all__) <= set(dir(raresound))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        raresound.nope  # noqa: B018


def test_losses_export_every_loss_class():
    import pkgutil

    import raresound.losses as losses

    found = set()
    for info in pkgutil.iter_modules(losses.__path__):
        module = __import__(f"raresound.losses.{info.name}", fromlist=["_"])
        found |= {name for name, obj in vars(module).items() if inspect.isclass(obj) and
                  issubclass(obj, losses.Loss) and obj.__module__ == module.__name__ and not name.startswith("_")}
    assert found and set(losses.__all__) == found
    assert raresound.losses is losses and all(issubclass(getattr(losses, n), losses.Loss) for n in losses.__all__)


def test_detector_scores_and_detects_a_waveform_at_its_own_rate(tmp_path):
    planted_bundle(thresholds={}).save(tmp_path / "b")
    detector = raresound.Detector.from_bundle(tmp_path / "b", hop=0.5)
    assert detector.classes == ["tone", "whistle"] and detector.sample_rate == SR
    for sr in (SR, 44100):
        long_with_tones = detector.score(planted_wave(40.0, PLANTED, sr=sr), sr)
        assert long_with_tones["tone"] > 0.99 and long_with_tones["whistle"] < 1e-3
        assert detector.score(planted_wave(40.0, [], sr=sr), sr)["tone"] < 0.01
    # a waveform up to the clip length is one clip: zero-padded, scored as the store's clips are
    from raresound.features import LogMel

    short = planted_wave(1.5, [(0.2, 1.2)])
    cfg = detector.bundle.feature_config
    clip = LogMel(cfg)(np.pad(short, (0, cfg.clip_samples - short.size)))
    expected = detector.bundle.score_features(clip[None])[0].tolist()
    assert list(detector.score(short, SR).values()) == pytest.approx(expected, abs=1e-6)
    # detect needs thresholds: the bundle has none, so one must be given
    with pytest.raises(DataError, match="threshold"):
        detector.detect(short, SR)
    calibrated = raresound.Detector.from_bundle(tmp_path / "b", hop=0.5, threshold=0.5)
    events = calibrated.detect(planted_wave(40.0, PLANTED, sr=44100), 44100)
    assert [e.event_label for e in events] == ["tone"] * 3
    assert all(abs(e.onset - a) < 0.5 and abs(e.offset - b) < 0.5 for e, (a, b) in zip(events, PLANTED))
    with pytest.raises(DataError, match="sample rate"):
        detector.score(short, 16000.0)


def test_train_takes_a_path_a_dict_or_a_recipe_config(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("raresound.training.recipes.train",
                        lambda cfg, store, out, device=None: seen.append(cfg) or {"baseline": Path(out)})
    path = tmp_path / "r.yaml"
    path.write_text("method: focal\ntraining:\n  lr: 0.01\n")
    data = {"method": "focal", "training": {"lr": 0.01}}
    for config in (path, str(path), data, config_from_dict(data)):
        assert raresound.train(config, "store", "run", overrides={"training.max_epochs": 2}) == {"baseline": Path("run")}
    assert all(isinstance(c, RecipeConfig) and (c.method, c.training.lr, c.training.max_epochs) == ("focal", 0.01, 2)
               for c in seen)
    assert data == {"method": "focal", "training": {"lr": 0.01}}  # the caller's dict is not changed
    with pytest.raises(ConfigError) as err:
        raresound.train(data, "store", "run", overrides={"training.max_epochs": 0})
    assert err.value.field == "training.max_epochs"
