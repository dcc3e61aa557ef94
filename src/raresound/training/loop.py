"""The one training loop. Every method is a sequence of `Stage`s run by `Trainer.fit`.

A stage says *what* to optimise (an objective over a batch, which parameters are trainable, how many
epochs, whether to early-stop on validation loss); the trainer does the rest: seeding, DDP wrapping,
progress bar, per-epoch metrics, atomic checkpoints every epoch, best-validation selection, resume.
Algorithm 1's pieces plug in as stages (cluster layer only / end to end / head only / fine-tune) with
`before_epoch` hooks (e.g. deferred re-weighting), so no recipe copies this loop.

Resume is exact: the RNG state at the start of each epoch is a pure function of
(seed, stage name, epoch), so continuing from an epoch checkpoint replays the same batches,
dropout masks and updates as an unbroken run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from raresound.errors import DataError, TrainingError
from raresound.evaluation.eer import mean_eer
from raresound.io import write_text
from raresound.progress import progress_bar
from raresound.runs import RunDir
from raresound.training import distributed as dist
from raresound.training.checkpoint import checkpoint_exists, load_checkpoint, read_meta, save_checkpoint

Objective = Callable[[nn.Module, tuple], Tensor]


class OutputSelector(nn.Module):
    """Routes `forward(x, output=...)` to the detector's methods, so DDP (which only syncs
    gradients through `forward`) can wrap every kind of objective: logits, embedding, cluster logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, output: str = "logits") -> Tensor:
        if output == "logits":
            return self.model(x)
        if output == "embedding":
            return self.model.embed(x)
        if output == "cluster":
            return self.model.cluster_logits(x)
        if output == "frames":
            return self.model.frame_logits(x)
        if output == "frames+logits":
            return self.model.frame_and_clip_logits(x)
        raise ValueError(f"unknown output {output!r}")


@dataclass
class Stage:
    name: str
    objective: Objective  # (net, batch) -> scalar loss; net(x, output="logits"|"embedding"|"cluster")
    parameters: Callable[[nn.Module], Iterable[nn.Parameter]]  # trainable params of the raw model
    train_loader: Iterable
    val_loader: Optional[Iterable] = None
    max_epochs: int = 100
    patience: Optional[int] = 10  # None: run all epochs (still logs validation loss)
    keep_best: bool = True  # end the stage on the best-validation weights
    lr: float = 1e-3
    weight_decay: float = 0.0
    val_objective: Optional[Objective] = None  # defaults to `objective`
    # Detection stages: (net, batch) -> (val loss, event scores [B, L]) from one forward pass, with
    # batches (x, y [B, L], idx); the trainer then logs each epoch's validation EER as `val_eer`.
    val_scores: Optional[Callable[[nn.Module, tuple], tuple[Tensor, Tensor]]] = None
    before_epoch: Optional[Callable[[int], None]] = None  # e.g. DRW weights, sampler epochs
    lr_factor: Optional[Callable[[int], float]] = None  # epoch -> multiple of `lr` (a schedule; resumable)
    grad_clip: Optional[float] = None  # clip the gradient norm of the trainable parameters


@dataclass
class StageResult:
    name: str
    epochs: int
    best_epoch: int
    best_val: float
    stopped_early: bool
    history: list = field(default_factory=list)


