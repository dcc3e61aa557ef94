"""Detector = backbone (+ optional cluster layer) (+ detection head).

Head inputs (paper, Algorithm 1): with a cluster layer the head sees
  "v": softmax over the cluster logits (default, the paper's choice),
  "z" (alias "h"): the alpha-scaled cluster logits without margins (the cluster layer output),
  "e": the embedding itself.
Without a cluster layer the head sees "e". The head may be absent (embedding training); attach it
later with `attach_head`, whose input size follows the current cluster count K.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from raresound.models.errors import ParameterError
from raresound.models.cluster_layer import ClusterLayer
from raresound.models.heads import DetectorHead

HEAD_INPUTS = ("v", "z", "h", "e")


class DetectorOutput(NamedTuple):
    e: Tensor               # embedding [B, D]
    h: Tensor | None        # cluster logits [B, K] (None without a cluster layer)
    logits: Tensor | None   # detection logits [B, L] (None without a head)


class Detector(nn.Module):
    def __init__(self, backbone: nn.Module, n_classes: int | None = None,
                 cluster_layer: ClusterLayer | None = None, head_input: str | None = None,
                 head: DetectorHead | None = None):
        super().__init__()
        if isinstance(n_classes, nn.Module):  # old positional form Detector(backbone, cluster_layer)
            raise TypeError("Detector(backbone, n_classes, cluster_layer=..., head_input=...): "
                            "pass the cluster layer by keyword")
        if head_input is None:
            head_input = "e" if cluster_layer is None else "v"
        if head_input not in HEAD_INPUTS:
            raise ParameterError("head_input", f"must be one of {HEAD_INPUTS}, got {head_input!r}")
        if head_input != "e" and cluster_layer is None:
            raise ParameterError("head_input", f"{head_input!r} needs a cluster layer; use 'e'")
        self.backbone = backbone
        self.cluster_layer = cluster_layer
        self.head_input = "z" if head_input == "h" else head_input
        self.head = head
        if head is None and n_classes is not None:
            self.attach_head(n_classes)
        elif head is not None and head.in_dim != self.head_in_dim:
            raise ParameterError("head", f"expects {head.in_dim} inputs, head_input "
                                           f"{self.head_input!r} gives {self.head_in_dim}")

    @property
    def has_head(self) -> bool:
        return self.head is not None

    @property
    def head_in_dim(self) -> int:
        if self.head_input == "e":
            return self.backbone.embedding_dim
        return self.cluster_layer.K

    def _backbone_device(self) -> torch.device:
        # a parameter-free backbone (StatsPooling) has no weight to ask: it lives wherever its input is,
        # so the head goes to the default device (the meta device while a bundle is being sized)
        p = next(self.backbone.parameters(), None)
        default = getattr(torch, "get_default_device", lambda: torch.device("cpu"))  # torch >= 2.3
        return p.device if p is not None else default()

    def attach_head(self, n_classes: int) -> DetectorHead:
        """(Re)create the head for the current head input size, e.g. after clustering set K."""
        self.head = DetectorHead(self.head_in_dim, n_classes).to(self._backbone_device())
        return self.head

    def embed(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def cluster_logits(self, x: Tensor) -> Tensor:
        if self.cluster_layer is None:
            raise ParameterError("cluster_layer", "is None: this detector has no cluster layer")
        return self.cluster_layer(self.embed(x))

    def outputs(self, x: Tensor) -> DetectorOutput:
        """Everything in one backbone pass (training needs e or h and the logits together)."""
        e = self.embed(x)
        h = self.cluster_layer(e) if self.cluster_layer is not None else None
        logits = None
        if self.head is not None:
            if self.head_input == "e":
                head_in = e
            elif self.head_input == "z":
                head_in = h
            else:
                head_in = torch.softmax(h, dim=1)
            logits = self.head(head_in)
        return DetectorOutput(e, h, logits)

    def forward(self, x: Tensor) -> Tensor:
        if self.head is None:
            raise ParameterError("n_classes", "is None: detector has no head yet; call attach_head(n_classes)")
        return self.outputs(x).logits

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the head's size follows K, which is data-dependent: adopt the checkpoint's head shape
        w = state_dict.get(prefix + "head.linear.weight")
        if w is not None and (self.head is None or tuple(self.head.linear.weight.shape) != tuple(w.shape)):
            self.head = DetectorHead(w.shape[1], w.shape[0]).to(self._backbone_device())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
