"""Model registry: a name maps to a constructor, so a new net is one file plus one line.

Every constructor takes ``in_channels`` and ``n_classes`` (plus its own keyword
arguments) and returns a module mapping ``(N, in_channels, H, W)`` float32 to
logits ``(N, n_classes, H, W)``. ``n_classes == 1`` means a sigmoid road
channel; ``n_classes >= 2`` means softmax over background + classes (the seed's
two-class set-up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from basiss.errors import BasissError
from basiss.models.dlinknet34 import dlinknet34
from basiss.models.resunet34 import resunet34
from basiss.models.unet import UNet, unet_small

ModelFactory = Callable[..., nn.Module]

REGISTRY: dict[str, ModelFactory] = {
    "unet": UNet,
    "unet-small": unet_small,
    "resunet34": resunet34,
    "dlinknet34": dlinknet34,
}


def register(name: str, factory: ModelFactory) -> None:
    """Add a constructor to the registry under ``name``."""
    REGISTRY[name] = factory


def model_names() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(REGISTRY)


def create_model(name: str, in_channels: int, n_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered architecture with random initial weights."""
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise BasissError(
            f"unknown model {name!r}; choose from {', '.join(model_names())}"
        ) from None
    return factory(in_channels=in_channels, n_classes=n_classes, **kwargs)


def road_probability(logits: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Per-class road probabilities ``(N, max(1, n_classes - 1), H, W)`` from logits.

    One class: sigmoid. Several: softmax, background (channel 0) dropped.
    """
    if n_classes == 1:
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=1)[:, 1:]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
