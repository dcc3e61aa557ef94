"""Model bundle: everything needed to score audio with a trained detector, pickle-free.

A bundle is a directory holding `model.safetensors` (weights) and `bundle.json`: the model spec
(enough to rebuild the network), the class names, the feature parameters, the training-set
normaliser and per-class decision thresholds (filled by `raresound calibrate`). `info.weights_sha256`
identifies the weights: re-saving the same weights over a bundle keeps its calibration
(`keep_calibration`), and exported copies compare it to tell whether they are stale.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load_file

from raresound.errors import ConfigError, DataError, RaresoundError
from raresound.features import FeatureConfig, Normalizer
from raresound.io import read_json, write_json
from raresound.models.detector import Detector
# Re-exported: the factory lives in models/, `from raresound.bundle import build_model, ModelSpec` still works.
from raresound.models.factory import ModelSpec, build_model, scores_from_logits  # noqa: F401
from raresound.training.checkpoint import save_tensor_file
from raresound.training.config import MAX_HIDDEN_SIZE

BUNDLE_JSON = "bundle.json"
WEIGHTS = "model.safetensors"


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
        save_tensor_file(tensors, directory / WEIGHTS)
        write_json(directory / BUNDLE_JSON, {
            "format": "raresound-bundle/1",
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
    _check_input_shape(spec, feature_config, meta_path)
    model = _build(spec, meta_path)
    model.load_state_dict(_read_weights(directory / WEIGHTS, model))
    model.to(device).eval()
    return Bundle(model, spec, list(classes), feature_config, normalizer, thresholds, info, directory)


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


def check_device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError("--device", f"unknown device {device!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "CUDA is not available on this machine; use --device cpu")
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


def _read_weights(path: Path, model: Detector) -> dict:
    """The state dict at `path`, checked against the model's names and shapes and for NaN/inf."""
    try:
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own and OS errors
        raise DataError(f"{path}: cannot read weights ({' '.join(str(exc).split())})") from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise DataError(f"{path}: weights do not match the spec (missing: {', '.join(missing) or 'none'}; "
                        f"unexpected: {', '.join(extra) or 'none'})")
    for name, tensor in state.items():
        if tuple(tensor.shape) != expected[name]:
            raise DataError(f"{path}: tensor {name} has shape {tuple(tensor.shape)}, the spec needs {expected[name]}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise DataError(f"{path}: tensor {name} holds NaN or inf; the bundle is broken")
    return state
