"""Model-input normalisation, shared verbatim by training and prediction.

The model always sees 8-bit chips (16-bit imagery is stretched first), turned
into float32 by one of three rules, whose name and statistics travel inside
the checkpoint:

- ``fixed``: ``x / 255``.
- ``image``: each chip standardised per band by its own mean and std.
- ``dataset``: per-band mean/std computed once over the training images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

NORM_KINDS = ("fixed", "image", "dataset")


@dataclass(frozen=True)
class Normalisation:
    """A normalisation rule and its statistics (0..255 scale)."""

    kind: str = "fixed"
    mean: tuple[float, ...] = field(default_factory=tuple)
    std: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in NORM_KINDS:
            raise ValueError(f"unknown normalisation {self.kind!r}; choose from {NORM_KINDS}")
        if self.kind == "dataset" and (not self.mean or len(self.mean) != len(self.std)):
            raise ValueError("dataset normalisation needs per-band mean and std")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so it stores in a weights-only checkpoint."""
        return {"kind": self.kind, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalisation:
        return cls(
            kind=str(d["kind"]),
            mean=tuple(float(v) for v in d.get("mean", ())),
            std=tuple(float(v) for v in d.get("std", ())),
        )

    def apply(self, chips: np.ndarray) -> np.ndarray:
        """Normalise uint8 chips ``(..., bands, rows, cols)`` to float32."""
        x = chips.astype(np.float32)
        if self.kind == "fixed":
            return x * np.float32(1.0 / 255.0)
        if self.kind == "image":
            mean = x.mean(axis=(-2, -1), keepdims=True)
            std = x.std(axis=(-2, -1), keepdims=True)
            return (x - mean) / np.maximum(std, np.float32(1.0))
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        if mean.shape[0] != x.shape[-3]:
            raise ValueError(f"normalisation has {mean.shape[0]} bands, chip has {x.shape[-3]}")
        return (x - mean) / np.maximum(std, np.float32(1e-3))
