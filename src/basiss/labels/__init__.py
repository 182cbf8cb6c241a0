"""Road labels: centerlines buffered in metres and burnt onto an image grid; SpaceNet jobs.

``prepare_spacenet`` loads on first use, so :mod:`basiss.labels.widths` imports alone.
"""

from __future__ import annotations

from typing import Any

__all__ = ["prepare_spacenet"]


def __getattr__(name: str) -> Any:
    if name == "prepare_spacenet":
        from basiss.labels.spacenet import prepare_spacenet

        return prepare_spacenet
    raise AttributeError(f"module 'basiss.labels' has no attribute {name!r}")
