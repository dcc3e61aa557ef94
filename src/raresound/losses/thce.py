"""Triple-header cross-entropy (THCE), the paper's clustered-embedding loss (Section 3.2).

For sample i assigned to cluster k_i of class c_i, with cluster logits h_i [K]:

    z_ik = h_ik + m_ik,  m_ik = 0   if k = k_i                         (own cluster)
                               beta  if k != k_i and class(k) = c_i    (other clusters, same class)
                               beta' if class(k) != c_i                (clusters of other classes)
    v_i = softmax(z_i)
    loss_i = -(1 / w_{k_i}) log v_{i, k_i},   w_k = number of clusters of class(k)

The margin is added to the *competing* logits, so it penalises them: to reach a small loss the own
logit must beat same-class clusters by beta and other-class clusters by beta'. With beta' > beta,
other classes are pushed further away than sibling clusters (the three "headers" of Eq 3).
1 / w_k stops classes split into many clusters from dominating the loss. Cost O(B K), no pair
mining. Batch reduction via `Loss.reduce` ("mean" = weighted sum / batch size).
"""

from __future__ import annotations

import torch
from torch import Tensor

from raresound.losses.base import ClusterLoss, as_float


class TripleHeaderCrossEntropy(ClusterLoss):
    """`TripleHeaderCrossEntropy(cluster_class [K])(h [B, K], cluster_idx [B]) -> scalar`.

    `h` is normally the ClusterLayer output, already alpha-scaled in both layer modes, so
    `alpha=None` (default) uses it as is. Pass `alpha` only when feeding raw cosines; then
    z = alpha * h + m (margins are in logit units either way).
    """

    def __init__(self, cluster_class: Tensor, beta: float = 0.0, beta_prime: float = 5.0,
                 alpha: float | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.beta = float(beta)
        self.beta_prime = float(beta_prime)
        self.alpha = None if alpha is None else float(alpha)
        self.register_buffer("cluster_class", torch.empty(0, dtype=torch.long))
        self.register_buffer("clusters_of_class", torch.empty(0))
        self.set_clusters(cluster_class)

    def set_clusters(self, cluster_class: Tensor) -> None:
        """Re-target after a new clustering round (K and the class layout may change)."""
        cc = torch.as_tensor(cluster_class, dtype=torch.long).flatten()
        if cc.numel() == 0:
            raise ValueError("cluster_class must name at least one cluster")
        # w_k = number of clusters sharing cluster k's class
        _, inverse, counts = torch.unique(cc, return_inverse=True, return_counts=True)
        device = self.cluster_class.device
        self.cluster_class = cc.to(device)
        self.clusters_of_class = counts[inverse].float().to(device)

    def margins(self, cluster_idx: Tensor) -> Tensor:
        """m [B, K] for the given own-cluster indices."""
        own_class = self.cluster_class[cluster_idx]
        same = self.cluster_class[None, :] == own_class[:, None]
        m = torch.where(same, self.beta, self.beta_prime)
        return m.scatter(1, cluster_idx[:, None], 0.0)

    def per_sample(self, h: Tensor, cluster_idx: Tensor) -> Tensor:
        h = as_float(h)
        K = self.cluster_class.numel()
        if h.dim() != 2 or h.shape[1] != K:
            raise ValueError(f"h must be [batch, {K}] cluster logits, got {tuple(h.shape)}")
        cluster_idx = cluster_idx.to(device=h.device, dtype=torch.long)
        if self.alpha is not None:
            h = self.alpha * h
        z = h + self.margins(cluster_idx).to(h.dtype)
        # -log softmax(z)_own, via logsumexp for stability
        return torch.logsumexp(z, dim=1) - z.gather(1, cluster_idx[:, None]).squeeze(1)

    def sample_weight(self, h: Tensor, cluster_idx: Tensor) -> Tensor:
        """1 / w_k of each sample's own cluster."""
        return 1.0 / self.clusters_of_class[cluster_idx].to(as_float(h).dtype)
