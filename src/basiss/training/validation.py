"""Validation: the loss over valid pixels and the pixel confusion counts at probability 0.5.

Counts are :class:`basiss.evaluation.metrics.Counts`, the same as ``basiss evaluate``
uses, so validation F1 and evaluation F1 follow one set of conventions; a
:class:`Validation` adds over batches, loaders and sources exactly (micro-averaging).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from basiss.data.dataset import IGNORE
from basiss.evaluation.metrics import Counts
from basiss.models import road_probability

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Validation:
    """Loss and confusion counts over the valid pixels of some chips.

    Attributes:
        loss_sum: the loss times the valid pixels of each batch, summed.
        n_valid: valid (not :data:`~basiss.data.dataset.IGNORE`) pixels seen.
        counts: road confusion counts at probability 0.5.
    """

    loss_sum: float = 0.0
    n_valid: int = 0
    counts: Counts = field(default_factory=Counts)

    def __add__(self, other: Validation) -> Validation:
        return Validation(
            self.loss_sum + other.loss_sum, self.n_valid + other.n_valid, self.counts + other.counts
        )

    @property
    def loss(self) -> float:
        """Mean loss per valid pixel (NaN without valid pixels)."""
        return self.loss_sum / self.n_valid if self.n_valid else math.nan

    def metrics(self) -> dict[str, float]:
        """``loss``, ``precision``, ``recall``, ``f1``, ``iou`` and the counts, as floats."""
        c = self.counts
        return {
            "loss": self.loss,
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
            "iou": c.iou,
            "tp": float(c.tp),
            "fp": float(c.fp),
            "fn": float(c.fn),
            "n_valid": float(self.n_valid),
        }


def batch_counts(logits: torch.Tensor, target: torch.Tensor, n_classes: int) -> Counts:
    """Confusion counts of one batch: road where any class's probability exceeds 0.5.

    Pixels marked :data:`~basiss.data.dataset.IGNORE` count nowhere.
    """
    valid = target != IGNORE
    pred = (road_probability(logits, n_classes).amax(dim=1) > 0.5) & valid
    truth = (target >= 1) & valid
    tp = int((pred & truth).sum())
    n_pred, n_true, n_valid = int(pred.sum()), int(truth.sum()), int(valid.sum())
    fp, fn = n_pred - tp, n_true - tp
    return Counts(tp=tp, fp=fp, fn=fn, tn=n_valid - tp - fp - fn)


@torch.no_grad()
def validate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: LossFn,
    n_classes: int,
    device: torch.device,
    channels_last: bool = False,
) -> Validation:
    """Run ``model`` (in eval mode) over ``loader`` and sum loss and counts.

    Args:
        model: the net; left in eval mode.
        loader: batches ``(x, y)`` as :class:`~basiss.data.dataset.ChipDataset` gives them.
        loss_fn: a loss of :mod:`basiss.training.losses` (a mean over valid pixels).
        n_classes: the model's logits channels.
        device: where the model is.
        channels_last: feed the model channels-last tensors.

    Returns:
        The :class:`Validation` of every valid pixel.
    """
    model.eval()
    total = Validation()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        n_valid = int((y != IGNORE).sum())
        if n_valid == 0:
            continue
        logits = model(x)
        part = Validation(
            float(loss_fn(logits, y)) * n_valid, n_valid, batch_counts(logits, y, n_classes)
        )
        total = total + part
    return total
