"""Training: configuration, the loop (epochs, validation, stopping), resume state, checkpoints.

The names below load on first use, so ``basiss.training.config`` and ``.options`` (which
the command line reads to build its parser) import without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "TrainResult", "train"]


def __getattr__(name: str) -> Any:
    if name == "TrainConfig":
        from basiss.training.config import TrainConfig

        return TrainConfig
    if name in ("TrainResult", "train"):
        from basiss.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'basiss.training' has no attribute {name!r}")
