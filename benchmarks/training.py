"""Training pipeline overhead: a full epoch from the feature store vs the model's own compute.

Both sides train the paper LSTM (1 layer, 128 units, 1000 x 64 inputs) with Adam and the
class-weighted BCE on the same clips in batches of 64, in this one process:

  store:  the real Trainer.fit over one epoch — StoreDataset (float16 memmap gather), normalisation,
          DataLoader with the (Distributed)Sampler, the loop, loss, checkpoint at the epoch end;
  model:  the same number of forward+backward+step on tensors already normalised in memory.

Rounds alternate store / model so load drift on a shared machine hits both; the best round of each
is compared. Goal: store clips/s / model clips/s >= 0.9. Both are measured at each of --threads
(default 1 and 2), and the step rates are printed side by side with their ratio: on a busy host a
second intra-op thread can make a step slower, which is why training takes a share of the cores
(raresound.training.threads).

    python benchmarks/training.py --clips 512 --threads 1 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from raresound.bundle import build_model
from raresound.losses.weighted_bce import ClassWeightedBCE
from raresound.training.config import config_from_dict
from raresound.training.data import load_training_data, loader
from raresound.training.loop import Stage, Trainer
from raresound.training.recipes import detection_objective, model_spec

sys.path.insert(0, str(Path(__file__).parent))
from scale import write_store  # noqa: E402  (same synthetic store format)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="raresound-trainbench-") as tmp:
        tmp = Path(tmp)
        store = write_store(tmp / "store", args.clips, 1000, 64, val_clips=64)
        data = load_training_data(store)
        cfg = config_from_dict({"model": {"backbone": "lstm", "hidden_size": 128}})
        spec = model_spec(cfg, len(data.classes), 1000, 64)
        objective = detection_objective(ClassWeightedBCE(torch.as_tensor(data.class_counts())))
        n = len(data.train)
        # the model side: every clip normalised and in memory, same batches
        x_all = data.train.rows(range(n))
        y_all = torch.as_tensor(data.train.targets)
        print(f"torch {torch.__version__}, threads {args.threads}; LSTM-128, {n} clips x 1000 x 64, "
              f"batch {args.batch_size}, {-(-n // args.batch_size)} batches per epoch")

        def store_epoch(run: str) -> float:
            torch.manual_seed(0)
            model = build_model(spec)
            stage = Stage("epoch", objective, lambda m: list(m.parameters()),
                          loader(data.train, args.batch_size, True, 0), max_epochs=1, patience=None, keep_best=False)
            t0 = time.perf_counter()
            Trainer(model, tmp / run, progress=False).fit(stage)  # a fresh run: nothing to resume
            return n / (time.perf_counter() - t0)

        def model_epoch() -> float:
            torch.manual_seed(0)
            model = build_model(spec)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            model.train()
            perm = torch.randperm(n)
            t0 = time.perf_counter()
            for start in range(0, n, args.batch_size):
                idx = perm[start:start + args.batch_size]
                loss = objective(model, (x_all[idx], y_all[idx], idx))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return n / (time.perf_counter() - t0)

        def measure(threads: int) -> tuple[float, float]:
            torch.set_num_threads(threads)
            warm = build_model(spec)  # first-call costs (allocator, kernels) paid by neither side
            objective(warm, (x_all[:args.batch_size], y_all[:args.batch_size], None)).backward()
            store_rates, model_rates = [], []
            for r in range(args.rounds):  # alternate which side goes first
                if r % 2:
                    model_rates.append(model_epoch())
                    store_rates.append(store_epoch(f"run{threads}-{r}"))
                else:
                    store_rates.append(store_epoch(f"run{threads}-{r}"))
                    model_rates.append(model_epoch())
                print(f"[{threads} threads] round {r + 1}: store epoch {store_rates[-1]:.2f} clips/s, in-memory "
                      f"model {model_rates[-1]:.2f} clips/s (ratio {store_rates[-1] / model_rates[-1]:.3f})")
            s, m = max(store_rates), max(model_rates)
            ratio = s / m
            print(f"[{threads} threads] best: store epoch {s:.2f} clips/s vs model fwd+bwd {m:.2f} clips/s -> "
                  f"ratio {ratio:.3f} (goal >= 0.9: {'OK' if ratio >= 0.9 else 'BELOW'})")
            return s, m

        best = {t: measure(t) for t in args.threads}  # threads -> (store, model) clips/s
        base = args.threads[0]
        cells = [f"{t} threads: store {st / args.batch_size:.3f}, model {mo / args.batch_size:.3f}"
                 for t, (st, mo) in best.items()]
        ratios = [f"{t}/{base} threads: store x{best[t][0] / best[base][0]:.2f}, model x{best[t][1] / best[base][1]:.2f}"
                  for t in args.threads if t != base]
        print("step rate (steps/s): " + " | ".join(cells + ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
