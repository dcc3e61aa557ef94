"""Per-epoch overhead of THCE relative to the LSTM backbone's own epoch time.

THCE cost per epoch = one clustering round (cluster_per_class over all I embeddings) + the cluster
layer and THCE loss forward/backward over all I embeddings in batches of 64. The backbone epoch is
NOT run in full: a few LSTM forward+backward passes on 64 x 1000 x 64 batches are timed and
extrapolated to ceil(I / 64) batches. Embeddings are random unit vectors of dim 128 (a worst case
for k-means convergence) with the paper's class ratio dog:baby:gunshot:background = 6:1:2:16,
so K_c = 6, 1, 2, 16 (K = 25). All numbers come from this one run, side by side.

    .venv/bin/python benchmarks/thce_cost.py [--sizes 10000 40000 160000] [--lstm-batches 3] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from raresound.clustering import cluster_per_class
from raresound.losses.thce import TripleHeaderCrossEntropy
from raresound.models import ClusterLayer, LSTMBackbone

RATIO = {"dog": 6, "baby": 1, "gunshot": 2, "background": 16}
BATCH = 64
DIM = 128


def lstm_batch_seconds(n_batches: int) -> float:
    torch.manual_seed(0)
    net = LSTMBackbone(n_mels=64, hidden_size=DIM)
    x = torch.randn(BATCH, 1000, 64)

    def step():
        net.zero_grad()
        net(x).sum().backward()

    step()  # warm-up (allocator, oneDNN primitives)
    start = time.perf_counter()
    for _ in range(n_batches):
        step()
    return (time.perf_counter() - start) / n_batches


def embeddings(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    total = sum(RATIO.values())
    counts = [n * r // total for r in RATIO.values()]
    counts[-1] += n - sum(counts)
    ids = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return F.normalize(torch.randn(n, DIM, generator=g), dim=1), ids


def thce_epoch_seconds(e: torch.Tensor, result) -> float:
    layer = ClusterLayer(DIM, result.centroids.shape[0])
    layer.init_from_centroids(result.centroids, result.cluster_class)
    loss = TripleHeaderCrossEntropy(result.cluster_class, beta=0.0, beta_prime=5.0)
    start = time.perf_counter()
    for s in range(0, e.shape[0], BATCH):
        eb = e[s:s + BATCH].clone().requires_grad_(True)  # stands in for the backbone output
        layer.zero_grad()
        loss(layer(eb), result.assignments[s:s + BATCH]).backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000])
    parser.add_argument("--lstm-batches", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice); 1 is steadier on a busy host")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    per_batch = lstm_batch_seconds(args.lstm_batches)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; LSTM fwd+bwd "
          f"{per_batch:.3f} s per 64x1000x64 batch (mean of {args.lstm_batches}), "
          f"backbone epoch EXTRAPOLATED to ceil(I/64) batches")
    print(f"{'I':>8} {'K':>3} {'cluster s':>10} {'loss s':>8} {'backbone epoch s':>17} {'overhead %':>11}")
    for n in args.sizes:
        e, ids = embeddings(n)
        start = time.perf_counter()
        result = cluster_per_class(e, ids, seed=0)
        cluster_s = time.perf_counter() - start
        loss_s = thce_epoch_seconds(e, result)
        epoch_s = per_batch * math.ceil(n / BATCH)
        overhead = 100.0 * (cluster_s + loss_s) / epoch_s
        print(f"{n:>8} {result.centroids.shape[0]:>3} {cluster_s:>10.2f} {loss_s:>8.2f} "
              f"{epoch_s:>17.1f} {overhead:>11.2f}")


if __name__ == "__main__":
    main()
