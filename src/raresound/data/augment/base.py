"""The base of every feature-level transform: a probability `p` and one call contract.

    features, targets = transform(features, targets, generator)

* `features`: float tensor [B, T, M], normalised log-mel (T frames x M mel bands);
* `targets`: float tensor of frame targets [B, S, L] (S steps of T / S frames each; S may be T) or of
  clip targets [B, L];
* `generator`: a `torch.Generator` (CPU); every random draw comes from it, so an epoch seeded the same
  way is augmented the same way (reproducible, resumable).

`p` is drawn per example: each row of the batch is transformed with probability p, independently.
Inputs are never written into; a transform that changes nothing may return its inputs themselves.
Subclasses implement `apply(features, targets, selected, generator)`, where `selected` is a bool
tensor [B] of the rows to transform.

Bad constructor arguments raise `ParameterError` (a ValueError naming the parameter, as models do);
`build_augmentation` turns it into a ConfigError naming the dotted config field.
"""

from __future__ import annotations

import torch
from torch import Tensor

from raresound.models.errors import ParameterError

__all__ = ["ParameterError", "Transform", "check_probability", "check_int", "check_choice", "uniform_int"]


def check_probability(p: float, name: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ParameterError(name, f"must be a probability in [0, 1], got {p!r}")
    return float(p)


def check_int(value: int, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(name, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(value: str, name: str, choices) -> str:
    if value not in choices:
        raise ParameterError(name, f"must be one of {list(choices)}, got {value!r}")
    return value


def uniform_int(low: Tensor | int, high: Tensor | int, shape, generator: torch.Generator) -> Tensor:
    """Integers uniform in [low, high] (inclusive; tensors broadcast), from `generator`."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    low = torch.as_tensor(low, dtype=torch.float64)
    high = torch.as_tensor(high, dtype=torch.float64)
    return torch.minimum(low + torch.floor(u * (high - low + 1)), high).long()


class Transform:
    """Base class: `p` and the batch contract (module doc)."""

    def __init__(self, p: float = 0.5):
        self.p = check_probability(p)

    def __call__(self, features: Tensor, targets: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if features.ndim != 3:
            raise ParameterError("features", f"must be [B, T, M], got shape {tuple(features.shape)}")
        if targets.ndim not in (2, 3) or targets.shape[0] != features.shape[0]:
            raise ParameterError("targets", f"must be [B, S, L] or [B, L] with B = {features.shape[0]}, "
                                            f"got shape {tuple(targets.shape)}")
        if self.p == 0.0 or features.shape[0] == 0:
            return features, targets
        selected = torch.rand(features.shape[0], generator=generator) < self.p
        if not bool(selected.any()):
            return features, targets
        return self.apply(features, targets, selected.to(features.device), generator)

    def apply(self, features: Tensor, targets: Tensor, selected: Tensor,
              generator: torch.Generator) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"
