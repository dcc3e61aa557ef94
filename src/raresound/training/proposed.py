"""Algorithm 1 of the paper (clustered embedding + THCE), then Proposed1 / Proposed2.

Per round r = 1..N_iter:
  1. embed the whole training set (every rank's shard, gathered), cluster each class with spherical
     k-means into K_c = floor(I_c / min I) clusters (rank 0), broadcast the result;
  2. rebuild the cluster layer and initialise its columns from the centroids;
  3. train only the cluster layer for `layer_epochs` with THCE;
  4. train end to end for `e2e_epochs` (`last_e2e_epochs` in the last round) with THCE.
Then a sigmoid head (input v, z or e) is trained alone with class-weighted BCE (Proposed1) and then
everything end to end with the same loss (Proposed2), both with early stopping on validation loss.

The LMLE variant (Huang et al. 2016) replaces step 2–4's THCE by the quintuplet triple-header hinge
loss on the embedding; everything else (rounds, head, fine-tuning) is shared, so the comparison
isolates the embedding loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from raresound.data.samplers import ClusterBalancedBatchSampler
from raresound.clustering import ClusterResult, cluster_per_class, satisfies_constraint
from raresound.io import write_json
from raresound.losses.lmle import TripleHeaderHingeLoss
from raresound.losses.thce import TripleHeaderCrossEntropy
from raresound.miners.quintuplets import build_quintuplets, partner_indices
from raresound.losses.weighted_bce import ClassWeightedBCE
from raresound.training import distributed as dist
from raresound.training.algorithm1 import (cluster_objective, embedding_parameters, layer_parameters,
                                            run_rounds)
from raresound.training.checkpoint import load_tensors, save_tensors
from raresound.training.data import embed_dataset, label_vector_ids
from raresound.training.recipes import (RecipeContext, all_parameters, build_recipe_model, detection_objective,
                                        detection_val_scores, model_spec)


def train_embeddings(ctx: RecipeContext, model) -> torch.Tensor:
    return embed_dataset(model, ctx.data.train, ctx.cfg.training.batch_size, ctx.device)[0]


def cluster_round(ctx: RecipeContext, model, round_no: int, class_ids: np.ndarray,
                  emb: torch.Tensor | None = None) -> ClusterResult:
    """Cluster the current embeddings `emb` (embedded here when not given), or reload this round's
    stored clustering on resume."""
    path = ctx.run.cluster_round(round_no)
    # Rank 0 decides and its tensors are broadcast, so every rank initialises the cluster layer from
    # the same centroids (and takes the same branch: embed_dataset is a collective).
    stored = dist.broadcast_object(path.exists() if dist.is_main() else None)
    if stored:
        t = dist.broadcast_object(load_tensors(path) if dist.is_main() else None)
    else:
        if emb is None:
            emb = train_embeddings(ctx, model)
        t = None
        if dist.is_main():
            result = cluster_per_class(emb, torch.as_tensor(class_ids), seed=ctx.cfg.seed + round_no,
                                       balanced=ctx.cfg.proposed.balanced_clusters)
            t = {"centroids": result.centroids.float(), "assignments": result.assignments,
                 "cluster_class": result.cluster_class, "sizes": result.sizes}
            save_tensors(path, t)
        t = dist.broadcast_object(t)  # identical clustering on every rank
    k_per_class = {int(c): int((t["cluster_class"] == c).sum()) for c in torch.unique(t["cluster_class"])}
    return ClusterResult(t["centroids"], t["assignments"].long(), t["cluster_class"].long(), t["sizes"], k_per_class)


def thce_objectives(ctx: RecipeContext, result: ClusterResult, val_class_ids: torch.Tensor | None):
    p = ctx.cfg.proposed
    loss = TripleHeaderCrossEntropy(result.cluster_class, beta=p.beta, beta_prime=p.beta_prime).to(ctx.device)
    assignments = result.assignments.to(ctx.device)
    cluster_class = result.cluster_class.to(ctx.device)

    def val_objective(net, batch):
        # Validation clips have no cluster: take the best-matching cluster of their own class.
        x, _, idx = batch
        h = net(x, output="cluster")
        cls = val_class_ids.to(ctx.device)[idx]
        keep = cls >= 0
        if not keep.any():
            return h.sum() * 0.0
        h, cls = h[keep], cls[keep]
        own = torch.where(cluster_class[None, :] == cls[:, None], h, torch.finfo(h.dtype).min)
        return loss(h, own.argmax(dim=1))

    return cluster_objective(loss, assignments), (val_objective if val_class_ids is not None else None)


def lmle_objective(ctx: RecipeContext, emb: torch.Tensor, result: ClusterResult, class_ids: np.ndarray):
    quintuplets = build_quintuplets(emb, torch.as_tensor(class_ids), result.assignments.cpu())
    hinge = TripleHeaderHingeLoss(tuple(ctx.cfg.proposed.lmle_margins))
    dataset = ctx.data.train

    def objective(net, batch):
        x, _, idx = batch
        partners, valid = partner_indices(quintuplets[idx.cpu()], idx.cpu())  # [B, 4] indices, [B, 3] mask
        flat = partners.clamp(min=0).reshape(-1)
        xp = dataset.rows(flat.tolist()).to(x.device)
        e = net(torch.cat([x, xp]), output="embedding")
        a, rest = e[: x.shape[0]], e[x.shape[0]:].reshape(x.shape[0], 4, -1)
        return hinge(a, rest[:, 0], rest[:, 1], rest[:, 2], rest[:, 3], term_mask=valid.to(x.device))

    return objective


def size_summary(sizes) -> dict:
    """min / median / max of cluster sizes (the paper wants them all about the smallest class's size)."""
    sizes = np.asarray(sizes)
    return {"min": int(sizes.min()), "median": float(np.median(sizes)), "max": int(sizes.max())}


def round_report(model, emb: torch.Tensor, round_no: int, result: ClusterResult, trainer) -> dict:
    """Per-round artefacts; `emb` are the training embeddings after the round's training."""
    layer = model.cluster_layer
    learned = ClusterResult(torch.nn.functional.normalize(layer.W.detach().t().cpu().float(), dim=1),
                            result.assignments.cpu(), result.cluster_class.cpu(), result.sizes, result.k_per_class)
    sizes, cluster_class = result.sizes.cpu().numpy(), result.cluster_class.cpu().numpy()
    overall = size_summary(sizes)
    report = {
        "round": round_no,
        "K": int(result.centroids.shape[0]),
        "clusters_per_class": {str(k): v for k, v in result.k_per_class.items()},
        "cluster_sizes": [int(s) for s in result.sizes],
        "cluster_size_min": overall["min"], "cluster_size_median": overall["median"], "cluster_size_max": overall["max"],
        "cluster_sizes_per_class": {str(c): size_summary(sizes[cluster_class == c]) for c in result.k_per_class},
        # Eq 3 holds w.r.t. the round-start centroids and w.r.t. the learned cluster-layer columns
        "eq3_fraction_round_centroids": satisfies_constraint(emb, result),
        "eq3_fraction_learned_columns": satisfies_constraint(emb, learned),
        "losses": {name: {"final_train": r.history[-1]["train_loss"] if r.history else None,
                          "final_val": r.history[-1]["val_loss"] if r.history else None}
                   for name, r in trainer.results.items() if name.startswith(f"round{round_no}-")},
    }
    return report


def format_round(report: dict) -> str:
    """One log line per round: cluster sizes and how much of the training set meets Eq 3."""
    return (f"round {report['round']}: K={report['K']} sizes min {report['cluster_size_min']} / median "
            f"{report['cluster_size_median']:g} / max {report['cluster_size_max']}; Eq 3 holds for "
            f"{report['eq3_fraction_learned_columns']:.2f} of training clips "
            f"({report['eq3_fraction_round_centroids']:.2f} against the round's centroids)")


def _head_params(model):
    return list(model.head.parameters())


def train_clustered(ctx: RecipeContext) -> dict[str, Path]:
    cfg, p = ctx.cfg, ctx.cfg.proposed
    use_lmle = cfg.method == "lmle" or p.embedding_loss == "lmle"
    prefix = "lmle" if use_lmle else "proposed"
    torch.manual_seed(cfg.seed)
    # one cluster until the first clustering sets K (the layer adopts it)
    spec = model_spec(cfg, len(ctx.classes), ctx.n_frames, ctx.n_mels).with_clusters(1, p.layer_mode, p.alpha,
                                                                                      p.head_input)
    model = build_recipe_model(spec, with_head=False)
    trainer = ctx.trainer(model)

    class_ids, vocabulary = label_vector_ids(ctx.data.train_targets)
    val_ids = None
    if ctx.data.val is not None:
        val_ids = torch.as_tensor(label_vector_ids(ctx.data.val.targets, vocabulary)[0])

    reports = []

    def train_round(r: int, result: ClusterResult, emb: torch.Tensor | None) -> None:
        epochs = p.last_e2e_epochs if r == p.n_iter else p.e2e_epochs
        if use_lmle:
            if emb is None:
                emb = train_embeddings(ctx, model)
            objective = lmle_objective(ctx, emb, result, class_ids)
            # LMLE draws its mini-batches evenly over clusters (Huang et al. 2016, Sec. 3.2)
            sampler = ClusterBalancedBatchSampler(result.assignments.cpu().numpy(), cfg.training.batch_size,
                                                  seed=cfg.seed, num_replicas=dist.world_size(), rank=dist.rank())
            trainer.fit(ctx.stage(f"round{r}-e2e", objective, lambda m: list(m.backbone.parameters()), epochs,
                                  patience=None, keep_best=False, with_val=False,
                                  train_loader=ctx.train_loader(batch_sampler=sampler)))
        else:
            objective, val_objective = thce_objectives(ctx, result, val_ids)
            if p.layer_epochs > 0:
                trainer.fit(ctx.stage(f"round{r}-layer", objective, layer_parameters, p.layer_epochs,
                                      patience=None, keep_best=False, val_objective=val_objective,
                                      with_val=val_ids is not None))
            trainer.fit(ctx.stage(f"round{r}-e2e", objective, embedding_parameters, epochs, patience=None,
                                  keep_best=False, val_objective=val_objective, with_val=val_ids is not None))

    def after_round(r: int, result: ClusterResult, emb: torch.Tensor) -> None:
        reports.append(round_report(model, emb, r, result, trainer))
        if dist.is_main():
            write_json(ctx.run.rounds_json, reports)
            print(format_round(reports[-1]), flush=True)

    # Training-set embeddings of the current weights: computed once after each round and reused by
    # that round's report, the next round's clustering and LMLE's quintuplet search.
    emb = run_rounds(model, p.n_iter, p.alpha, cluster=lambda r, emb: cluster_round(ctx, model, r, class_ids, emb),
                     train_round=train_round, embed=lambda: train_embeddings(ctx, model), after_round=after_round)

    if use_lmle:
        # LMLE trains no cluster layer: initialise it from the final embedding's clusters, so the
        # detector head sits on the same kind of input as Proposed1/2.
        result = cluster_round(ctx, model, p.n_iter + 1, class_ids, emb)
        model.cluster_layer.init_from_centroids(result.centroids, result.cluster_class, alpha=p.alpha)

    # the bundles' spec: the model as trained, with the K of the last clustering
    spec = spec.with_clusters(model.cluster_layer.K, p.layer_mode, p.alpha, p.head_input)
    torch.manual_seed(cfg.seed)
    model.attach_head(len(ctx.classes))
    weighted_bce = ClassWeightedBCE(torch.as_tensor(ctx.data.class_counts())).to(ctx.device)
    bce, val_scores = detection_objective(weighted_bce), detection_val_scores(weighted_bce, spec)
    bundles = {}
    trainer.fit(ctx.stage(f"{prefix}1", bce, _head_params, p.head_epochs, lr=p.head_lr,
                          val_scores=val_scores))
    bundles[f"{prefix}1"] = ctx.save_bundle(f"{prefix}1", model, spec, info={"rounds": reports})
    trainer.fit(ctx.stage(f"{prefix}2", bce, all_parameters, p.finetune_epochs, val_scores=val_scores))
    bundles[f"{prefix}2"] = ctx.save_bundle(f"{prefix}2", model, spec, info={"rounds": reports})
    return bundles
