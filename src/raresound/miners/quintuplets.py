"""LMLE's quintuplet miner (Huang, Li, Loy, Tang, "Learning Deep Representation for Imbalanced
Classification", CVPR 2016, Sec. 3.1): for every anchor x_i, its partners

  p+  (x_i^{p+}):  the most distant neighbour within the anchor's cluster,
  p-  (x_i^{p-}):  the nearest neighbour of the same class but from a different cluster,
  p-- (x_i^{p--}): the most distant neighbour of the same class,
  n   (x_i^{n}):   the nearest neighbour of a different class,

for the triple-header hinge loss (raresound.losses.lmle), which enforces
D(a,p+) < D(a,p-) < D(a,p--) < D(a,n).

Choices the text leaves open (documented here, used by `build_quintuplets`/`partner_indices`):
- p-- is searched among the same-class points of OTHER clusters, so that each of the three hinge
  terms relates distinct cluster levels; for a class with a single cluster p- and p-- are missing
  and term 3 falls back to p+, the most distant within-class point, which is the paper's literal
  p-- in that case (this keeps single-cluster classes, e.g. the rarest event, in the loss).
- A cluster with one member has no p+; a data set with one class has no n.
- Missing entries are -1 and the hinge terms that need them are excluded (masked to 0).

The search is exact over all pairs (O(I^2 D)), done in blocks of matrix products; points are
sorted by (class, cluster) once so that every block is "same cluster", "same class, other
cluster" or "other class" as a whole, and needs no elementwise mask.
"""

from __future__ import annotations

import torch
from torch import Tensor

from raresound.errors import DataError

QUINTUPLET_COLUMNS = ("p_plus", "p_minus", "p_minus2", "negative")


class _RunningArg:
    """Running arg-min or arg-max over column blocks (values [R], global column indices [R])."""

    def __init__(self, rows: int, largest: bool, dtype: torch.dtype):
        self.largest = largest
        fill = float("-inf") if largest else float("inf")
        self.value = torch.full((rows,), fill, dtype=dtype)
        self.index = torch.full((rows,), -1, dtype=torch.long)

    def update(self, block: Tensor, col0: int) -> None:
        value, index = block.max(dim=1) if self.largest else block.min(dim=1)
        better = value > self.value if self.largest else value < self.value
        self.value = torch.where(better, value, self.value)
        self.index = torch.where(better, index + col0, self.index)

    def result(self) -> Tensor:
        return torch.where(torch.isfinite(self.value), self.index, torch.full_like(self.index, -1))


def _contiguous_runs(sorted_ids: Tensor) -> list[tuple[int, int]]:
    """[start, end) of each run of equal values in a sorted 1-D tensor."""
    _, counts = torch.unique_consecutive(sorted_ids, return_counts=True)
    ends = torch.cumsum(counts, 0).tolist()
    return list(zip([0] + ends[:-1], ends))


