"""Model bundle: everything needed to score audio with a trained detector, pickle-free.

A bundle is a directory holding `model.safetensors` (weights) and `bundle.json`: the model spec
(enough to rebuild the network), the class names, the feature parameters, the training-set
normaliser and per-class decision thresholds (filled by `raresound calibrate`). `info.weights_sha256`
identifies the weights: re-saving the same weights over a bundle keeps its calibration
(`keep_calibration`), and exported copies compare it to tell whether they are stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load_file, save_file

from raresound.errors import DataError
from raresound.features import FeatureConfig, Normalizer
from raresound.io import atomic_path, read_json, write_json
from raresound.losses.softmax_targets import softmax_event_scores
from raresound.models.backbones import build_backbone
from raresound.models.cluster_layer import ClusterLayer
from raresound.models.detector import Detector

BUNDLE_JSON = "bundle.json"
WEIGHTS = "model.safetensors"


@dataclass
class ModelSpec:
    backbone: str = "lstm"
    backbone_kwargs: dict = field(default_factory=dict)
    n_classes: int = 3  # L event classes (scores are always [B, L])
    score: str = "sigmoid"  # "sigmoid": L outputs; "softmax": L+1 outputs, background last
    cluster_k: Optional[int] = None  # None: no cluster layer
    cluster_mode: str = "scaled"
    cluster_alpha: float = 10.0
    head_input: str = "e"

    @property
    def n_outputs(self) -> int:
        return self.n_classes + 1 if self.score == "softmax" else self.n_classes


def build_model(spec: ModelSpec, with_head: bool = True) -> Detector:
    backbone = build_backbone(spec.backbone, **spec.backbone_kwargs)
    layer = None
    if spec.cluster_k is not None:
        layer = ClusterLayer(backbone.embedding_dim, spec.cluster_k, mode=spec.cluster_mode, alpha=spec.cluster_alpha)
    return Detector(backbone, n_classes=spec.n_outputs if with_head else None, cluster_layer=layer,
                    head_input=spec.head_input)


def scores_from_logits(logits: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Per-event detection scores in [0, 1], shape [B, L], whatever the training method."""
    if spec.score == "softmax":
        return softmax_event_scores(logits.float())
    return torch.sigmoid(logits.float())


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
        with atomic_path(directory / WEIGHTS) as tmp:
            save_file(tensors, str(tmp))
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


def load_bundle(directory: str | Path, device: str | torch.device = "cpu") -> Bundle:
    directory = Path(directory)
    meta_path = directory / BUNDLE_JSON
    if not meta_path.exists():
        raise DataError(f"{directory}: not a model bundle (no {BUNDLE_JSON})")
    meta = read_json(meta_path)
    spec = ModelSpec(**meta["spec"])
    model = build_model(spec)
    try:
        state = load_file(str(directory / WEIGHTS))
    except Exception as exc:
        raise DataError(f"{directory / WEIGHTS}: cannot read weights ({exc})") from None
    model.load_state_dict(state)
    model.to(device).eval()
    return Bundle(model, spec, list(meta["classes"]), FeatureConfig.from_dict(meta["feature_config"]),
                  Normalizer.from_dict(meta["normalizer"]), dict(meta.get("thresholds", {})),
                  dict(meta.get("info", {})), directory)


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of a state dict (independent of file layout)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def saved_digest(directory: str | Path) -> str | None:
    """The weights digest of a saved bundle (from bundle.json, or its weights for a bundle saved
    before digests were recorded); None if there is no readable bundle."""
    directory = Path(directory)
    try:
        digest = read_json(directory / BUNDLE_JSON).get("info", {}).get("weights_sha256")
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
    if saved_digest(directory) == weights_digest(tensors):
        bundle.thresholds = dict(old.get("thresholds", {}))
        bundle.info.update({k: info[k] for k in _CALIBRATION_INFO if k in info})
