"""Device names: what a recipe's `training.device` takes (DEVICES), what every model-running
command's `--device` takes (`device_name`, used by `commands._flags.add_device_option`), and what
"auto" picks (`auto_device`, shared by the trainer and `bundle.check_device`).
torch is imported only when "auto" is resolved: the command line checks names without it.
"""

from __future__ import annotations

import argparse
import re

DEVICES = ("auto", "cpu", "cuda")  # what a recipe's training.device takes (DDP picks cuda:<local rank>)
# The command line also takes one GPU by index and Apple's mps: loading a bundle takes any torch device.
DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def device_name(text: str) -> str:
    """argparse type of --device: auto, cpu, cuda, cuda:N or mps."""
    if not DEVICE_NAME.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (auto, cpu, cuda, cuda:N or mps)")
    return text


def auto_device(name: str) -> str:
    """`name`, with "auto" replaced by cuda when a CUDA device is available, else cpu."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
