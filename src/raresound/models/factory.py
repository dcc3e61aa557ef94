"""The model factory: a `ModelSpec` (plain data, what a bundle stores) -> a `Detector`.

Bad values raise a ValueError naming the parameter (`models.errors.ParameterError`); the recipe layer
and bundle loading turn it into their own field- or file-named errors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import torch

from raresound.models.backbones import build_backbone
from raresound.models.cluster_layer import ClusterLayer
from raresound.models.detector import Detector


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
    frame_head_input: Optional[str] = None  # None: no frame-level head; "e" or "v" (models/detector.py)

    @property
    def n_outputs(self) -> int:
        return self.n_classes + 1 if self.score == "softmax" else self.n_classes

    def with_clusters(self, k: int, mode: str, alpha: float, head_input: str) -> "ModelSpec":
        """This spec with a cluster layer of `k` clusters (a copy; the spec itself is not changed)."""
        return dataclasses.replace(self, cluster_k=k, cluster_mode=mode, cluster_alpha=alpha, head_input=head_input)


def build_model(spec: ModelSpec, with_head: bool = True) -> Detector:
    backbone = build_backbone(spec.backbone, **spec.backbone_kwargs)
    layer = None
    if spec.cluster_k is not None:
        layer = ClusterLayer(backbone.embedding_dim, spec.cluster_k, mode=spec.cluster_mode, alpha=spec.cluster_alpha)
    model = Detector(backbone, n_classes=spec.n_outputs if with_head else None, cluster_layer=layer,
                     head_input=spec.head_input)
    if spec.frame_head_input is not None:
        model.attach_frame_head(spec.n_classes, spec.frame_head_input)
    return model


def scores_from_logits(logits: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Per-event detection scores in [0, 1], shape [B, L], whatever the training method. A softmax
    model has L+1 outputs, background last (losses/softmax_targets.py): each event scores its softmax
    probability and the background column is dropped."""
    if spec.score == "softmax":
        return torch.softmax(logits.float(), dim=1)[:, :-1]
    return torch.sigmoid(logits.float())


def frame_scores_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Frame-level scores in [0, 1], [.., S, L]: the frame head is always L sigmoid outputs."""
    return torch.sigmoid(logits.float())
