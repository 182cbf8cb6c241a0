"""Segmentation losses over road masks, with ignored pixels.

Every loss takes logits ``(N, C, H, W)`` and a target ``(N, H, W)`` of uint8
or int values: 0 = background, 1 = road (class index for ``C > 2``) and
:data:`basiss.data.dataset.IGNORE` (255) for pixels outside the image, which count
nowhere. ``C == 1`` is a sigmoid road channel; ``C >= 2`` is softmax over
classes (the seed's background + road: cross-entropy).

Names: ``bce`` (the seed's default; cross-entropy when ``C >= 2``),
``dice`` (soft Dice of the road channel), ``bce+dice`` (their sum) and
``focal`` (focal loss, gamma 2, Lin et al. 2017).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from basiss.data.dataset import IGNORE
from basiss.errors import BasissError
from basiss.models import road_probability
from basiss.training.kinds import Loss, values

#: The loss spellings, in the order of :class:`~basiss.training.kinds.Loss`.
LOSSES = values(Loss)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _valid(target: torch.Tensor) -> torch.Tensor:
    return target != IGNORE


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary (C == 1) or categorical (C >= 2) cross-entropy over valid pixels."""
    valid = _valid(target)
    if logits.shape[1] == 1:
        per_px = F.binary_cross_entropy_with_logits(
            logits[:, 0], (target == 1).to(logits.dtype), reduction="none"
        )
        return (per_px * valid).sum() / valid.sum().clamp(min=1)
    return F.cross_entropy(logits, target.long(), ignore_index=IGNORE)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - soft Dice`` of the road probability over all valid pixels of the batch."""
    valid = _valid(target).to(logits.dtype)
    p = road_probability(logits, logits.shape[1]).sum(dim=1) * valid
    t = ((target >= 1) & (target != IGNORE)).to(logits.dtype)
    inter = (p * t).sum()
    return 1.0 - (2.0 * inter + eps) / (p.sum() + t.sum() + eps)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss: cross-entropy scaled by ``(1 - p_true) ** gamma``, mean over valid pixels."""
    valid = _valid(target)
    if logits.shape[1] == 1:
        t = (target == 1).to(logits.dtype)
        ce = F.binary_cross_entropy_with_logits(logits[:, 0], t, reduction="none")
    else:
        safe = torch.where(valid, target.long(), torch.zeros_like(target, dtype=torch.long))
        ce = F.cross_entropy(logits, safe, reduction="none")
    p_true = torch.exp(-ce)
    per_px = (1.0 - p_true) ** gamma * ce
    return (per_px * valid).sum() / valid.sum().clamp(min=1)


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`bce_loss` plus :func:`dice_loss`."""
    return bce_loss(logits, target) + dice_loss(logits, target)


_LOSS_FUNCTIONS: dict[Loss, LossFn] = {
    Loss.BCE: bce_loss,
    Loss.DICE: dice_loss,
    Loss.BCE_DICE: bce_dice_loss,
    Loss.FOCAL: focal_loss,
}


def make_loss(name: str | Loss) -> LossFn:
    """The loss function called ``name`` (one of :data:`LOSSES`)."""
    try:
        return _LOSS_FUNCTIONS[Loss(name)]
    except ValueError:
        raise BasissError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None
