"""Small writers the tests share (imported as ``from helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

#: A 0.3 m pixel in degrees, as SpaceNet 3 ships its EPSG:4326 chips.
SPACENET_DEG = 2.7e-6


def write_png(path: Path, arr: np.ndarray) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) uint8 array as PNG (no georeference)."""
    arr = arr[np.newaxis] if arr.ndim == 2 else arr
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="PNG",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype="uint8",
    ) as dst:
        dst.write(arr)
    return path
