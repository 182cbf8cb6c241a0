"""Model-input normalisation, shared verbatim by training and prediction.

The model always sees 8-bit chips (16-bit imagery is stretched first), turned
into float32 by one of three rules, whose name and statistics travel inside
the checkpoint:

- ``fixed``: ``x / 255``.
- ``image``: each chip standardised per band by the mean and std of its valid
  pixels (nodata, zero in every band, is left out and maps to 0). This removes
  per-band gain and offset, so a brighter or lower-contrast source looks alike.
- ``dataset``: per-band mean/std computed once over the training images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from basiss.errors import BasissError

NORM_KINDS = ("fixed", "image", "dataset")


@dataclass(frozen=True)
class Normalisation:
    """A normalisation rule and its statistics (0..255 scale)."""

    kind: str = "fixed"
    mean: tuple[float, ...] = field(default_factory=tuple)
    std: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in NORM_KINDS:
            raise BasissError(f"unknown normalisation {self.kind!r}; choose from {NORM_KINDS}")
        if self.kind == "dataset" and (not self.mean or len(self.mean) != len(self.std)):
            raise BasissError("dataset normalisation needs per-band mean and std")

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
            return standardise_chips(x)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        if mean.shape[0] != x.shape[-3]:
            raise ValueError(f"normalisation has {mean.shape[0]} bands, chip has {x.shape[-3]}")
        return (x - mean) / np.maximum(std, np.float32(1e-3))


def standardise_chips(x: np.ndarray) -> np.ndarray:
    """Per-chip, per-band standardisation over valid pixels of float32 ``(..., bands, rows, cols)``.

    Valid pixels are those not zero in every band; invalid ones map to 0 and do
    not bias the statistics (a chip half outside a scene is standardised by its
    inside). The std is floored at 1 (on the 0..255 scale) so flat chips are not
    blown up into noise. Chips without valid pixels map to all zeros.
    """
    valid = x.any(axis=-3, keepdims=True)
    n = np.maximum(valid.sum(axis=(-2, -1), keepdims=True), 1).astype(np.float32)
    xv = np.where(valid, x, np.float32(0.0))
    mean = xv.sum(axis=(-2, -1), keepdims=True) / n
    d = np.where(valid, x - mean, np.float32(0.0))
    std = np.sqrt((d * d).sum(axis=(-2, -1), keepdims=True) / n)
    return (d / np.maximum(std, np.float32(1.0))).astype(np.float32)
