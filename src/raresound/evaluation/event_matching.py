"""The one-to-one matching of estimated to reference events behind the event-based true positives.

Any maximum matching gives the same number of true positives, but not the same substitutions:
sed_eval counts a substitution for each reference the matching leaves unmatched that has an
unmatched estimate of another label close to it, so *which* references stay unmatched matters
when several maximum matchings exist (e.g. two same-label references close to one estimate, and
a wrong-label estimate close to only one of them). To count what sed_eval counts, this is the
matching sed_eval (after mir_eval and Eppstein) computes: Hopcroft-Karp with estimates on the
searching side, a greedy start, and every loop visiting vertices in the same order. The backward
search is iterative so that long files cannot exhaust Python's recursion limit.
"""

from __future__ import annotations

_FREE = object()  # the layer marker of an estimate that is unmatched when a phase starts


def maximum_matching(n_ref: int, n_est: int, edges: dict[int, list[int]]) -> dict[int, int]:
    """A maximum matching {ref index: est index} of the bipartite graph whose edges are
    `edges[ref] = [est, ...]` (n_ref and n_est bound the indices)."""
    # Estimates in the order sed_eval's hit matrix meets them (reference by reference), each
    # with its references in index order.
    graph: dict[int, list[int]] = {}
    for ref in range(n_ref):
        for est in sorted(edges.get(ref, ())):
            graph.setdefault(est, []).append(ref)

    matching: dict[int, int] = {}  # ref -> est
    for est, refs in graph.items():
        free = next((r for r in refs if r not in matching), None)
        if free is not None:
            matching[free] = est

    while True:
        # Alternating layers from the unmatched estimates until a layer reaches a free reference.
        pred: dict[int, object] = {est: _FREE for est in graph}
        for est in matching.values():
            del pred[est]
        preds: dict[int, list[int]] = {}  # ref -> the estimates of the previous layer that reach it
        free_refs: list[int] = []
        layer = list(pred)
        while layer and not free_refs:
            reached: dict[int, list[int]] = {}
            for est in layer:
                for ref in graph[est]:
                    if ref not in preds:
                        reached.setdefault(ref, []).append(est)
            layer = []
            for ref, ests in reached.items():
                preds[ref] = ests
                if ref in matching:
                    layer.append(matching[ref])
                    pred[matching[ref]] = ref
                else:
                    free_refs.append(ref)
        if not free_refs:
            return matching
        for ref in free_refs:
            _augment(ref, preds, pred, matching)


def _augment(ref0: int, preds: dict, pred: dict, matching: dict) -> bool:
    """Search back through the layers from the free reference `ref0` for an alternating path to
    an unmatched estimate, flipping it into `matching` when found (vertices used are removed from
    `preds` / `pred`, so paths of one phase are disjoint)."""
    if ref0 not in preds:
        return False
    stack = [[ref0, preds.pop(ref0), 0]]  # frames: reference, its candidate estimates, next index
    found = False
    while stack:
        frame = stack[-1]
        ref, ests, _ = frame
        if found:  # the path continues through the estimate this frame tried last
            matching[ref] = ests[frame[2] - 1]
            stack.pop()
            continue
        descended = False
        while frame[2] < len(ests):
            est = ests[frame[2]]
            frame[2] += 1
            if est not in pred:
                continue
            back = pred.pop(est)
            if back is _FREE:
                found = True
                break
            if back in preds:
                stack.append([back, preds.pop(back), 0])
                descended = True
                break
        if not (found or descended):
            stack.pop()
    return found