def _resume_state(state: dict, max_epochs: int, where: Path) -> dict:
    """The trainer state read from an epoch checkpoint, checked: it is input, and a negative or
    huge epoch would silently skip or repeat training."""
    def count(name: str, low: int, high: int) -> int:
        value = state[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise DataError(f"{where}: {name} must be an integer in [{low}, {high}], got {value!r}; "
                            "delete the checkpoint to start that stage again")
        return value

    epoch = count("epoch", 0, max_epochs)
    count("best_epoch", -1, epoch - 1)
    count("bad_epochs", 0, epoch)
    best = state["best_val"]
    if isinstance(best, bool) or not isinstance(best, (int, float)) or math.isnan(best):
        raise DataError(f"{where}: best_val must be a number, got {best!r}")
    history = state["history"]
    if not isinstance(history, list) or len(history) != epoch or not all(isinstance(r, dict) for r in history):
        raise DataError(f"{where}: history must list one record per finished epoch ({epoch})")
    return state


def epoch_seed(seed: int, stage: str, epoch: int) -> int:
    digest = hashlib.sha256(f"{seed}/{stage}/{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def _set_loader_epoch(loader, epoch: int, seed: int) -> None:
    for obj in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if obj is not None and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
    generator = getattr(loader, "generator", None)
    if generator is not None:
        generator.manual_seed(seed)


def _to_device(batch, device):
    return tuple(b.to(device, non_blocking=True) if torch.is_tensor(b) else b for b in batch)


class Trainer:
    """Runs stages on one model inside a run directory; rank 0 writes, every rank computes."""

    def __init__(
        self,
        model: nn.Module,
        run_dir: str | Path,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = True,
        max_train_batches: Optional[int] = None,
        amp: str = "none",
        on_stage_end: Optional[Callable[[], None]] = None,
    ):
        self.model = model.to(device)
        self.run_dir = Path(run_dir)
        self.layout = RunDir(self.run_dir)  # its metrics.jsonl and stages/ (a run's, or a bundle's training/)
        self.seed = seed
        self.device = torch.device(device)
        self.progress = progress and dist.is_main()
        self.max_train_batches = max_train_batches
        self.amp = amp
        # fp16 gradients underflow without loss scaling; bf16 (and fp32) need none
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16" and self.device.type == "cuda")
        self.results: dict[str, StageResult] = {}
        self.on_stage_end = on_stage_end  # rank 0, after a stage's final checkpoint (e.g. redraw curves)

    # ----------------------------------------------------------------- helpers
    def _autocast(self):
        if self.amp == "none":
            return torch.autocast(device_type=self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _wrap(self) -> nn.Module:
        net: nn.Module = OutputSelector(self.model)
        if dist.is_distributed():
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids, find_unused_parameters=True)
        return net

    def _freeze(self, trainable: list[nn.Parameter]) -> None:
        ids = {id(p) for p in trainable}
        for p in self.model.parameters():
            p.requires_grad_(id(p) in ids)

    def _set_modes(self) -> None:
        """Train mode for children being trained; frozen children stay in eval mode so that their
        BatchNorm statistics and dropout do not drift while only another part is optimised."""
        self.model.train()
        for child in self.model.children():
            params = list(child.parameters())
            if params and not any(p.requires_grad for p in params):
                child.eval()

    def _write_metrics(self) -> None:
        """Regenerate metrics.jsonl from every stage's checkpointed history (consistent after resume)."""
        if not dist.is_main():
            return
        lines = []
        for name in self._stage_order():
            stem = self.layout.stage(name) / "last"
            if checkpoint_exists(stem):
                for row in read_meta(stem).get("history", []):
                    lines.append(json.dumps({"stage": name, **row}, sort_keys=True))
        write_text(self.layout.metrics, "\n".join(lines) + ("\n" if lines else ""))

    def _stage_order(self) -> list[str]:
        path = self.layout.stage_order
        return json.loads(path.read_text()) if path.exists() else []

    def _register_stage(self, name: str) -> None:
        order = self._stage_order()
        if name not in order and dist.is_main():
            order.append(name)
            write_text(self.layout.stage_order, json.dumps(order))

    # ----------------------------------------------------------------- epochs
    def _train_epoch(self, net, stage: Stage, optimizer, epoch: int) -> float:
        self._set_modes()
        total, count = 0.0, 0
        batches = stage.train_loader
        n_batches = len(batches) if hasattr(batches, "__len__") else None
        if self.max_train_batches is not None and n_batches is not None:
            n_batches = min(n_batches, self.max_train_batches)
        bar = progress_bar(self.progress, total=n_batches, desc=f"{stage.name} ep {epoch + 1}", leave=False)
        for i, batch in enumerate(batches):
            if self.max_train_batches is not None and i >= self.max_train_batches:
                break
            batch = _to_device(batch, self.device)
            with self._autocast():
                loss = stage.objective(net, batch)
            if not torch.isfinite(loss.detach()).all():
                raise TrainingError(
                    f"stage '{stage.name}' epoch {epoch + 1} batch {i + 1}: loss is {loss.item()} "
                    f"(non-finite); the last good checkpoint is kept in {self.layout.stage(stage.name)}"
                )
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if stage.grad_clip is not None:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                               stage.grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
            n = batch[0].shape[0]
            total += loss.item() * n
            count += n
            bar.update(1)
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        bar.close()
        sums = dist.all_reduce_sum(torch.tensor([total, float(count)], dtype=torch.float64))
        return float(sums[0] / max(sums[1], 1.0))

    @torch.no_grad()
    def _validate(self, net, stage: Stage) -> tuple[float, Optional[float]]:
        """(val loss, val EER); the EER is None unless the stage gives detection scores."""
        if stage.val_loader is None:
            return math.nan, None
        self.model.eval()
        objective = stage.val_objective or stage.objective
        total, count = 0.0, 0
        scored = []  # (scores, targets, idx) per batch of a detection stage
        for batch in stage.val_loader:
            batch = _to_device(batch, self.device)
            with self._autocast():
                if stage.val_scores is None:
                    loss = objective(net, batch)
                else:
                    loss, scores = stage.val_scores(net, batch)
                    scored.append((scores.float(), batch[1].float(), batch[2]))
            n = batch[0].shape[0]
            total += float(loss) * n
            count += n
        # Every rank sees the same all-reduced value, so early stopping is decided identically.
        sums = dist.all_reduce_sum(torch.tensor([total, float(count)], dtype=torch.float64))
        val_eer = self._val_eer(scored) if stage.val_scores is not None else None
        return float(sums[0] / max(sums[1], 1.0)), val_eer

    @staticmethod
    def _val_eer(scored: list) -> float:
        """Mean-over-classes EER of the whole validation split: every rank's shard gathered, and the
        clips a DistributedSampler repeats to even out the shards counted once (by index)."""
        if not scored:
            return math.nan
        scores, targets, idx = (torch.cat(parts) for parts in zip(*scored))
        rows = dist.all_gather_rows(torch.cat([idx[:, None].double(), scores.double(), targets.double()], dim=1))
        _, first = np.unique(rows[:, 0].cpu().numpy(), return_index=True)
        rows = rows[torch.as_tensor(first)].cpu().numpy()
        n_classes = scores.shape[1]
        return mean_eer(rows[:, 1:1 + n_classes], rows[:, 1 + n_classes:])

    # ----------------------------------------------------------------- stage
    def fit(self, stage: Stage) -> StageResult:
        folder = self.layout.stage(stage.name)
        final = folder / "final"
        if checkpoint_exists(final):  # finished in an earlier run: never retrained
            meta = load_checkpoint(final, self.model, map_location=self.device, required=("result",))
            try:
                result = StageResult(**meta["result"])
            except TypeError:
                raise DataError(f"{final.with_suffix('.json')}: 'result' does not describe a finished stage; "
                                "delete it to train that stage again") from None
            self.results[stage.name] = result
            return result

        self._register_stage(stage.name)
        trainable = [p for p in stage.parameters(self.model)]
        if not trainable:
            raise TrainingError(f"stage '{stage.name}' has no trainable parameters")
        self._freeze(trainable)
        optimizer = torch.optim.Adam(trainable, lr=stage.lr, weight_decay=stage.weight_decay)
        state = {"epoch": 0, "best_val": math.inf, "best_epoch": -1, "bad_epochs": 0, "history": []}
        last = folder / "last"
        if checkpoint_exists(last):
            meta = load_checkpoint(last, self.model, optimizer, map_location=self.device, required=tuple(state))
            state = _resume_state({k: meta[k] for k in state}, stage.max_epochs, last.with_suffix(".json"))
            if self.scaler.is_enabled() and "grad_scaler" in meta:
                self.scaler.load_state_dict(meta["grad_scaler"])
        net = self._wrap()

        def patience_spent() -> bool:
            return stage.patience is not None and state["bad_epochs"] >= stage.patience

        stopped_early = patience_spent()
        while state["epoch"] < stage.max_epochs and not stopped_early:
            epoch = state["epoch"]
            seed = epoch_seed(self.seed, stage.name, epoch)
            # Dropout etc. draw from the global RNG: each rank its own stream (rank 0's is the
            # single-process one), every stream a pure function of (seed, stage, epoch, rank).
            torch.manual_seed(seed if dist.rank() == 0 else epoch_seed(self.seed, f"{stage.name}@{dist.rank()}", epoch))
            _set_loader_epoch(stage.train_loader, epoch, seed)
            if stage.before_epoch is not None:
                stage.before_epoch(epoch)
            lr = stage.lr * (stage.lr_factor(epoch) if stage.lr_factor is not None else 1.0)
            for group in optimizer.param_groups:
                group["lr"] = lr
            started = time.perf_counter()
            train_loss = self._train_epoch(net, stage, optimizer, epoch)
            val_loss, val_eer = self._validate(net, stage)
            if stage.val_loader is not None and not math.isfinite(val_loss):
                # Checked before anything is saved: "last" stays the previous (finite) epoch, and
                # selection never falls back to the training loss of diverged weights.
                raise TrainingError(
                    f"stage '{stage.name}' epoch {epoch + 1}: validation loss is {val_loss} (non-finite); "
                    f"the last good checkpoint is kept in {self.layout.stage(stage.name)}"
                )
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
                   "seconds": round(time.perf_counter() - started, 3)}
            if val_eer is not None:
                row["val_eer"] = val_eer
            state["history"].append(row)
            score = val_loss if not math.isnan(val_loss) else train_loss
            improved = score < state["best_val"]
            if improved:
                state.update(best_val=score, best_epoch=epoch, bad_epochs=0)
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch + 1
            if dist.is_main():
                if improved:
                    save_checkpoint(folder / "best", self.model, meta={"epoch": epoch + 1, "val_loss": score})
                extra = {"grad_scaler": self.scaler.state_dict()} if self.scaler.is_enabled() else {}
                save_checkpoint(last, self.model, optimizer, meta={**state, **extra})
                self._write_metrics()
            dist.barrier()
            if self.progress:
                eer_text = f" EER {100 * val_eer:.1f}%" if val_eer is not None else ""
                tqdm.write(f"[{stage.name}] epoch {epoch + 1}/{stage.max_epochs} "
                           f"train {train_loss:.4f} val {val_loss:.4f}{eer_text}{' *' if improved else ''}")
            stopped_early = patience_spent()

        if stage.keep_best and checkpoint_exists(folder / "best"):
            load_checkpoint(folder / "best", self.model, map_location=self.device)
        result = StageResult(stage.name, state["epoch"], state["best_epoch"] + 1, state["best_val"],
                             stopped_early, state["history"])
        if dist.is_main():
            save_checkpoint(final, self.model, meta={"result": dataclasses.asdict(result)})
            if self.on_stage_end is not None:
                self.on_stage_end()
        dist.barrier()
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.results[stage.name] = result
        return result
