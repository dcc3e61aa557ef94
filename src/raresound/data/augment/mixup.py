"""Mixup (Zhang et al. 2018) within the batch: a selected example i is mixed with partner perm[i] of a
random permutation of the batch,

    features_i = lam_i * features_i + (1 - lam_i) * features_perm[i],   lam_i ~ Beta(alpha, alpha),

and its targets become the element-wise max of the two (targets="max", the default) or the same convex
combination (targets="linear").

Why max by default: in sound event detection both sounds are audible in the mix whatever lam is (a
0.3-weighted bark is still a bark), so the mixed frames contain both events and their binary frame
targets are the union; a soft 0.3 target would teach the model to under-score quiet events. "linear"
is classic mixup, for soft clip-level objectives. Unselected rows keep lam = 1 (unchanged).

Features are mixed on the normalised log-mel, as the DCASE baselines do; this is not the log-mel of the
summed waveforms (log is not linear), but it is cheap and works as a regulariser. For physically exact
mixtures remix the waveforms (`EventRemix`).

`mixup(features, targets, lam, partner, targets_mode)` is the pure function, for known answers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from raresound.data.augment.base import ParameterError, Transform, check_choice

TARGET_MODES = ("max", "linear")


def mixup(features: Tensor, targets: Tensor, lam: Tensor, partner: Tensor,
          targets_mode: str = "max") -> tuple[Tensor, Tensor]:
    """Mix row i with row partner[i] with weight lam[i] (shape [B]); targets by `targets_mode`."""
    check_choice(targets_mode, "targets", TARGET_MODES)
    lam = lam.to(device=features.device, dtype=features.dtype)
    partner = partner.to(features.device)
    shape = (-1,) + (1,) * (features.ndim - 1)
    mixed = lam.view(shape) * features + (1 - lam.view(shape)) * features[partner]
    other = targets[partner]
    if targets_mode == "max":
        mixed_targets = torch.where((lam < 1).view((-1,) + (1,) * (targets.ndim - 1)),
                                    torch.maximum(targets, other), targets)
    else:
        t_lam = lam.to(targets.dtype).view((-1,) + (1,) * (targets.ndim - 1))
        mixed_targets = t_lam * targets + (1 - t_lam) * other
    return mixed, mixed_targets


class Mixup(Transform):
    """Mixup(alpha=0.2, targets="max", p=0.5)."""

    def __init__(self, alpha: float = 0.2, targets: str = "max", p: float = 0.5):
        super().__init__(p)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0 or not np.isfinite(alpha):
            raise ParameterError("alpha", f"must be a finite number > 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.targets = check_choice(targets, "targets", TARGET_MODES)

    def apply(self, features, targets, selected, generator):
        B = features.shape[0]
        partner = torch.randperm(B, generator=generator)
        # torch has no seeded Beta sampler: a NumPy generator seeded from `generator` draws lam.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        lam = torch.from_numpy(np.random.default_rng(seed).beta(self.alpha, self.alpha, size=B))
        lam = torch.where(selected.cpu(), lam, torch.ones_like(lam))
        return mixup(features, targets, lam, partner, self.targets)
