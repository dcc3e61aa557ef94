"""The paper CNN on CPU: training-step time (forward + backward + Adam) of one batch of 64 x 1000 x 64
for each variant, and how far the fast variants' outputs and gradients are from plain fp32.

Variants: plain fp32 (NCHW) | channels_last (PaperCNN(channels_last=True), NHWC activations for
oneDNN) | bf16 autocast (torch.autocast("cpu", bfloat16), what `training.amp: bf16` does) |
channels_last + bf16. Each is timed for every thread count in --threads (median of --reps steps
after one warm-up). Accuracy: the same weights and input in eval mode (no dropout) -> max |diff| of
the L2-normalised embedding and the relative L2 difference of the conv1 weight gradient against
fp32 NCHW; and the sign agreement of the gradients. LSTM step time is measured alongside for
scale (same batch).

    .venv/bin/python benchmarks/cnn_cpu.py [--threads 1 2] [--reps 3] [--batch 64] [--variants ...]
                                           [--no-lstm] [--no-accuracy] [--json out.json]

Timings on a shared machine are noisy: the script prints the load average next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from raresound.io import write_json
from raresound.models.backbones import LSTMBackbone, PaperCNN

VARIANTS = {
    "fp32": {"channels_last": False, "bf16": False},
    "channels_last": {"channels_last": True, "bf16": False},
    "bf16": {"channels_last": False, "bf16": True},
    "channels_last+bf16": {"channels_last": True, "bf16": True},
}


def build(channels_last: bool, state=None) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential()
    net.add_module("backbone", PaperCNN(channels_last=channels_last))
    net.add_module("head", torch.nn.Linear(512, 3))
    if state is not None:
        net.load_state_dict(state)
    return net


def autocast(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def time_steps(net, x, y, bf16: bool, reps: int) -> list[float]:
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    times = []
    for i in range(reps + 1):
        t = time.perf_counter()
        with autocast(bf16):
            loss = loss_fn(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:  # first step is the warm-up (oneDNN primitive creation, allocator)
            times.append(time.perf_counter() - t)
    return times


def accuracy(x, y, state) -> dict:
    """Embedding and gradient differences vs fp32 NCHW, same weights, eval mode."""
    out = {}
    ref = None
    for name, v in VARIANTS.items():
        net = build(v["channels_last"], state).eval()
        net.zero_grad()
        with autocast(v["bf16"]):
            e = net.backbone(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net.head(e).float(), y)
        loss.backward()
        g = net.backbone.features[0].weight.grad.detach().float().clone()
        e = e.detach().float()
        if ref is None:
            ref = (e, g)
            continue
        out[name] = {
            "embedding_max_abs_diff": float((e - ref[0]).abs().max()),
            "grad_rel_l2_diff": float((g - ref[1]).norm() / ref[1].norm()),
            "grad_sign_agreement": float((torch.sign(g) == torch.sign(ref[1])).float().mean()),
        }
    return out


def lstm_step(x, reps: int) -> list[float]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(LSTMBackbone(), torch.nn.Linear(128, 3))
    return time_steps(net, x, torch.zeros(x.shape[0], 3), False, reps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--no-lstm", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--no-accuracy", action="store_true")
    args = ap.parse_args()

    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 1000, 64, generator=g)
    y = (torch.rand(args.batch, 3, generator=g) < 0.2).float()
    state = build(False).state_dict()
    results = {"batch": args.batch, "bf16_supported_by_cpu": torch.backends.mkldnn.is_available(),
               "cpu_capability": torch.backends.cpu.get_cpu_capability(), "timings": {}}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name in args.variants:
            v = VARIANTS[name]
            times = time_steps(build(v["channels_last"], state), x, y, v["bf16"], args.reps)
            key = f"cnn {name} threads={threads}"
            results["timings"][key] = {"median_s": statistics.median(times), "all_s": [round(t, 3) for t in times],
                                       "load_avg": os.getloadavg()[0]}
            print(f"{key:40s} {statistics.median(times):7.2f} s/step  (steps {[round(t, 2) for t in times]}, "
                  f"load {os.getloadavg()[0]:.1f})", flush=True)
        if not args.no_lstm:
            times = lstm_step(x, args.reps)
            key = f"lstm fp32 threads={threads}"
            results["timings"][key] = {"median_s": statistics.median(times), "all_s": [round(t, 3) for t in times],
                                       "load_avg": os.getloadavg()[0]}
            print(f"{key:40s} {statistics.median(times):7.2f} s/step  (steps {[round(t, 2) for t in times]})", flush=True)
    torch.set_num_threads(args.threads[0])
    results["accuracy_vs_fp32"] = {} if args.no_accuracy else accuracy(x[:16], y[:16], state)
    for name, r in results["accuracy_vs_fp32"].items():
        print(f"{name:20s} embedding max|diff| {r['embedding_max_abs_diff']:.2e}  grad rel L2 diff "
              f"{r['grad_rel_l2_diff']:.2e}  grad sign agreement {r['grad_sign_agreement']:.3f}")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
