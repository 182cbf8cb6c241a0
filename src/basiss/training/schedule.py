"""Optimizer and learning-rate schedule of a run.

The cosine schedule runs from ``lr`` down to ``lr / 100`` (after a short linear warm-up)
over the run's *progress*, the larger of the fraction of epochs done and the fraction of
the time budget used, so a time-boxed run still ends at a small learning rate. The plateau
schedule halves the rate when the monitored score stalls instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from basiss.training.kinds import Optimizer, Schedule

#: Weight decay when none is given: AdamW's customary 1e-2, none for the others.
DEFAULT_WEIGHT_DECAY = {Optimizer.SGD: 0.0, Optimizer.ADAM: 0.0, Optimizer.ADAMW: 1e-2}

Plateau = torch.optim.lr_scheduler.ReduceLROnPlateau


def cosine_lr(base: float, progress_: float, step: int, warmup_steps: int = 50) -> float:
    """Cosine from ``base`` (progress 0) to ``base / 100`` (progress 1), linear warm-up."""
    p = min(max(progress_, 0.0), 1.0)
    lr = base * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * p)))
    if step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr


def warmup_steps(epochs: int, chips_per_epoch: int, batch_size: int) -> int:
    """Warm-up length: 5% of the planned steps, between 1 and 50."""
    planned = epochs * math.ceil(chips_per_epoch / batch_size)
    return max(1, min(50, int(0.05 * planned)))


def make_optimizer(
    kind: Optimizer,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    weight_decay: float | None = None,
) -> torch.optim.Optimizer:
    """SGD (momentum 0.9), Adam or AdamW; ``weight_decay`` None = :data:`DEFAULT_WEIGHT_DECAY`."""
    wd = DEFAULT_WEIGHT_DECAY[kind] if weight_decay is None else weight_decay
    if kind is Optimizer.SGD:
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if kind is Optimizer.ADAMW:
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


def make_plateau(kind: Schedule, optimizer: torch.optim.Optimizer, patience: int) -> Plateau | None:
    """The halve-on-plateau scheduler (waiting half the early-stopping patience), or None."""
    if kind is not Schedule.PLATEAU:
        return None
    return Plateau(optimizer, factor=0.5, patience=max(1, patience // 2))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr
