"""Thin helpers over torch.distributed (launched by `torchrun`; nothing home-made).

Every helper is a no-op in a single process, so the same training code runs with or without DDP.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Only rank 0 writes checkpoints, logs and plots."""
    return rank() == 0


def init_from_env(device: str = "cpu") -> bool:
    """Initialise the process group when launched by torchrun (WORLD_SIZE > 1). NCCL on CUDA, gloo on CPU."""
    if is_distributed() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return is_distributed()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):  # before the group exists, so NCCL binds this rank's GPU
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def destroy() -> None:
    """Tear the process group down (end of a torchrun job); no-op in a single process."""
    if is_distributed():
        dist.destroy_process_group()


def _comm_device(t: torch.Tensor) -> torch.device:
    """NCCL only moves CUDA tensors; gloo takes CPU (and CUDA) tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return t.device


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        out = t.to(_comm_device(t), copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        t = out.to(t.device)
    return t


def all_gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Concatenate a [n_r, ...] tensor from every rank (n_r may differ) along dim 0, in rank order."""
    if not is_distributed():
        return t
    home, t = t.device, t.to(_comm_device(t))
    n = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(world_size())]
    dist.all_gather(sizes, n)
    max_n = int(max(s.item() for s in sizes))
    padded = torch.zeros((max_n, *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[: t.shape[0]] = t
    out = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(out, padded)
    return torch.cat([o[: int(s.item())] for o, s in zip(out, sizes)], dim=0).to(home)


def broadcast(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    if is_distributed():
        dist.broadcast(t, src=src)
    return t


def broadcast_object(obj, src: int = 0):
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
