"""Detector = backbone (+ optional cluster layer) (+ detection head).

Head inputs (paper, Algorithm 1): with a cluster layer the head sees
  "v": softmax over the cluster logits (default, the paper's choice),
  "z" (alias "h"): the alpha-scaled cluster logits without margins (the cluster layer output),
  "e": the embedding itself.
Without a cluster layer the head sees "e". The head may be absent (embedding training); attach it
later with `attach_head`, whose input size follows the current cluster count K.

Frame-level output (optional `frame_head`): the backbone's per-step outputs (`backbone.sequence`,
one step = `backbone.step_frames` feature frames) are embedded step by step (`step_embeddings`:
each step as a clip whose pooled output is that step's) and a second linear head maps each step's
"e" (the embedding) or "v" (softmax over the cluster layer's logits of it) to L sigmoid logits.
The clip-level path is untouched: a frame head is trained on top of a trained detector, so its
clip scores (and EERs) stay what they were.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from raresound.models.errors import ParameterError
from raresound.models.cluster_layer import ClusterLayer
from raresound.models.heads import DetectorHead

HEAD_INPUTS = ("v", "z", "h", "e")
FRAME_HEAD_INPUTS = ("e", "v")


class DetectorOutput(NamedTuple):
    e: Tensor               # embedding [B, D]
    h: Tensor | None        # cluster logits [B, K] (None without a cluster layer)
    logits: Tensor | None   # detection logits [B, L] (None without a head)


class Detector(nn.Module):
    def __init__(self, backbone: nn.Module, n_classes: int | None = None,
                 cluster_layer: ClusterLayer | None = None, head_input: str | None = None,
                 head: DetectorHead | None = None, frame_head_input: str | None = None):
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
        self.frame_head: DetectorHead | None = None
        self.frame_head_input: str | None = None
        if frame_head_input is not None:
            if n_classes is None:
                raise ParameterError("frame_head_input", "needs n_classes")
            self.attach_frame_head(n_classes, frame_head_input)
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

    def attach_frame_head(self, n_classes: int, head_input: str = "e") -> DetectorHead:
        """(Re)create the frame-level head: `n_classes` sigmoid logits per step from `head_input`."""
        if head_input not in FRAME_HEAD_INPUTS:
            raise ParameterError("frame_head_input", f"must be one of {FRAME_HEAD_INPUTS}, got {head_input!r}")
        if head_input == "v" and self.cluster_layer is None:
            raise ParameterError("frame_head_input", "'v' needs a cluster layer; use 'e'")
        if not hasattr(self.backbone, "sequence"):
            raise ParameterError("frame_head_input", f"the {type(self.backbone).__name__} backbone has no "
                                                     "per-step outputs, so no frame-level head")
        in_dim = self.backbone.embedding_dim if head_input == "e" else self.cluster_layer.K
        self.frame_head_input = head_input
        self.frame_head = DetectorHead(in_dim, n_classes).to(self._backbone_device())
        return self.frame_head

    @property
    def has_frame_head(self) -> bool:
        return self.frame_head is not None

    @property
    def step_frames(self) -> int:
        return self.backbone.step_frames

    def frame_logits_from_steps(self, steps: Tensor) -> Tensor:
        """Backbone per-step outputs [B, S, ...] -> frame logits [B, S, L]."""
        if self.frame_head is None:
            raise ParameterError("frame_head_input", "is None: this detector has no frame-level head")
        e = self.backbone.step_embeddings(steps)
        if self.frame_head_input == "v":
            e = torch.softmax(self.cluster_layer(e), dim=-1)
        return self.frame_head(e)

    def frame_logits(self, x: Tensor) -> Tensor:
        """Features [B, F, M] -> frame logits [B, ceil(F / step_frames), L]."""
        return self.frame_logits_from_steps(self.backbone.sequence(x)[0])

    def frame_and_clip_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Frame logits [B, S, L] and clip logits [B, L_out] from one backbone pass."""
        steps = self.backbone.sequence(x)[0]
        return self.frame_logits_from_steps(steps), self.clip_logits_from_steps(steps)

    def clip_logits_from_steps(self, steps: Tensor) -> Tensor:
        """Backbone per-step outputs of one clip window -> the clip logits `forward` gives."""
        return self._head_logits(self.backbone.pool(steps))

    def window_logits_from_steps(self, steps: Tensor, width: int, hop: int) -> Tensor:
        """One signal's per-step outputs [S, ...] -> clip logits of its windows of `width` steps every
        `hop` steps (`backbone.pool_windows`)."""
        return self._head_logits(self.backbone.pool_windows(steps, width, hop))

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
        return DetectorOutput(e, h, self._head_logits(e, h) if self.head is not None else None)

    def _head_logits(self, e: Tensor, h: Tensor | None = None) -> Tensor:
        if self.head is None:
            raise ParameterError("n_classes", "is None: detector has no head yet; call attach_head(n_classes)")
        if self.head_input == "e":
            return self.head(e)
        if h is None:
            h = self.cluster_layer(e)
        return self.head(h if self.head_input == "z" else torch.softmax(h, dim=1))

    def forward(self, x: Tensor) -> Tensor:
        if self.head is None:
            raise ParameterError("n_classes", "is None: detector has no head yet; call attach_head(n_classes)")
        return self.outputs(x).logits

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the head's size follows K, which is data-dependent: adopt the checkpoint's head shape
        w = state_dict.get(prefix + "head.linear.weight")
        if w is not None and (self.head is None or tuple(self.head.linear.weight.shape) != tuple(w.shape)):
            self.head = DetectorHead(w.shape[1], w.shape[0]).to(self._backbone_device())
        w = state_dict.get(prefix + "frame_head.linear.weight")
        if w is not None and self.frame_head is not None and tuple(self.frame_head.linear.weight.shape) != tuple(w.shape):
            self.frame_head = DetectorHead(w.shape[1], w.shape[0]).to(self._backbone_device())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
