"""Cost of one clustering round's preparation: THCE (this project's method) vs LMLE (Huang et al. 2016).

Both start from the same spherical k-means per class (`raresound.clustering.cluster_per_class`,
K_c = floor(I_c / min I), class ratio dog:baby:gunshot:background = 6:1:2:16 as in the paper),
timed ONCE per size and counted in both totals, so the difference is what each method adds:
  THCE: one epoch of TripleHeaderCrossEntropy (forward + backward) on batches of 64 cluster
        logits h = e @ centroids^T;                                  O(I K)
  LMLE: the exact quintuplet table (`build_quintuplets`, all pairs in blocks of matrix products,
        O(I^2 D)) + one epoch of the triple-header hinge loss (forward + backward) on batches of 64.
Embeddings are random unit vectors (dim 128); the network's own forward/backward, identical for
both methods, is excluded. Cheap epoch timings are the median of --repeats runs; k-means and the
quintuplet search run once. The per-batch epoch loops of BOTH losses run with --epoch-threads
intra-op threads (default 1): their ops are tiny, and on a shared 2-core machine OpenMP
synchronisation otherwise dominated and swung them by 5x; k-means and the quintuplet search
(large matrix products) use all threads.
Sizes above --full-search-max build the quintuplet rows only for the anchors of randomly chosen
WHOLE clusters covering about --fraction of the points (each anchor still searched against all I
points, so its cost does not depend on its cluster; whole clusters keep the same row-chunk shapes
as the full run, whereas a scattered random subset made small chunks and overestimated the time
2.8x at I=40K) and scale the time by I / anchors measured. Such rows are marked "~"; the hinge
epoch then runs on the measured rows tiled to I anchors (same gathers and ops, so the same cost). Usage: python benchmarks/embedding_cost.py [--sizes 10000 40000 160000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from raresound.clustering import cluster_per_class
from raresound.losses.lmle import TripleHeaderHingeLoss, build_quintuplets, partner_indices
from raresound.losses.thce import TripleHeaderCrossEntropy

CLASS_RATIO = {"dog": 6, "baby": 1, "gunshot": 2, "background": 16}  # paper's training ratio


def make_embeddings(n: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    parts = list(CLASS_RATIO.values())
    sizes = [n * p // sum(parts) for p in parts]
    sizes[-1] += n - sum(sizes)
    class_ids = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return F.normalize(torch.randn(n, dim, generator=g), dim=1), class_ids[torch.randperm(n, generator=g)]


def timed(fn, threads: int | None = None) -> float:
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)


def thce_epoch(x, clusters, batch_size, order):
    loss_fn = TripleHeaderCrossEntropy(clusters.cluster_class)
    for batch in order.split(batch_size):
        e = x[batch].requires_grad_(True)
        loss_fn(e @ clusters.centroids.T, clusters.assignments[batch]).backward()


def lmle_epoch(x, quintuplets, batch_size, order, loss_fn):
    partners, term_mask = partner_indices(quintuplets)
    for batch in order.split(batch_size):
        idx = torch.cat([batch.unsqueeze(1), partners[batch]], dim=1)  # [B, 5]
        e = x[idx].requires_grad_(True)
        loss_fn(*e.unbind(dim=1), term_mask=term_mask[batch]).backward()


def run_size(n: int, dim: int, batch_size: int, seed: int, repeats: int, epoch_threads: int,
             fraction: float = 1.0) -> dict:
    x, class_ids = make_embeddings(n, dim, seed)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    result = {}
    kmeans_s = timed(lambda: result.update(clusters=cluster_per_class(x, class_ids, seed=seed)))
    clusters = result["clusters"]
    thce_s = statistics.median(timed(lambda: thce_epoch(x, clusters, batch_size, order), epoch_threads)
                               for _ in range(repeats))
    anchors = None
    if fraction < 1.0:
        picked, covered = [], 0
        for k in torch.randperm(len(clusters.sizes), generator=torch.Generator().manual_seed(seed + 2)).tolist():
            if covered >= fraction * n:
                break
            picked.append(k)
            covered += int(clusters.sizes[k])
        anchors = torch.nonzero(torch.isin(clusters.assignments, torch.tensor(picked))).flatten()
    quint_s = timed(lambda: result.update(
        quintuplets=build_quintuplets(x, class_ids, clusters.assignments, anchors=anchors)))
    quintuplets = result["quintuplets"]
    if anchors is not None:
        quint_s *= n / anchors.numel()
        quintuplets = quintuplets[torch.arange(n) % quintuplets.shape[0]]
    hinge = TripleHeaderHingeLoss(margins=(0.1, 0.1, 0.1))  # margins do not change the cost
    hinge_s = statistics.median(timed(lambda: lmle_epoch(x, quintuplets, batch_size, order, hinge),
                                      epoch_threads) for _ in range(repeats))
    return dict(extrapolated=anchors is not None, measured=n if anchors is None else anchors.numel(), n=n, k=int(clusters.cluster_class.numel()), kmeans=kmeans_s, thce=thce_s, quint=quint_s,
                hinge=hinge_s, thce_total=kmeans_s + thce_s, lmle_total=kmeans_s + quint_s + hinge_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-search-max", type=int, default=40_000)
    parser.add_argument("--fraction", type=float, default=0.125, help="anchor fraction timed above --full-search-max")
    parser.add_argument("--epoch-threads", type=int, default=1, help="intra-op threads for the epoch loops (0 = all)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (epoch loops: "
          f"{args.epoch_threads or 'all'}), dim {args.dim}, batch {args.batch_size}, k-means counted in both totals")
    header = ("I", "K", "k-means s", "THCE epoch s", "quintuplets s", "hinge epoch s",
              "THCE total s", "LMLE total s", "LMLE/THCE", "excl. k-means")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for n in args.sizes:
        fraction = 1.0 if n <= args.full_search_max else args.fraction
        r = run_size(n, args.dim, args.batch_size, args.seed, args.repeats, args.epoch_threads, fraction)
        mark = "~" if r["extrapolated"] else ""
        ratio, ratio_excl = r["lmle_total"] / r["thce_total"], (r["quint"] + r["hinge"]) / r["thce"]
        print(f"| {r['n']} | {r['k']} | {r['kmeans']:.2f} | {r['thce']:.3f} | {mark}{r['quint']:.2f} | {r['hinge']:.3f} "
              f"| {r['thce_total']:.2f} | {mark}{r['lmle_total']:.2f} | {mark}{ratio:.1f}x | {mark}{ratio_excl:.1f}x |",
              flush=True)
        if r["extrapolated"]:
            print(f"  ~ I={n}: quintuplet rows built for the {r['measured']} anchors of whole random clusters "
                  f"(exact search over all {n} points), time scaled by {n / r['measured']:.2f}")


if __name__ == "__main__":
    main()
