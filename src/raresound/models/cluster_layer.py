"""Cluster layer: one logit per cluster centroid, h = e @ W with W: [dim, K].

Why alpha (default 10): embeddings and centroids are unit-norm, so a raw cosine lies in [-1, 1].
THCE adds margins beta' = 5 to competing logits; if logits only spanned [-1, 1] a margin of 5
would swamp them (the loss could never become small, gradients would not depend on the
geometry), while a very large alpha saturates the softmax so almost every sample has ~zero
loss and gradient. alpha = 10 gives a logit range of [-10, 10] = 20, which exceeds the margin so it
can be overcome by moving embeddings, yet keeps exp-ratios within reach of float32 without
saturating the softmax for typical cosine gaps.

Two modes:
  * "scaled" (paper default): alpha is folded into an unnormalised, freely learned W
    (initial column norm = alpha); h = e @ W.
  * "fixed": columns of W are re-normalised to unit norm in forward and the cosines are
    multiplied by a fixed alpha; h = alpha * e @ (W / ||W||).

State dict: `W` [dim, K], `cluster_class` [K] (long) and `alpha` (scalar) are tensors, so the layer
round-trips through safetensors. Loading a state dict whose K differs from the layer's resizes the
layer (K is data-dependent); `ClusterLayer.from_state_dict` builds a layer straight from a state dict.
Re-initialising with a different K replaces the Parameter: rebuild the optimizer afterwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raresound.models.errors import ParameterError

DEFAULT_ALPHA = 10.0
MODES = ("scaled", "fixed")


class ClusterLayer(nn.Module):
    def __init__(self, dim: int, K: int, mode: str = "scaled", alpha: float = DEFAULT_ALPHA):
        super().__init__()
        if mode not in MODES:
            raise ParameterError("mode", f"must be one of {MODES}, got {mode!r}")
        if K < 1 or dim < 1:
            raise ParameterError("K", f"and dim must be >= 1, got dim={dim}, K={K}")
        self.dim = dim
        self.mode = mode
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        # random unit columns scaled like centroid initialisation, until real centroids arrive
        w = F.normalize(torch.randn(dim, K), dim=0) * float(alpha)
        self.W = nn.Parameter(w)
        self.register_buffer("cluster_class", torch.zeros(K, dtype=torch.long))

    @property
    def K(self) -> int:
        return self.W.shape[1]

    def forward(self, e: Tensor) -> Tensor:
        if self.mode == "scaled":
            return e @ self.W
        return self.alpha * (e @ F.normalize(self.W, dim=0))

    @torch.no_grad()
    def init_from_centroids(self, centroids: Tensor, cluster_class: Tensor,
                            alpha: float | None = None) -> None:
        """Set W = alpha * centroids^T ("fixed" mode keeps alpha outside W and stores unit columns).

        `centroids` [K, dim] should be unit-norm (spherical k-means output); `alpha=None` keeps the
        layer's current alpha. In-place when K is unchanged so optimizer references stay valid.
        """
        centroids = torch.as_tensor(centroids)
        cluster_class = torch.as_tensor(cluster_class, dtype=torch.long)
        if centroids.dim() != 2 or centroids.shape[1] != self.dim:
            raise ParameterError("centroids",
                                 f"must be [K, {self.dim}], got {tuple(centroids.shape)}")
        if cluster_class.shape != (centroids.shape[0],):
            raise ParameterError("cluster_class",
                                 f"must be [{centroids.shape[0]}], got {tuple(cluster_class.shape)}")
        if alpha is not None:
            self.alpha.fill_(float(alpha))
        scale = self.alpha if self.mode == "scaled" else 1.0
        w = (centroids.t() * scale).to(device=self.W.device, dtype=self.W.dtype)
        if w.shape == self.W.shape:
            self.W.copy_(w)
            self.cluster_class.copy_(cluster_class)
        else:
            self.W = nn.Parameter(w.contiguous())
            self.cluster_class = cluster_class.to(self.W.device).clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # K is chosen by clustering at train time, so a checkpoint may hold a different K than
        # this freshly built layer: adopt the stored shape, then load normally.
        w = state_dict.get(prefix + "W")
        if w is not None and tuple(w.shape) != tuple(self.W.shape):
            self.dim = w.shape[0]
            self.W = nn.Parameter(torch.empty_like(w, device=self.W.device, dtype=self.W.dtype))
            self.cluster_class = torch.zeros(w.shape[1], dtype=torch.long, device=self.W.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def from_state_dict(cls, state: dict, prefix: str = "", mode: str = "scaled") -> "ClusterLayer":
        """Build a layer sized from `state[prefix + 'W']` and load the state into it."""
        dim, K = state[prefix + "W"].shape
        layer = cls(dim, K, mode=mode)
        layer.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        return layer
