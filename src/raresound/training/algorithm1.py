"""Algorithm 1's round loop, once: used by the recipes (training/proposed.py, THCE and LMLE) and the
toy (toy.py), which differ only in how they embed, cluster and fit a stage.

Per round r = 1..n_rounds:
  1. cluster the current training embeddings (`cluster(r, emb)`; `emb` is None in the first round
     unless the caller has them, so a resumed round can reload its stored clustering without embedding);
  2. initialise the cluster layer's columns from the centroids;
  3-4. train the round's stages (`train_round(r, result, emb)`: cluster layer only, then end to end);
  then embed the training set once (`embed()`); these embeddings serve the round's report
  (`after_round(r, result, emb)`) and the next round's clustering.
"""

from __future__ import annotations

from typing import Callable

import torch

from raresound.clustering import ClusterResult


def run_rounds(model, n_rounds: int, alpha: float, *, cluster: Callable[[int, torch.Tensor | None], ClusterResult],
               train_round: Callable[[int, ClusterResult, torch.Tensor | None], None],
               embed: Callable[[], torch.Tensor],
               after_round: Callable[[int, ClusterResult, torch.Tensor], None] = lambda r, result, emb: None,
               emb: torch.Tensor | None = None) -> torch.Tensor | None:
    """Run the rounds on `model` (a Detector with a cluster layer); returns the last training
    embeddings (`emb` itself when n_rounds is 0)."""
    for r in range(1, n_rounds + 1):
        result = cluster(r, emb)
        model.cluster_layer.init_from_centroids(result.centroids, result.cluster_class, alpha=alpha)
        train_round(r, result, emb)
        emb = embed()
        after_round(r, result, emb)
    return emb


def cluster_objective(loss, assignments: torch.Tensor) -> Callable:
    """A training objective on cluster logits: `loss(h, cluster of each clip)` (THCE's contract)."""
    def objective(net, batch):
        x, _, idx = batch
        return loss(net(x, output="cluster"), assignments[idx])
    return objective


def layer_parameters(model) -> list:
    """Step 3: the cluster layer alone."""
    return [model.cluster_layer.W]


def embedding_parameters(model) -> list:
    """Step 4: backbone and cluster layer, end to end."""
    return list(model.backbone.parameters()) + [model.cluster_layer.W]
