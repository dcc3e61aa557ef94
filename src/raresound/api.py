"""The public Python API (re-exported by `raresound`): a trained detector on waveforms, and the
store -> train -> evaluate jobs of the CLI, one call each. README "Python API" shows them in use."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from raresound.audio import waveform
from raresound.bundle import Bundle, load_bundle
from raresound.detect import DetectedEvent, WindowDetector, WindowGrid
from raresound.features import FeatureConfig, LogMel
from raresound.store import StoreReport

# Windows scored per forward pass by `Detector.score` (bounds memory on long waveforms).
_BATCH = 64


class Detector:
    """A trained model bundle applied to waveforms given with their sample rate (any rate from 8 to
    96 kHz; resampled with soxr to the model's rate, as files are). `hop`, `threshold` (one number or
    {class: number}; default: the bundle's calibrated thresholds), `median` and `min_gap` (default: off,
    or for a frame bundle the post-processing stored with its head) are the
    options of `raresound detect`."""

    def __init__(self, bundle: Bundle, hop: float = 1.0, threshold: float | Mapping[str, float] | None = None,
                 median: int | None = None, min_gap: float | None = None):
        self.bundle = bundle
        self.grid = WindowGrid.for_config(bundle.feature_config, hop)  # checks hop now
        self._options = {"hop": hop, "thresholds": threshold, "median": median, "min_gap": min_gap}
        self._windows = None  # the detector, built at the first detect: it needs thresholds
        self._logmel = LogMel(bundle.feature_config)

    @classmethod
    def from_bundle(cls, path: str | Path, device: str = "cpu", **options) -> "Detector":
        """Load the bundle at `path` (`RUN/models/NAME`); `options` as for the constructor."""
        return cls(load_bundle(path, device=device), **options)

    @property
    def classes(self) -> list[str]:
        return list(self.bundle.classes)

    @property
    def sample_rate(self) -> int:
        return self.bundle.feature_config.sample_rate

    @torch.inference_mode()
    def score(self, wave, sr: int) -> dict[str, float]:
        """Clip-level score in [0, 1] per class of a mono waveform sampled at `sr` Hz. A waveform no
        longer than the model's clip is scored as training and `raresound evaluate` score clips
        (zero-padded to the clip length); a longer one is cut into clip-length windows every `hop`
        seconds and each class takes its highest window score."""
        cfg, g = self.bundle.feature_config, self.grid
        wave = waveform(wave, sr, cfg.sample_rate)
        n_samples = max(g.frames_needed(wave.size) * cfg.hop_length, cfg.clip_samples, wave.size)
        frames = self._logmel(np.pad(wave, (0, n_samples - wave.size)))
        windows = frames.unfold(0, g.window_frames, g.hop_frames)[:g.n_windows(wave.size)].transpose(1, 2)
        best = torch.cat([self.bundle.score_features(windows[i:i + _BATCH]) for i in range(0, len(windows), _BATCH)])
        return dict(zip(self.classes, best.amax(dim=0).tolist()))

    def detect(self, wave, sr: int) -> list[DetectedEvent]:
        """Events (onset, offset in seconds, class, peak score) in a mono waveform sampled at `sr` Hz,
        found as `raresound detect` finds them in a file: from frame scores in one pass when the bundle
        has a frame head, else from sliding clip windows, which need thresholds: the bundle's
        (`raresound calibrate`) or `threshold=`."""
        return self._detector().detect_wave(wave, sr).events

    def frame_scores(self, wave, sr: int) -> tuple[np.ndarray, float]:
        """Frame-level scores [n_steps, L] of a waveform and the step in seconds (step k covers
        [k * step, (k + 1) * step)), from a bundle with a frame head (`raresound train-frames`),
        computed in one pass over the audio."""
        from raresound.detection.frame_detector import FrameDetector

        detector = self._detector()
        if not isinstance(detector, FrameDetector):
            FrameDetector(self.bundle)  # raises: no frame head
        result = detector.detect_wave(wave, sr)
        return result.frame_scores, result.step_seconds

    def _detector(self):
        """A frame head detects in one pass (frame thresholds); otherwise sliding clip windows."""
        if self._windows is None:
            from raresound.detection.frame_detector import FrameDetector

            if self.bundle.model.has_frame_head:
                self._windows = FrameDetector(self.bundle, **self._options)
            else:  # sliding windows: no filter, no merging unless asked
                o = self._options
                self._windows = WindowDetector(self.bundle, o["hop"], o["thresholds"],
                                               1 if o["median"] is None else o["median"],
                                               0.0 if o["min_gap"] is None else o["min_gap"])
        return self._windows


def build_store(manifest: str | Path, out: str | Path, clip_seconds: float = 10.0, workers: int = 2,
                chunk_size: int = 64, progress: bool = False) -> StoreReport:
    """Featurise every clip of a manifest CSV into a feature store at `out` (`raresound features`):
    each clip padded or cropped to `clip_seconds`; unusable files are skipped and listed in the report.
    Re-running resumes a build that was interrupted and returns at once for a finished store."""
    from raresound.store import build_store as build

    return build(manifest, out, FeatureConfig(clip_seconds=clip_seconds), workers=workers, chunk_size=chunk_size,
                 progress=progress)


def train(config, store: str | Path, out: str | Path, overrides: Mapping | None = None,
          device: str | None = None) -> dict[str, Path]:
    """Train a recipe on a feature store into the run directory `out` (`raresound train`); returns
    {model name: bundle directory}. `config` is a YAML recipe path, a dict of recipe fields or a
    RecipeConfig; `overrides` sets dotted fields ({"training.max_epochs": 3}), validated with the
    rest. Re-running the same call resumes. Torch uses the threads the caller has set."""
    from raresound.training.config import RecipeConfig, apply_overrides, config_from_dict, load_config
    from raresound.training.recipes import train as train_recipe

    if isinstance(config, RecipeConfig):
        config = config.to_dict()
    if isinstance(config, Mapping):
        cfg = config_from_dict(apply_overrides(copy.deepcopy(dict(config)), dict(overrides or {})))
    else:
        cfg = load_config(config, dict(overrides or {}))
    return train_recipe(cfg, store, out, device=device)


def evaluate(run_dir: str | Path, split: str = "test", store: str | Path | None = None,
             device: str = "cpu") -> dict:
    """Score a store split with every model of a run (`raresound evaluate`); returns {model: EERs}
    (per class and "overall") and writes RUN/eval/<split>/. `store` defaults to the run's own."""
    from raresound.scoring import evaluate_run

    return evaluate_run(run_dir, split, store, device)
