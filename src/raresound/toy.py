"""The paper's toy example (Fig 1): Algorithm 1 on 1000 imbalanced points, embedded on the unit
sphere in R^3 by a 3-unit LSTM.

Data. 1000 points in R^20, three classes at 1:1:4 — 166 / 166 / 668, so that
K_c = floor(I_c / min I) = 1, 1, 4 (note 167/167/666 would give floor(666/167) = 3). The two small
classes are single isotropic Gaussians; the large class is an equal mixture of four Gaussians
(167 points each), so "the large class is split into 4 clusters" has a ground truth to compare with.
Means are N(0, I_20) draws, within-mode noise is N(0, sigma^2 I_20).

Input layout. Each 20-dim point is fed to the LSTM as a sequence of `steps` frames of 20/steps
features ([B, T, F]; default T = 4 frames x F = 5 features), so the recurrence is actually used
while the 3-unit LSTM still trains in seconds. `steps=1` (one frame of 20) and `steps=20`
(20 frames of 1) are allowed too.

Algorithm 1. Each round r = 1..n_rounds: embed the training set, cluster each class with spherical
k-means (`cluster_per_class`), initialise the `ClusterLayer` from the centroids (alpha-scaled),
train the cluster layer alone with THCE (beta = 0, beta' = 5), then backbone + cluster layer end to
end with THCE. Training runs through the shared `Trainer`/`Stage` loop (checkpoints under
`<out>/train`, so re-running the same command in the same directory resumes instead of retraining).

Outputs in `out_dir`: `round_0.png` (the untrained embedding) and `round_<r>.png` per round (3-D
sphere scatter: small classes in blue/orange, the large class's clusters in shades of green, the
learned cluster-layer directions as stars), and `toy.json` with per-round metrics: held-out 1-NN
accuracy (cosine; a fresh 500-point draw of the same distribution against the training embeddings),
cluster sizes, Eq 3 fractions (w.r.t. the round's centroids and the learned cluster-layer columns)
and the large class's cluster/sub-mode purity. The purity is a diagnostic, not a goal of the method:
Algorithm 1 can only split the large class along what the (initially random) embedding separates, so
whether its 4 clusters coincide with the 4 generating Gaussians varies with the seed (0.8-0.95).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch.utils.data import DataLoader, TensorDataset

from raresound.clustering import ClusterResult, cluster_per_class, satisfies_constraint
from raresound.errors import ConfigError
from raresound.io import atomic_path, read_json, write_json
from raresound.losses.thce import TripleHeaderCrossEntropy
from raresound.models.backbones import LSTMBackbone
from raresound.models.cluster_layer import DEFAULT_ALPHA, ClusterLayer
from raresound.models.detector import Detector
from raresound.training.algorithm1 import cluster_objective, embedding_parameters, layer_parameters, run_rounds
from raresound.training.loop import Stage, Trainer

DIM = 20
EMBED_DIM = 3
CLASS_COUNTS = (166, 166, 668)  # 1:1:4 with floor(668 / 166) = 4
LARGE_MODES = 4
CLASS_NAMES = ("small A", "small B", "large")


@dataclass(frozen=True)
class ToyConfig:
    seed: int = 0
    n_rounds: int = 3
    steps: int = 4              # LSTM frames per point; features per frame = 20 / steps
    sigma: float = 0.5          # within-mode noise std (untrained 1-NN accuracy ~0.8)
    n_test: int = 500           # held-out points for the 1-NN accuracy (same distribution)
    layer_epochs: int = 2       # cluster layer only, per round
    e2e_epochs: int = 6         # backbone + cluster layer, per round
    batch_size: int = 50
    lr: float = 0.02
    alpha: float = DEFAULT_ALPHA
    beta: float = 0.0
    beta_prime: float = 5.0

    def validate(self) -> None:
        if self.n_rounds < 1:
            raise ConfigError("toy.rounds", f"must be >= 1, got {self.n_rounds}")
        if self.steps < 1 or DIM % self.steps:
            raise ConfigError("toy.steps", f"must divide {DIM}, got {self.steps}")
        for name in ("layer_epochs", "e2e_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"toy.{name}", f"must be >= 0, got {getattr(self, name)}")
        if self.e2e_epochs + self.layer_epochs < 1:
            raise ConfigError("toy.e2e_epochs", "at least one training epoch per round is needed")
        if self.n_test < 1 or self.batch_size < 1 or self.sigma <= 0 or self.lr <= 0:
            raise ConfigError("toy", "n_test, batch_size, sigma and lr must be positive")


# ----------------------------------------------------------------------------------------- data
def make_toy_data(seed: int = 0, sigma: float = 0.5, n_test: int = 500):
    """Train and held-out sets from one seeded distribution.

    Returns (x_train [1000, 20], y_train [1000], mode_train [1000], x_test, y_test, mode_test) as
    float32 / int64 numpy arrays; `mode` is the generating Gaussian (0..5: class 0, class 1, then the
    large class's four sub-modes 2..5). The held-out set keeps the 1:1:4 proportions."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20190512]))
    means = rng.standard_normal((2 + LARGE_MODES, DIM))
    mode_class = np.array([0, 1] + [2] * LARGE_MODES)

    def draw(counts, stream):
        r = np.random.default_rng(np.random.SeedSequence([seed, stream]))
        modes = []
        for c, n in enumerate(counts):
            members = np.flatnonzero(mode_class == c)
            modes.append(np.repeat(members, -(-n // len(members)))[:n])  # equal split over sub-modes
        mode = np.concatenate(modes)
        x = means[mode] + sigma * r.standard_normal((mode.size, DIM))
        order = r.permutation(mode.size)
        return x[order].astype(np.float32), mode_class[mode][order].astype(np.int64), mode[order].astype(np.int64)

    total = sum(CLASS_COUNTS)
    test_counts = [max(1, round(n_test * n / total)) for n in CLASS_COUNTS]
    return (*draw(CLASS_COUNTS, 1), *draw(test_counts, 2))


def as_sequences(x: np.ndarray, steps: int) -> torch.Tensor:
    """[N, 20] -> LSTM input [N, steps, 20 / steps] (frames x features)."""
    return torch.from_numpy(np.ascontiguousarray(x)).reshape(x.shape[0], steps, DIM // steps)


# -------------------------------------------------------------------------------------- metrics
@torch.no_grad()
def embed(model: Detector, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model.embed(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


def knn1_accuracy(train_emb: torch.Tensor, train_y, test_emb: torch.Tensor, test_y) -> float:
    """Held-out accuracy of the 1-nearest-neighbour (cosine) classifier over training embeddings."""
    sims = F.normalize(test_emb, dim=1) @ F.normalize(train_emb, dim=1).t()
    pred = torch.as_tensor(train_y)[sims.argmax(dim=1)]
    return float((pred == torch.as_tensor(test_y)).float().mean())


def submode_agreement(assignments, modes) -> dict:
    """How the large class's clusters line up with its generating sub-modes: purity (fraction of
    points in their cluster's majority sub-mode) and whether clusters and sub-modes match one to one."""
    a = np.asarray(assignments)
    m = np.asarray(modes)
    clusters, modes_u = np.unique(a), np.unique(m)
    table = np.array([[np.sum((a == c) & (m == s)) for s in modes_u] for c in clusters])
    majority = table.argmax(axis=1)
    return {"purity": float(table.max(axis=1).sum() / a.size),
            "one_to_one": bool(len(clusters) == len(modes_u) and len(set(majority.tolist())) == len(modes_u))}


# ----------------------------------------------------------------------------------------- plot
_SMALL_COLOURS = ("tab:blue", "tab:orange")
_LARGE_SHADES = ("#0b4d1f", "#1f8a3a", "#5cc46a", "#a8e3a0")


def plot_round(path, emb: np.ndarray, classes: np.ndarray, assignments: np.ndarray | None,
               cluster_class: np.ndarray | None, columns: np.ndarray | None, title: str) -> Path:
    """Sphere scatter: small classes one colour each, the large class coloured by cluster (shades of
    green); `columns` [K, 3] (learned cluster directions) drawn as stars."""
    fig = Figure(figsize=(6.4, 6.0), dpi=100)
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", linewidth=0.4)
    for c in (0, 1):
        m = classes == c
        ax.scatter(*emb[m].T, s=6, color=_SMALL_COLOURS[c], label=f"{CLASS_NAMES[c]} ({m.sum()})",
                   depthshade=False)
    large = classes == 2
    if assignments is None:
        ax.scatter(*emb[large].T, s=6, color=_LARGE_SHADES[1], label=f"{CLASS_NAMES[2]} ({large.sum()})",
                   depthshade=False)
    else:
        large_clusters = np.flatnonzero(cluster_class == 2)
        for j, k in enumerate(large_clusters):
            m = large & (assignments == k)
            ax.scatter(*emb[m].T, s=6, color=_LARGE_SHADES[j % len(_LARGE_SHADES)],
                       label=f"{CLASS_NAMES[2]}, cluster {j + 1} ({m.sum()})", depthshade=False)
    if columns is not None:
        ax.scatter(*columns.T, s=140, marker="*", color="black", label="cluster-layer directions",
                   depthshade=False)
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-1, 1)
    ax.set_box_aspect((1, 1, 1))
    ax.legend(loc="upper left", fontsize="x-small")
    ax.set_title(title, fontsize="small")
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi)
    return Path(path)


# ----------------------------------------------------------------------------------- algorithm 1
@contextlib.contextmanager
def _single_thread():
    """The 3-unit LSTM is far too small to gain from intra-op threads, and on a busy machine
    OpenMP workers spinning for a core make each step ~50x slower (measured: 300 ms vs 5 ms per
    batch on 2 shared cores). Run with one thread and restore the caller's setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_toy(out_dir, seed: int = 0, n_rounds: int = 3, progress: bool = False, **overrides) -> dict:
    """Run Algorithm 1 on the toy data; write round PNGs and `toy.json` to `out_dir`; return the
    report (also what `toy.json` holds). `overrides` are other `ToyConfig` fields (steps, sigma,
    n_test, layer_epochs, e2e_epochs, batch_size, lr, alpha, beta, beta_prime)."""
    with _single_thread():
        return _run_toy(out_dir, seed, n_rounds, progress, overrides)


def _run_toy(out_dir, seed: int, n_rounds: int, progress: bool, overrides: dict) -> dict:
    unknown = set(overrides) - (set(ToyConfig.__dataclass_fields__) - {"seed", "n_rounds"})
    if unknown:
        raise ConfigError("toy", f"unknown setting(s) {sorted(unknown)}")
    cfg = ToyConfig(seed=seed, n_rounds=n_rounds, **overrides)
    cfg.validate()
    out = Path(out_dir)
    started = time.perf_counter()

    # The trainer resumes from <out>/train; refuse to mix checkpoints of another configuration.
    # Round r does not depend on the number of rounds, so n_rounds may change (e.g. to extend a run).
    train_dir = out / "train"
    stamp = train_dir / "toy-config.json"
    fingerprint = {k: v for k, v in asdict(cfg).items() if k != "n_rounds"}
    if stamp.exists() and read_json(stamp) != fingerprint:
        raise ConfigError("toy", f"{out} holds a toy run with other settings; use a fresh `out_dir`")
    write_json(stamp, fingerprint)

    x_tr, y_tr, mode_tr, x_te, y_te, _ = make_toy_data(cfg.seed, cfg.sigma, cfg.n_test)
    xs_tr, xs_te = as_sequences(x_tr, cfg.steps), as_sequences(x_te, cfg.steps)
    y_tr_t = torch.from_numpy(y_tr)
    dataset = TensorDataset(xs_tr, y_tr_t, torch.arange(len(y_tr)))
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(cfg.seed))

    torch.manual_seed(cfg.seed)
    backbone = LSTMBackbone(n_mels=DIM // cfg.steps, hidden_size=EMBED_DIM, pooling="last", normalize=True)
    model = Detector(backbone, cluster_layer=ClusterLayer(EMBED_DIM, 1, alpha=cfg.alpha))
    trainer = Trainer(model, train_dir, seed=cfg.seed, progress=progress)

    emb = embed(model, xs_tr)
    rounds = [{"round": 0, "knn1_accuracy": knn1_accuracy(emb, y_tr, embed(model, xs_te), y_te),
               "png": "round_0.png"}]
    plot_round(out / "round_0.png", emb.numpy(), y_tr, None, None, None,
               f"toy: untrained 3-unit LSTM, 1-NN acc {rounds[0]['knn1_accuracy']:.3f}")

    started_round = [0.0]

    def cluster(r: int, emb: torch.Tensor) -> ClusterResult:
        # 1. embed + cluster each class (K_c = floor(I_c / min I)); 2. (run_rounds) layer from centroids
        started_round[0] = time.perf_counter()
        return cluster_per_class(emb, y_tr_t, seed=cfg.seed + r)

    def train_round(r: int, result: ClusterResult, emb: torch.Tensor) -> None:
        loss = TripleHeaderCrossEntropy(result.cluster_class, beta=cfg.beta, beta_prime=cfg.beta_prime)
        objective = cluster_objective(loss, result.assignments)
        # 3. cluster layer only, 4. end to end
        if cfg.layer_epochs:
            trainer.fit(Stage(f"round{r}-layer", objective, layer_parameters, loader,
                              max_epochs=cfg.layer_epochs, patience=None, keep_best=False, lr=cfg.lr))
        if cfg.e2e_epochs:
            trainer.fit(Stage(f"round{r}-e2e", objective, embedding_parameters, loader,
                              max_epochs=cfg.e2e_epochs, patience=None, keep_best=False, lr=cfg.lr))

    def after_round(r: int, result: ClusterResult, emb: torch.Tensor) -> None:
        columns = F.normalize(model.cluster_layer.W.detach().t(), dim=1)
        learned = ClusterResult(columns, result.assignments, result.cluster_class, result.sizes,
                                result.k_per_class)
        large = y_tr == 2
        row = {
            "round": r,
            "knn1_accuracy": knn1_accuracy(emb, y_tr, embed(model, xs_te), y_te),
            "K": int(result.centroids.shape[0]),
            "k_per_class": {CLASS_NAMES[c]: int(k) for c, k in result.k_per_class.items()},
            "cluster_sizes": [int(s) for s in result.sizes],
            "cluster_class": [CLASS_NAMES[int(c)] for c in result.cluster_class],
            "eq3_fraction_round_centroids": satisfies_constraint(emb, result),
            "eq3_fraction_learned_columns": satisfies_constraint(emb, learned),
            "large_class_submodes": submode_agreement(result.assignments.numpy()[large], mode_tr[large]),
            "final_train_loss": {name: res.history[-1]["train_loss"] if res.history else None
                                 for name, res in trainer.results.items() if name.startswith(f"round{r}-")},
            "seconds": round(time.perf_counter() - started_round[0], 2),
            "png": f"round_{r}.png",
        }
        rounds.append(row)
        plot_round(out / row["png"], emb.numpy(), y_tr, result.assignments.numpy(),
                   result.cluster_class.numpy(), columns.numpy(),
                   f"toy round {r}: 1-NN acc {row['knn1_accuracy']:.3f}, "
                   f"Eq 3 {row['eq3_fraction_learned_columns']:.3f}, sizes {row['cluster_sizes']}")

    # The round-0 embeddings are those of the untrained model, as clustered in round 1.
    run_rounds(model, cfg.n_rounds, cfg.alpha, cluster=cluster, train_round=train_round,
               embed=lambda: embed(model, xs_tr), after_round=after_round, emb=emb)

    report = {
        "config": asdict(cfg),
        "input_layout": {"frames": cfg.steps, "features_per_frame": DIM // cfg.steps},
        "class_counts": {n: int(c) for n, c in zip(CLASS_NAMES, CLASS_COUNTS)},
        "n_test": int(len(y_te)),
        "rounds": rounds,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json(out / "toy.json", report)
    return report
