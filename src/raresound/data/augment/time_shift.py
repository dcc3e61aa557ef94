"""Random time shift of features and frame targets together, in whole target steps.

With frame targets [B, S, L] a step is k = ceil(T / S) frames (the backbone's step_frames, e.g. 4 for
a time-pooled LSTM; 1 when S = T). Each selected example is shifted by n ~ U{-N..N} steps,
N = max_shift // k (max_shift in frames): features move n * k frames, targets n steps, so every
target step keeps covering the same frames. With clip targets [B, L] a step is one frame and the
targets pass through.

mode="roll" (default, as the DCASE baselines) rotates: what leaves one end re-enters at the other, so
no event is lost and clip labels stay true. mode="pad" shifts in zeros (= the normalised mean) and zero
targets; it needs frame targets, since an event shifted out of the clip would keep its clip label.
When T is not a multiple of S, the last step is partial and a roll misplaces the wrapped partial step's
frames by less than one step.
"""

from __future__ import annotations

import torch

from raresound.data.augment.base import ParameterError, Transform, check_choice, check_int, uniform_int

MODES = ("roll", "pad")


def shift_rows(x: torch.Tensor, shifts: torch.Tensor, mode: str) -> torch.Tensor:
    """Row i of x [B, N, ...] shifted by shifts[i] along axis 1 (positive = later in time)."""
    N = x.shape[1]
    pos = torch.arange(N, device=x.device)
    src = pos[None, :] - shifts.to(x.device)[:, None]  # [B, N]: where each output position comes from
    inside = (src >= 0) & (src < N)
    src = src % N
    index = src.view(src.shape + (1,) * (x.ndim - 2)).expand(x.shape)
    out = torch.gather(x, 1, index)
    if mode == "pad":
        keep = inside.view(inside.shape + (1,) * (x.ndim - 2))
        out = torch.where(keep, out, torch.zeros((), dtype=x.dtype, device=x.device))
    return out


class TimeShift(Transform):
    """TimeShift(max_shift=100, mode="roll", p=0.5): shift by up to max_shift frames, in whole steps."""

    def __init__(self, max_shift: int = 100, mode: str = "roll", p: float = 0.5):
        super().__init__(p)
        self.max_shift = check_int(max_shift, "max_shift")
        self.mode = check_choice(mode, "mode", MODES)

    def apply(self, features, targets, selected, generator):
        B, T, _ = features.shape
        frame_targets = targets.ndim == 3
        if self.mode == "pad" and not frame_targets:
            raise ParameterError("mode", "'pad' needs frame targets [B, S, L]; clip targets would keep the "
                                         "label of an event shifted out; use 'roll'")
        step = -(-T // targets.shape[1]) if frame_targets else 1
        n = self.max_shift // step
        steps = uniform_int(-n, n, (B,), generator)
        steps = torch.where(selected.cpu(), steps, torch.zeros_like(steps))
        if not bool(steps.any()):
            return features, targets
        out = shift_rows(features, steps * step, self.mode)
        return out, (shift_rows(targets, steps, self.mode) if frame_targets else targets)
