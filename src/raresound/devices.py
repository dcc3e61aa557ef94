"""Device names: the ones every model-running command takes, and what "auto" picks.

One list for the recipe's `training.device` and for loading a bundle (`bundle.check_device`), so
`--device` takes the same values in every command (`commands._flags.add_device_option`).
torch is imported only when "auto" is resolved: the command line lists the choices without it.
"""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


def auto_device(name: str) -> str:
    """`name`, with "auto" replaced by cuda when a CUDA device is available, else cpu."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
