"""Compose([t1, t2, ...]): the transforms applied in order, with the same generator. Compose([]) is the
identity (returns its inputs)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class Compose:
    def __init__(self, transforms: Sequence = ()):
        self.transforms = list(transforms)

    def __call__(self, features: Tensor, targets: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        for t in self.transforms:
            features, targets = t(features, targets, generator)
        return features, targets

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self):
        return iter(self.transforms)

    def __bool__(self) -> bool:
        return True  # an empty chain is still a (identity) transform

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
