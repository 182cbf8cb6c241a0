"""Figures (matplotlib, Agg backend): shared helpers, then evaluation figures.

Arrays arrive channels-first; they are converted to ``(rows, cols, 3)`` here,
once, for display only.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from basiss.raster import atomic_output  # noqa: E402


def rgb_for_display(arr: np.ndarray, bands: tuple[int, int, int] = (0, 1, 2)) -> np.ndarray:
    """``(bands, rows, cols)`` -> ``(rows, cols, 3)`` uint8 for imshow.

    uint8 input is shown as is; other dtypes are stretched between their 2nd
    and 98th percentile over non-zero pixels. A single band is shown as grey.
    """
    a = arr[np.newaxis] if arr.ndim == 2 else arr
    picked = a[[b if b < a.shape[0] else 0 for b in bands]] if a.shape[0] >= 3 else a[[0, 0, 0]]
    if picked.dtype == np.uint8:
        return np.ascontiguousarray(np.moveaxis(picked, 0, -1))
    out = np.zeros(picked.shape, dtype=np.uint8)
    valid = np.any(picked != 0, axis=0)
    for i in range(3):
        vals = picked[i][valid]
        if vals.size == 0:
            continue
        lo, hi = np.percentile(vals, [2, 98])
        out[i] = np.clip((picked[i] - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    return np.moveaxis(out, 0, -1)


def new_figure(ncols: int, nrows: int = 1, size: float = 4.0) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows x ncols`` square panels without axes ticks."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Save ``fig`` as PNG atomically and release it."""
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return Path(path)
