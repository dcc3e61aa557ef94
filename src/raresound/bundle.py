"""Model bundle: everything needed to score audio with a trained detector, pickle-free.

A bundle is a directory holding `model.safetensors` (weights) and `bundle.json`: the model spec
(enough to rebuild the network), the class names, the feature parameters, the training-set
normaliser and per-class decision thresholds (filled by `raresound calibrate`). `info.weights_sha256`
identifies the weights: re-saving the same weights over a bundle keeps its calibration
(`keep_calibration`), and exported copies compare it to tell whether they are stale.

`bundle.json` names its format version (`format`, FORMAT); the loader refuses a bundle without
one or of a version it does not know (a newer raresound's). Since version 2 the weights file's
header holds `feature_sha256`, a digest of the feature config and normaliser the weights were
trained with (`feature_digest`): a bundle.json whose feature config or normaliser was changed
afterwards (say sample_rate 8000 for a model trained at 16 kHz, which would score audio
featurised differently) is refused. Version-1 bundles (written before the digest) still load,
unchecked. The loader also refuses duplicate class names, thresholds outside [0, 1] (clip
`thresholds` and `info.frame_thresholds`), and weights that are not of the model's dtype kind,
not finite, or absurdly large (|w| > MAX_WEIGHT).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from raresound.devices import auto_device
from raresound.errors import ConfigError, DataError, RaresoundError
from raresound.features import FeatureConfig, Normalizer
from raresound.io import dir_lock, read_json, write_json
from raresound.models.detector import Detector
# Re-exported: the factory lives in models/, `from raresound.bundle import build_model, ModelSpec` still works.
from raresound.models.factory import ModelSpec, build_model, scores_from_logits  # noqa: F401
from raresound.training.checkpoint import save_tensor_file
from raresound.training.config import MAX_HIDDEN_SIZE

BUNDLE_JSON = "bundle.json"
WEIGHTS = "model.safetensors"
FORMAT_NAME = "raresound-bundle"
FORMAT_VERSION = 2
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"
READABLE_VERSIONS = (1, 2)  # 1: no feature digest in the weights (written before it was added)
FEATURE_DIGEST_KEY = "feature_sha256"  # in the safetensors header of model.safetensors
MAX_WEIGHT = 1e6  # no trained parameter or buffer of these models comes near it


@dataclass
class Bundle:
    model: Detector
    spec: ModelSpec
    classes: list[str]
    feature_config: FeatureConfig
    normalizer: Normalizer
    thresholds: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    path: Optional[Path] = None

    @torch.no_grad()
    def score_features(self, features: torch.Tensor) -> torch.Tensor:
        """Raw log-mel features [B, F, M] -> per-event scores [B, L]."""
        self.model.eval()
        x = torch.as_tensor(self.normalizer.transform(features), dtype=torch.float32)
        device = next(self.model.parameters()).device
        return scores_from_logits(self.model(x.to(device)), self.spec).cpu()

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        self.info["weights_sha256"] = weights_digest(tensors)
        save_tensor_file(tensors, directory / WEIGHTS,
                         metadata={FEATURE_DIGEST_KEY: feature_digest(self.feature_config, self.normalizer)})
        write_json(directory / BUNDLE_JSON, {
            "format": FORMAT,
            "spec": asdict(self.spec),
            "classes": list(self.classes),
            "feature_config": self.feature_config.to_dict(),
            "normalizer": self.normalizer.to_dict(),
            "thresholds": dict(self.thresholds),
            "info": self.info,
        })
        self.path = directory
        return directory


# A bundle is input: before anything is allocated its spec is checked field by field and the size of
# the network it declares is counted on the meta device (a typo like hidden_size=1e7 asks for PBs).
_SIZE_LIMITS = {"n_classes": 10_000, "cluster_k": 10_000, "n_mels": 1024, "hidden_size": MAX_HIDDEN_SIZE,
                "time_pool": 10_000, "n_frames": 1_000_000}
MAX_PARAMETERS = 1_000_000_000


def load_bundle(directory: str | Path, device: str | torch.device = "cpu") -> Bundle:
    """Read a bundle; every malformed part is a one-line DataError naming the file (and field)."""
    directory = Path(directory)
    device = check_device(device)
    meta_path = directory / BUNDLE_JSON
    if not meta_path.is_file():
        raise DataError(f"{directory}: not a model bundle (no {BUNDLE_JSON})")
    try:
        meta = read_json(meta_path)
    except (OSError, ValueError) as exc:  # JSON and UTF-8 decoding errors are ValueErrors
        raise DataError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{meta_path}: must hold a JSON object, got {type(meta).__name__}")
    version = _read_version(meta, meta_path)
    missing = [key for key in ("spec", "classes", "feature_config", "normalizer") if key not in meta]
    if missing:
        raise DataError(f"{meta_path}: missing {', '.join(missing)}")
    spec = _read_spec(meta["spec"], meta_path)
    with torch.device("meta"):  # counts parameters without allocating them
        n_params = sum(p.numel() for p in _build(spec, meta_path).parameters())
    if n_params > MAX_PARAMETERS:
        raise DataError(f"{meta_path}: spec declares {n_params:.3g} parameters (limit {MAX_PARAMETERS:.0e})")
    classes = meta["classes"]
    if not (isinstance(classes, list) and all(isinstance(c, str) and c for c in classes)):
        raise DataError(f"{meta_path}: classes must be a list of names, got {classes!r}")
    duplicates = sorted({c for c in classes if classes.count(c) > 1})
    if duplicates:
        raise DataError(f"{meta_path}: duplicate class name(s) {', '.join(duplicates)}; every output needs its own name")
    if len(classes) != spec.n_classes:
        raise DataError(f"{meta_path}: {len(classes)} class name(s) {classes} for a model of "
                        f"{spec.n_classes} classes ({spec.n_outputs} outputs)")
    try:
        feature_config = FeatureConfig.from_dict(meta["feature_config"])
        normalizer = Normalizer.from_dict(meta["normalizer"])
        thresholds = {str(k): float(v) for k, v in dict(meta.get("thresholds") or {}).items()}
        info = dict(meta.get("info") or {})
    except (RaresoundError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{meta_path}: {exc}") from None
    _check_thresholds(thresholds, "thresholds", meta_path)
    if info.get("frame_thresholds") is not None:
        frame = info["frame_thresholds"]
        if not isinstance(frame, dict):
            raise DataError(f"{meta_path}: info.frame_thresholds must be an object of class: threshold")
        try:
            frame = {str(k): float(v) for k, v in frame.items()}
        except (TypeError, ValueError):
            raise DataError(f"{meta_path}: info.frame_thresholds must map classes to numbers, got {frame!r}") from None
        _check_thresholds(frame, "info.frame_thresholds", meta_path)
    _check_input_shape(spec, feature_config, meta_path)
    model = _build(spec, meta_path)
    state, header = _read_weights(directory / WEIGHTS, model)
    if version >= 2:
        stored = header.get(FEATURE_DIGEST_KEY)
        if not stored:
            raise DataError(f"{directory / WEIGHTS}: no {FEATURE_DIGEST_KEY} in its header (a {FORMAT} bundle's "
                            "weights record the feature config they were trained with)")
        if stored != feature_digest(feature_config, normalizer):
            raise DataError(f"{meta_path}: feature_config or normalizer differs from the one the weights were "
                            f"trained with (sample_rate {feature_config.sample_rate}, n_mels {feature_config.n_mels}); "
                            "restore the bundle.json saved with these weights")
    model.load_state_dict(state)
    model.to(device).eval()
    return Bundle(model, spec, list(classes), feature_config, normalizer, thresholds, info, directory)


def feature_digest(config: FeatureConfig, normalizer: Normalizer) -> str:
    """sha256 over the feature config and normaliser as bundle.json stores them (canonical JSON)."""
    text = json.dumps({"feature_config": config.to_dict(), "normalizer": normalizer.to_dict()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_version(meta: dict, where: Path) -> int:
    """The bundle format version of `meta` ('raresound-bundle/N'); missing, unknown and future ones refused."""
    raw = meta.get("format")
    if raw is None:
        raise DataError(f"{where}: no format version (expected 'format': '{FORMAT}'); not a raresound bundle, "
                        "or its bundle.json was edited")
    name, _, number = raw.partition("/") if isinstance(raw, str) else ("", "", "")
    if name != FORMAT_NAME or not number.isdigit():
        raise DataError(f"{where}: unknown bundle format {raw!r} (expected '{FORMAT}')")
    version = int(number)
    if version > max(READABLE_VERSIONS):
        raise DataError(f"{where}: bundle format version {version} is newer than this raresound reads "
                        f"(up to {max(READABLE_VERSIONS)}); upgrade raresound")
    if version not in READABLE_VERSIONS:
        raise DataError(f"{where}: unknown bundle format version {version} (this raresound reads "
                        f"{', '.join(map(str, READABLE_VERSIONS))})")
    return version


# Scores lie in [0, 1]; `calibrate` may set a threshold a hair above the top score (1.0 itself for a
# saturated sigmoid) to never fire, hence the slack.
_THRESHOLD_SLACK = 1e-6


def _check_thresholds(thresholds: dict[str, float], name: str, where: Path) -> None:
    bad = {k: v for k, v in thresholds.items() if not (math.isfinite(v) and 0.0 <= v <= 1.0 + _THRESHOLD_SLACK)}
    if bad:
        raise DataError(f"{where}: {name} must be scores in [0, 1], got {bad}")


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of a state dict (independent of file layout)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def saved_digest(directory: str | Path, meta: dict | None = None) -> str | None:
    """The weights digest of a saved bundle (from its bundle.json, `meta` if already read, or its
    weights for a bundle saved before digests were recorded); None if there is no readable bundle."""
    directory = Path(directory)
    try:
        meta = read_json(directory / BUNDLE_JSON) if meta is None else meta
        digest = meta.get("info", {}).get("weights_sha256")
        return digest or weights_digest(load_file(str(directory / WEIGHTS)))
    except Exception:  # noqa: BLE001 - absent or unreadable: nothing to compare with
        return None


# What `raresound calibrate` and `raresound export` add to a bundle after training.
_CALIBRATION_INFO = ("calibration", "exports")


def keep_calibration(bundle: Bundle, directory: str | Path) -> None:
    """Before saving `bundle` over `directory`: if the bundle there holds the same weights (a
    resumed `train` re-saving its models), carry over its thresholds, calibration record and list
    of exports, which belong to those weights; thresholds of other weights are dropped. The list of
    exports always survives, so that they can be checked (and marked stale) against the new weights."""
    directory = Path(directory)
    if not (directory / BUNDLE_JSON).is_file():
        return
    old = read_json(directory / BUNDLE_JSON)
    info = old.get("info", {})
    if "exports" in info:
        bundle.info["exports"] = info["exports"]
    tensors = {k: v.detach().cpu() for k, v in bundle.model.state_dict().items()}
    if saved_digest(directory, old) == weights_digest(tensors):
        bundle.thresholds = dict(old.get("thresholds", {}))
        bundle.info.update({k: info[k] for k in _CALIBRATION_INFO if k in info})


@contextlib.contextmanager
def bundle_lock(directory: str | Path, what: str) -> Iterator[None]:
    """Hold `directory`'s lock (`io.dir_lock`) while `raresound <what>` reads and rewrites the
    bundles in it, so that `train`, `calibrate` and `export` of one run never interleave (an export
    loaded before a calibrate finished would carry the old thresholds). A directory that does not
    exist is not created (the command then fails on the missing bundle), and a read-only one is not
    locked: nobody can rewrite the bundles there either."""
    directory = Path(directory)
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        yield
        return
    with dir_lock(directory, what):
        yield


def check_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device: any name torch knows, or "auto" (`devices.auto_device`)."""
    try:
        device = torch.device(auto_device(device) if isinstance(device, str) else device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError("device", f"unknown device {device!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "CUDA is not available on this machine; use `device` cpu")
    return device


def _read_spec(raw, where: Path) -> ModelSpec:
    fields = {f.name for f in dataclasses.fields(ModelSpec)}
    if not isinstance(raw, dict):
        raise DataError(f"{where}: spec must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise DataError(f"{where}: spec has unknown field(s) {', '.join(unknown)}")
    kwargs = raw.get("backbone_kwargs", {})
    if not isinstance(kwargs, dict):
        raise DataError(f"{where}: spec.backbone_kwargs must be an object")
    sizes = {**{k: raw[k] for k in ("n_classes", "cluster_k") if raw.get(k) is not None},
             **{k: v for k, v in kwargs.items() if k in _SIZE_LIMITS}}
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _SIZE_LIMITS[name]:
            raise DataError(f"{where}: spec field {name} must be an integer in [1, {_SIZE_LIMITS[name]}], got {value!r}")
    if raw.get("score", "sigmoid") not in ("sigmoid", "softmax"):
        raise DataError(f"{where}: spec field score must be 'sigmoid' or 'softmax', got {raw['score']!r}")
    return ModelSpec(**raw)


def _build(spec: ModelSpec, where: Path) -> Detector:
    try:
        return build_model(spec)
    except (RaresoundError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: spec does not build a model ({' '.join(str(exc).split())})") from None


def _check_input_shape(spec: ModelSpec, config: FeatureConfig, where: Path) -> None:
    """The network's input size is the features' (a mismatch would only surface as the model's own
    ValueError at the first forward pass)."""
    made = {"n_mels": config.n_mels, "n_frames": config.n_frames(config.clip_samples)}
    for name, value in made.items():
        declared = spec.backbone_kwargs.get(name, value)
        if declared != value:
            raise DataError(f"{where}: spec field {name} is {declared}, but the feature config makes {value}")


def _read_weights(path: Path, model: Detector) -> tuple[dict, dict]:
    """(state dict, header metadata) of the file at `path`, the state checked against the model's
    names, shapes and dtype kinds (float or integer), for NaN/inf and for absurd magnitudes."""
    try:
        state = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            header = dict(f.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own and OS errors
        raise DataError(f"{path}: cannot read weights ({' '.join(str(exc).split())})") from None
    own = model.state_dict()
    expected = {k: tuple(v.shape) for k, v in own.items()}
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise DataError(f"{path}: weights do not match the spec (missing: {', '.join(missing) or 'none'}; "
                        f"unexpected: {', '.join(extra) or 'none'})")
    for name, tensor in state.items():
        if tuple(tensor.shape) != expected[name]:
            raise DataError(f"{path}: tensor {name} has shape {tuple(tensor.shape)}, the spec needs {expected[name]}")
        if tensor.is_floating_point() != own[name].is_floating_point():
            kind = "floating-point" if own[name].is_floating_point() else "integer"
            raise DataError(f"{path}: tensor {name} is {str(tensor.dtype).replace('torch.', '')}, the model needs "
                            f"{kind} values")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise DataError(f"{path}: tensor {name} holds NaN or inf; the bundle is broken")
        if tensor.is_floating_point() and tensor.numel() and float(tensor.abs().max()) > MAX_WEIGHT:
            raise DataError(f"{path}: tensor {name} holds |w| = {float(tensor.abs().max()):.3g} > {MAX_WEIGHT:.0e}; "
                            "the bundle is broken")
    return state, header
