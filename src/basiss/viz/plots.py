"""Figures (matplotlib, Agg backend): shared helpers, then the evaluation figure.

Arrays arrive channels-first; they are converted to ``(rows, cols, 3)`` here,
once, for display only. The other figures live beside this module: the road-mask
figure in :mod:`basiss.viz.masks`, the sample preview in :mod:`basiss.viz.sample`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from rasterio.enums import Resampling  # noqa: E402
from rasterio.io import DatasetReader  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

from basiss.io.raster import atomic_output, read_decimated  # noqa: E402


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


def read_overview(
    ds: DatasetReader,
    bands: list[int],
    max_pixels: int,
    resampling: Resampling = Resampling.nearest,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Bands of ``ds`` shrunk to about ``max_pixels`` for a figure, and the shrink factors.

    Returns:
        ``(bands, rows, cols)`` array (see :func:`basiss.io.raster.read_decimated`) and
        ``(sx, sy)``: overview pixels per full-resolution pixel along columns and rows,
        to bring full-resolution pixel coordinates onto the overview.
    """
    arr = read_decimated(ds, bands, max_pixels, resampling)
    return arr, (arr.shape[2] / ds.width, arr.shape[1] / ds.height)


def shrink_nearest(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A 2-D array sampled at the nearest pixel onto ``shape`` (rows, cols), as GDAL does.

    For drawing a full-resolution mask beside an image read by :func:`read_overview`.
    """
    rows = np.minimum((np.arange(shape[0]) + 0.5) * arr.shape[0] / shape[0], arr.shape[0] - 1)
    cols = np.minimum((np.arange(shape[1]) + 0.5) * arr.shape[1] / shape[1], arr.shape[1] - 1)
    return arr[np.ix_(rows.astype(np.int64), cols.astype(np.int64))]


def world_to_pixels(
    coords: np.ndarray, inverse: Affine, scale: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """``(n, 2)`` map coordinates -> ``(n, 2)`` (col, row) in imshow's frame of an overview.

    Args:
        coords: ``x, y`` in the raster's CRS.
        inverse: the raster's inverse transform (``~ds.transform``).
        scale: ``(sx, sy)`` from :func:`read_overview` (1, 1 at full resolution).

    Returns:
        Coordinates in which pixel ``(i, j)``'s centre is at ``(j, i)``, as imshow draws it.
    """
    cols, rows = inverse @ (coords[:, 0], coords[:, 1])
    return np.column_stack([np.asarray(cols) * scale[0], np.asarray(rows) * scale[1]]) - 0.5


def hold_extent(ax: Axes, width: int, height: int) -> None:
    """Keep ``ax`` on a ``width x height`` image: lines drawn over it may not widen it."""
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_autoscale_on(False)


def plot_lines(
    ax: Axes, lines: list[np.ndarray], color: str = "#ff2a2a", linewidth: float = 1.0
) -> None:
    """Draw polylines given as ``(n, 2)`` (col, row) pixel coordinates over ``ax``."""
    for xy in lines:
        ax.plot(xy[:, 0], xy[:, 1], color=color, linewidth=linewidth)


# ---------------------------------------------------------------- evaluation figure

#: Overlay colours (RGB 0..255): true positives, false positives, false negatives.
TP_COLOUR = (0, 200, 0)
FP_COLOUR = (255, 0, 255)
FN_COLOUR = (0, 170, 255)


#: Size of one figure panel in inches.
PANEL_INCHES = 5.0


def panel_dpi(shape: tuple[int, ...], inches: float, lo: int = 100, hi: int = 450) -> int:
    """A dpi at which an image of ``shape`` fills ``inches`` with at least one dot per pixel.

    Drawing a mask at fewer dots than pixels would drop rows and columns again
    (thin roads vanish); ``hi`` caps the file size for ~2000 px overviews.
    """
    return int(min(hi, max(lo, np.ceil(1.05 * max(shape[-2:]) / inches))))


def overview_factor(shape: tuple[int, ...], max_side: int) -> int:
    """The integer downsampling factor that brings the larger side to at most ``max_side``."""
    return max(1, -(-max(shape[-2:]) // max_side))


def pooled_shape(shape: tuple[int, ...], factor: int) -> tuple[int, int]:
    """``(rows, cols)`` after pooling ``shape`` by ``factor`` (partial edge blocks kept)."""
    return -(-shape[-2] // factor), -(-shape[-1] // factor)


def max_pool(arr: np.ndarray, factor: int) -> np.ndarray:
    """Block maximum of a 2-D array over ``factor x factor`` blocks (edges padded with 0).

    Used to downsample masks for figures: one road pixel in a block keeps the
    block as road, so thin roads do not vanish from an overview.
    """
    if factor <= 1:
        return arr
    rows, cols = pooled_shape(arr.shape, factor)
    padded = np.zeros((rows * factor, cols * factor), dtype=arr.dtype)
    padded[: arr.shape[0], : arr.shape[1]] = arr
    return padded.reshape(rows, factor, cols, factor).max(axis=(1, 3))


def overlay_rgb(
    background: np.ndarray, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray
) -> np.ndarray:
    """Paint TP, FP and FN pixels over a ``(rows, cols, 3)`` uint8 background.

    The background is dimmed to 60% so the colours stand out; errors (FP, then
    FN) are painted last, so they stay visible where pooled blocks mix classes.
    """
    out = (background.astype(np.float32) * 0.6).astype(np.uint8)
    for mask, colour in ((tp, TP_COLOUR), (fp, FP_COLOUR), (fn, FN_COLOUR)):
        out[mask] = colour
    return out


@dataclass(frozen=True)
class EvaluationOverview:
    """The max-pooled panels of the evaluation figure (see :func:`evaluation_overview`).

    Attributes:
        truth: true road (valid pixels only).
        middle: the probability (0 outside valid pixels) or the predicted road.
        tp, fp, fn: the overlay's classes.
        is_prob: whether ``middle`` is a probability.
        factor: the pooling factor (1 = full resolution).
    """

    truth: np.ndarray
    middle: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    is_prob: bool
    factor: int


def evaluation_overview(
    truth: np.ndarray,
    pred: np.ndarray,
    prob: np.ndarray | None,
    valid: np.ndarray | None,
    factor: int,
) -> EvaluationOverview:
    """The panels of :func:`evaluation_figure` for full-resolution ``(rows, cols)`` arrays
    (or a band of them: max pooling of bands starting at multiples of ``factor`` stacks)."""
    v = np.ones(truth.shape, dtype=bool) if valid is None else valid
    t, p = truth & v, pred & v
    middle = max_pool(np.where(v, prob, 0.0), factor) if prob is not None else max_pool(p, factor)
    return EvaluationOverview(
        truth=max_pool(t, factor),
        middle=middle,
        tp=max_pool(t & p, factor),
        fp=max_pool(p & ~t, factor),
        fn=max_pool(t & ~p, factor),
        is_prob=prob is not None,
        factor=factor,
    )


def evaluation_figure(
    path: str | os.PathLike[str],
    truth: np.ndarray,
    pred: np.ndarray,
    prob: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    image: np.ndarray | None = None,
    title: str = "",
    max_side: int = 2000,
) -> Path:
    """Save truth | prediction | overlay (TP, FP, FN in three colours) as a PNG.

    Args:
        path: the PNG to write.
        truth: ``(rows, cols)`` bool true road.
        pred: ``(rows, cols)`` bool predicted road (at the threshold).
        prob: optional ``(rows, cols)`` probability 0..1, shown in the middle panel
            instead of the binary prediction.
        valid: optional bool mask; invalid pixels are not classed TP/FP/FN.
        image: optional ``(bands, r, c)`` imagery already at the overview size
            (see :func:`pooled_shape`); grey when absent.
        title: figure title.
        max_side: larger scenes are max-pooled down to at most this many pixels a side.
    """
    factor = overview_factor(truth.shape, max_side)
    overview = evaluation_overview(truth, pred, prob, valid, factor)
    return draw_evaluation(path, overview, image, title)


def draw_evaluation(
    path: str | os.PathLike[str],
    overview: EvaluationOverview,
    image: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Save the evaluation figure of pooled panels (built whole or band by band) as a PNG.

    Args:
        path: the PNG to write.
        overview: the pooled panels.
        image: optional ``(bands, r, c)`` imagery at the overview's size; grey when absent.
        title: figure title.
    """
    shape = overview.truth.shape
    if image is not None:
        bg = rgb_for_display(image)
        if bg.shape[:2] != shape:
            raise ValueError(f"image overview {bg.shape[:2]} != mask overview {shape}")
    else:
        bg = np.full((*shape, 3), 128, dtype=np.uint8)
    is_prob, factor = overview.is_prob, overview.factor
    fig, axes = new_figure(3, size=PANEL_INCHES)
    axes[0, 0].imshow(overview.truth, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0, 0].set_title("truth")
    axes[0, 1].imshow(
        overview.middle,
        cmap="magma" if is_prob else "gray",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    axes[0, 1].set_title("prediction (probability)" if is_prob else "prediction")
    axes[0, 2].imshow(
        overlay_rgb(bg, overview.tp, overview.fp, overview.fn), interpolation="nearest"
    )
    axes[0, 2].set_title("overlay")
    handles = [
        Patch(color=np.array(c) / 255.0, label=name)
        for c, name in ((TP_COLOUR, "TP"), (FP_COLOUR, "FP"), (FN_COLOUR, "FN"))
    ]
    axes[0, 2].legend(handles=handles, loc="lower right", fontsize=9, framealpha=0.8)
    note = f" (overview, 1/{factor} scale, max-pooled)" if factor > 1 else ""
    fig.suptitle(title + note)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.9, wspace=0.05)
    return save_figure(fig, path, dpi=panel_dpi(shape, PANEL_INCHES * 0.93))
