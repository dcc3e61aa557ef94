"""Bridge between the detection targets (multi-hot [B, L]) and softmax losses over L+1 classes.

Convention (used by every softmax loss in raresound): the background class is the LAST index, L.
Event l keeps index l, so event columns of a softmax output line up with the sigmoid outputs and
`softmax_event_scores` is a plain slice. A clip carries at most one event; a multi-hot row with
two events cannot be turned into one softmax label and raises DataError.
"""

from __future__ import annotations

import torch
from torch import Tensor

from raresound.errors import DataError
from raresound.losses.base import as_float


def to_single_label(targets: Tensor) -> Tensor:
    """Multi-hot targets [B, L] (0/1) -> class indices LongTensor[B]; all-zero row -> L (background)."""
    if targets.dim() != 2:
        raise DataError(f"targets must be [B, L] multi-hot, got shape {tuple(targets.shape)}")
    n_events = targets.shape[1]
    positives = targets > 0.5
    per_row = positives.sum(dim=1)
    if bool((per_row > 1).any()):
        row = int(torch.nonzero(per_row > 1)[0, 0])
        raise DataError(f"targets row {row} has {int(per_row[row])} events; softmax losses need at most one")
    labels = positives.long().argmax(dim=1)
    return torch.where(per_row == 0, torch.full_like(labels, n_events), labels)


def as_class_index(targets: Tensor, n_classes: int) -> Tensor:
    """Accept either class indices LongTensor[B] or multi-hot [B, n_classes-1]; return indices [B]."""
    if targets.dim() == 2:
        if targets.shape[1] != n_classes - 1:
            raise DataError(
                f"multi-hot targets have {targets.shape[1]} columns, expected {n_classes - 1} (L events)"
            )
        return to_single_label(targets)
    if targets.dim() != 1 or targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise DataError(f"targets must be class indices [B] or multi-hot [B, L], got {targets.dtype} {tuple(targets.shape)}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= n_classes):
        raise DataError(f"class index out of range [0, {n_classes})")
    return targets.long()


def softmax_event_scores(logits: Tensor) -> Tensor:
    """Logits [B, L+1] -> per-event detection scores [B, L]: the softmax probability of each event.

    The background probability (last column) is dropped; it equals 1 - sum of the event scores.
    """
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise DataError(f"logits must be [B, L+1] with L >= 1, got shape {tuple(logits.shape)}")
    return torch.softmax(logits, dim=1)[:, :-1]


def class_counts_with_background(targets: Tensor) -> Tensor:
    """Multi-hot targets [N, L] -> counts LongTensor[L+1] (events, then background last)."""
    labels = to_single_label(targets)
    return torch.bincount(labels, minlength=targets.shape[1] + 1)


def softmax_inputs(logits: Tensor, targets: Tensor, n_classes: int) -> tuple[Tensor, Tensor]:
    """Shared entry check of the softmax losses: float logits [B, L+1] and class indices [B]."""
    if logits.shape[1] != n_classes:
        raise DataError(f"logits have {logits.shape[1]} columns, expected L+1 = {n_classes}")
    return as_float(logits), as_class_index(targets, n_classes)
