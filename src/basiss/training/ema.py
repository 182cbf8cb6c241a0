"""An exponential moving average (EMA) of a model's weights, validated and saved instead of them.

After every optimizer step the average moves a fraction ``1 - d`` of the way towards the
live weights: ``avg = d * avg + (1 - d) * live``. The average of the last few hundred
steps sits nearer the middle of the minimum the optimizer is bouncing around than any one
step does, and its score moves less from epoch to epoch, so best.pt is chosen on less
noise; the optimizer itself keeps training the live weights, untouched. Measured here
(``benchmarks/RESULTS.md``, two CIL sources, 30 min): no net gain over the cosine
schedule's own annealing, so ``basiss train`` leaves it off unless ``--ema`` is given.

The decay ramps up from 0 as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so
the first epochs are not dragged back to the random initial weights. BatchNorm's running
statistics are averaged the same way; integer buffers (the batches-seen counters) are
copied.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def ramped_decay(decay: float, updates: int) -> float:
    """The decay of update number ``updates + 1``: ``decay``, or less while the average is young."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """The averaged copy of a model, updated after each optimizer step.

    Attributes:
        decay: the target decay in [0, 1) (0.999: an average over ~1000 steps).
        model: the averaged copy, in eval mode, without gradients; validate and save it.
        updates: updates made so far.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), not {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, live: nn.Module) -> None:
        """Move the average towards ``live``'s weights (same architecture)."""
        d = ramped_decay(self.decay, self.updates)
        avg_state = self.model.state_dict()
        for key, value in live.state_dict().items():
            avg = avg_state[key]
            if avg.dtype.is_floating_point:
                avg.lerp_(value.detach(), 1.0 - d)
            else:
                avg.copy_(value)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run continues from: the averaged weights (CPU) and the update count."""
        return {
            "updates": self.updates,
            "weights": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output."""
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