def build_quintuplets(embeddings: Tensor, class_ids: Tensor, cluster_ids: Tensor, chunk_size: int = 4096,
                      anchors: Tensor | None = None) -> Tensor:
    """Exact quintuplet table LongTensor[I, 4] = (p+, p-, p--, n) indices per anchor, -1 = missing.

    embeddings [I, D] (L2-normalised for LMLE, though any vectors work); class_ids [I];
    cluster_ids [I] (global or per-class: clusters are identified by the (class, cluster) pair).
    anchors [A] (optional): only these rows are built, each still searched against all I points;
    the result is then [A, 4] in the order given (cost scales with A * I).
    Distances are ||a||^2 + ||b||^2 - 2 a.b; the ||a||^2 term is constant along an anchor's row and
    is dropped since only the arg-min/arg-max matter.
    """
    x = torch.as_tensor(embeddings)
    if not x.is_floating_point():
        x = x.float()
    classes = torch.as_tensor(class_ids).long()
    clusters = torch.as_tensor(cluster_ids).long()
    n = x.shape[0]
    if x.dim() != 2 or classes.shape != (n,) or clusters.shape != (n,):
        raise DataError("build_quintuplets needs embeddings [I, D], class_ids [I], cluster_ids [I]")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    # unique over (class, cluster) rows is lexicographic, so group ids sort by class first.
    _, group = torch.unique(torch.stack([classes, clusters], dim=1), dim=0, return_inverse=True)
    order = torch.argsort(group, stable=True)
    xs = x[order].contiguous()
    sq_norms = (xs * xs).sum(dim=1)
    group_sorted, class_sorted = group[order], classes[order]
    table = torch.full((n, 4), -1, dtype=torch.long)
    # sorted positions of the anchors to build, ascending so each group's anchors are contiguous
    inverse_order = torch.empty_like(order)
    inverse_order[order] = torch.arange(n)
    wanted = torch.arange(n) if anchors is None else torch.sort(inverse_order[torch.as_tensor(anchors).long()]).values

    def block_distances(rows_x: Tensor, c0: int, c1: int) -> Tensor:
        return torch.addmm(sq_norms[c0:c1].unsqueeze(0), rows_x, xs[c0:c1].T, alpha=-2.0)

    def column_blocks(ranges):
        for start, end in ranges:
            for c0 in range(start, end, chunk_size):
                yield c0, min(c0 + chunk_size, end)

    class_runs = _contiguous_runs(class_sorted)
    group_runs = _contiguous_runs(group_sorted)
    for cls_start, cls_end in class_runs:
        other_class = [(0, cls_start), (cls_end, n)]
        for grp_start, grp_end in (r for r in group_runs if cls_start <= r[0] < cls_end):
            same_class_other_cluster = [(cls_start, grp_start), (grp_end, cls_end)]
            in_group = wanted[(wanted >= grp_start) & (wanted < grp_end)]
            for row_idx in in_group.split(chunk_size):
                anchor_x, rows = xs[row_idx], row_idx.numel()
                far_in_cluster = _RunningArg(rows, largest=True, dtype=xs.dtype)
                near_other_cluster = _RunningArg(rows, largest=False, dtype=xs.dtype)
                far_other_cluster = _RunningArg(rows, largest=True, dtype=xs.dtype)
                near_other_class = _RunningArg(rows, largest=False, dtype=xs.dtype)
                for c0, c1 in column_blocks([(grp_start, grp_end)]):
                    d = block_distances(anchor_x, c0, c1)
                    # exclude the anchor itself: anchor row r is column row_idx[r] of the sorted order
                    inside = (row_idx >= c0) & (row_idx < c1)
                    d[torch.nonzero(inside).squeeze(1), row_idx[inside] - c0] = float("-inf")
                    far_in_cluster.update(d, c0)
                for c0, c1 in column_blocks(same_class_other_cluster):
                    d = block_distances(anchor_x, c0, c1)
                    near_other_cluster.update(d, c0)
                    far_other_cluster.update(d, c0)
                for c0, c1 in column_blocks(other_class):
                    near_other_class.update(block_distances(anchor_x, c0, c1), c0)
                found = torch.stack([far_in_cluster.result(), near_other_cluster.result(),
                                     far_other_cluster.result(), near_other_class.result()], dim=1)
                table[order[row_idx]] = torch.where(found >= 0, order[found.clamp(min=0)], found)
    return table if anchors is None else table[torch.as_tensor(anchors).long()]


def partner_indices(quintuplets: Tensor, anchor_index: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Quintuplet rows [B, 4] -> (partner indices [B, 4] with no -1, hinge-term mask [B, 3] bool).

    Column 2 (p--) falls back to p+ when the class has a single cluster (see module docstring);
    remaining missing partners are replaced by the anchor index (any valid row would do: their
    terms are masked out). anchor_index defaults to arange(B) (the full table).
    """
    q = quintuplets.long()
    if anchor_index is None:
        anchor_index = torch.arange(q.shape[0])
    p_plus, p_minus, p_minus2, negative = q.unbind(dim=1)
    p_minus2 = torch.where(p_minus2 >= 0, p_minus2, p_plus)
    filled = torch.stack([p_plus, p_minus, p_minus2, negative], dim=1)
    term_mask = torch.stack([(p_plus >= 0) & (p_minus >= 0),
                             (p_minus >= 0) & (q[:, 2] >= 0),
                             (p_minus2 >= 0) & (negative >= 0)], dim=1)
    filled = torch.where(filled >= 0, filled, anchor_index.long().unsqueeze(1).expand_as(filled))
    return filled, term_mask
