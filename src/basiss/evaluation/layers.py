"""Reading a prediction and its truth onto one grid, and which pixels count.

Rules (stated once, here):

* **Prediction values** (band 1): a name ending in ``_mask`` or an integer
  raster whose maximum is <= 1 is a 0/1 mask (road = non-zero); otherwise
  uint8 is a probability scaled 0..255 (``p = v / 255``) and float is a
  probability in 0..1. A pixel is road when ``p >= threshold``.
* **What a truth raster looks like.** A truth raster must look like a mask, else it
  is refused (with the reason): integer values; one band, or several equal bands (a
  grey mask saved as RGB; an opaque 4th band is ignored as for images); either 0/1
  values, or values up to 255 with at least half of the pixels at 0 or at the
  maximum (0/255 masks, anti-aliased edges included). An image fails this (3 bands
  that differ, 11-bit values, a spread of grey levels). The check reads the raster
  decimated to about ``MASK_CHECK_PIXELS`` pixels.
* **Truth values** (band 1): road = non-zero when the maximum is <= 1 (0/1
  masks); road = value > 127 otherwise (0/255 PNG masks, anti-aliased grey).
  A GeoJSON of centerlines is buffered by ``buffer_meters`` and rasterized on
  the prediction's grid (:func:`basiss.labels.centerlines.road_mask_on_grid`).
* **Valid pixels.** Pixels are left out of every count where the prediction
  raster's own mask band says nodata (GDAL's internal mask, as ``basiss
  predict`` writes it), where the prediction equals its raster's nodata value
  (when set and not 0, since 0 means "no road"; NaN for float rasters),
  where the ``image`` is 0 in every band (the SpaceNet outside-the-scene
  convention), and, with ``align``, outside the
  prediction's footprint. Truth nodata is not used.
* **Grids.** Sizes must be equal; CRS and transform must be equal too when
  both rasters are georeferenced (a PNG truth has no georeference and is
  matched by size only). Otherwise it is an error, unless ``align`` resamples
  the prediction onto the truth grid (nearest for masks, bilinear for
  probabilities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.warp
from rasterio.enums import MaskFlags, Resampling

from basiss.errors import file_error
from basiss.io.bands import default_bands
from basiss.io.raster import PathLike, dataset_nodata, open_raster, read_decimated
from basiss.labels.centerlines import road_mask_on_grid

#: Pixels (about) the truth-mask check reads per band.
MASK_CHECK_PIXELS = 1 << 20
#: Least share of pixels at 0 or at the maximum for a 0..255 raster to be a mask. Measured
#: on ../shared/data: anti-aliased CIL masks >= 0.888, image bands <= 0.023.
MASK_MIN_EXTREME_SHARE = 0.5


@dataclass
class Layer:
    """One band on a grid: a probability (float32 0..1) or a mask (bool), plus valid pixels.

    Attributes:
        path: the file it was read from.
        data: ``(rows, cols)`` float32 probability when ``is_prob``, else bool road.
        is_prob: whether ``data`` is a probability (a threshold sweep applies).
        valid: ``(rows, cols)`` bool of the pixels that count, or None for all of them.
        crs, transform, width, height: the grid (``crs`` None for a plain PNG/JPEG).
    """

    path: Path
    data: np.ndarray
    is_prob: bool
    valid: np.ndarray | None
    crs: Any
    transform: Any
    width: int
    height: int

    @property
    def georeferenced(self) -> bool:
        """True when the layer has a CRS."""
        return self.crs is not None


def _stem(path: Path) -> str:
    return path.name.rsplit(".", 1)[0]


def _drop(valid: np.ndarray | None, bad: np.ndarray) -> np.ndarray | None:
    """``valid`` without the ``bad`` pixels (None stays None when nothing is bad)."""
    if not bad.any():
        return valid
    return ~bad if valid is None else valid & ~bad


def _nodata_marker(nodata: float | None) -> bool:
    """Whether a nodata tag marks pixels (0 means "no road", NaN is handled as non-finite)."""
    return nodata is not None and not math.isnan(nodata) and nodata != 0


def _read_band(p: Path) -> tuple[np.ndarray, np.ndarray | None, tuple[Any, Any, int, int]]:
    """Band 1 with its nodata set to 0, the valid pixels (None = all) and the grid."""
    with open_raster(p) as ds:
        arr = ds.read(1)
        nodata = ds.nodata
        grid = (ds.crs, ds.transform, ds.width, ds.height)
        flags = ds.mask_flag_enums[0]
        # a mask band of its own (as `basiss predict` writes), not one derived from nodata
        own_mask = MaskFlags.per_dataset in flags and MaskFlags.nodata not in flags
        valid: np.ndarray | None = ds.read_masks(1) != 0 if own_mask else None
    if valid is not None and valid.all():
        valid = None
    bad = np.zeros(arr.shape, dtype=bool)
    if np.issubdtype(arr.dtype, np.floating):
        bad |= ~np.isfinite(arr)
    if _nodata_marker(nodata):
        bad |= arr == nodata
    if bad.any():
        valid = _drop(valid, bad)
        arr = np.where(bad, 0, arr)
    return arr, valid, grid


def read_prediction(path: PathLike) -> Layer:
    """Read band 1 of a prediction raster as a probability or a mask (rules in the module doc)."""
    p = Path(path)
    arr, valid, grid = _read_band(p)
    stem = _stem(p)
    is_float = np.issubdtype(arr.dtype, np.floating)
    vmax = float(arr.max()) if arr.size else 0.0
    if stem.endswith("_mask") or (not stem.endswith("_prob") and not is_float and vmax <= 1):
        data, is_prob = arr != 0, False
    elif is_float:
        if vmax > 1.0 + 1e-6 or float(arr.min()) < -1e-6:
            raise file_error(p, f"float prediction outside 0..1 (min {arr.min()}, max {vmax})")
        data, is_prob = np.clip(arr, 0.0, 1.0).astype(np.float32), True
    elif arr.dtype == np.uint8:
        data, is_prob = arr.astype(np.float32) / np.float32(255.0), True
    else:
        raise file_error(
            p,
            f"{arr.dtype} prediction with values above 1: expected a 0/1 mask, "
            "a uint8 0..255 or a float 0..1 probability",
        )
    return Layer(p, data, is_prob, valid, *grid)


def mask_problem(bands: np.ndarray) -> str | None:
    """Why ``(bands, rows, cols)`` integer values do not look like a mask, or None if they do.

    Pure: the rule of "What a truth raster looks like" in the module docstring.
    """
    for i in range(1, bands.shape[0]):
        if not np.array_equal(bands[i], bands[0]):
            return f"{bands.shape[0]} bands that differ (an image, not a mask)"
    band = bands[0]
    vmax = int(band.max()) if band.size else 0
    if vmax <= 1:
        return None
    if vmax > 255:
        return f"values up to {vmax} (a mask holds 0/1 or 0..255)"
    share = float(np.count_nonzero((band == 0) | (band == vmax))) / band.size
    if share < MASK_MIN_EXTREME_SHARE:
        return f"only {share:.0%} of its pixels are 0 or {vmax} (an image, not a mask)"
    return None


def truth_raster_problem(path: PathLike) -> str | None:
    """Why the raster at ``path`` cannot be a truth mask, or None when it looks like one."""
    with open_raster(path) as ds:
        dtype = np.dtype(ds.dtypes[0])
        if not np.issubdtype(dtype, np.integer):
            return f"{dtype} values (a mask holds integers)"
        arr = read_decimated(ds, default_bands(ds), MASK_CHECK_PIXELS)
    return mask_problem(arr)


def read_truth_raster(path: PathLike) -> Layer:
    """Read band 1 of a truth mask: road = non-zero for 0/1 masks, > 127 otherwise."""
    p = Path(path)
    with open_raster(p) as ds:
        arr = ds.read(1)
        grid = (ds.crs, ds.transform, ds.width, ds.height)
    vmax = float(np.nanmax(arr)) if arr.size else 0.0
    road = (arr != 0) if vmax <= 1 else (arr > 127)
    return Layer(p, road, False, None, *grid)


def rasterize_truth(path: Path, grid: Layer, buffer_meters: float) -> Layer:
    """Buffer and rasterize GeoJSON centerlines on ``grid`` with the ``masks`` rules."""
    if not grid.georeferenced:
        raise file_error(grid.path, f"has no CRS; cannot place the GeoJSON truth {path.name}")
    mask = road_mask_on_grid(
        path,
        grid.crs,
        grid.transform,
        grid.width,
        grid.height,
        buffer_meters=buffer_meters,
        image_name=grid.path.name,
    )
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[0]
    return Layer(path, mask != 0, False, None, grid.crs, grid.transform, grid.width, grid.height)


def same_transform(a: Any, b: Any) -> bool:
    """Equal up to 1% of a pixel in origin and 1e-6 relative in pixel size."""
    if a is None or b is None:
        return a is b
    px = max(abs(a.a), abs(a.e), 1e-300)
    origin = abs(a.c - b.c) <= 0.01 * px and abs(a.f - b.f) <= 0.01 * px
    scale = all(
        abs(x - y) <= 1e-6 * px for x, y in ((a.a, b.a), (a.b, b.b), (a.d, b.d), (a.e, b.e))
    )
    return origin and scale


def grid_mismatch(pred: Layer, truth: Layer) -> str | None:
    """What differs between the two grids (size, CRS, transform), or None."""
    if (pred.width, pred.height) != (truth.width, truth.height):
        return f"size {pred.width}x{pred.height} vs {truth.width}x{truth.height}"
    if pred.georeferenced and truth.georeferenced:
        if pred.crs != truth.crs:
            return f"CRS {pred.crs.to_string()} vs {truth.crs.to_string()}"
        if not same_transform(pred.transform, truth.transform):
            return "transform (origin or pixel size) differs"
    return None


def align_to(pred: Layer, truth: Layer) -> Layer:
    """Resample ``pred`` onto the truth grid: nearest for masks, bilinear for probabilities.

    Pixels of the truth grid outside the prediction (or on its nodata) become invalid.
    """
    if not (pred.georeferenced and truth.georeferenced):
        missing = pred.path if not pred.georeferenced else truth.path
        raise file_error(missing, "has no georeference; --align needs both grids georeferenced")
    src = pred.data.astype(np.float32)
    if pred.valid is not None:
        src = np.where(pred.valid, src, np.float32(np.nan))
    dst = np.full((truth.height, truth.width), np.nan, dtype=np.float32)
    rasterio.warp.reproject(
        source=src,
        destination=dst,
        src_transform=pred.transform,
        src_crs=pred.crs,
        src_nodata=np.nan,
        dst_transform=truth.transform,
        dst_crs=truth.crs,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear if pred.is_prob else Resampling.nearest,
    )
    valid = np.isfinite(dst)
    data = np.where(valid, dst, 0.0).astype(np.float32)
    out = data if pred.is_prob else data >= 0.5
    return Layer(
        pred.path, out, pred.is_prob, valid, truth.crs, truth.transform, truth.width, truth.height
    )


def image_valid(path: Path, height: int, width: int) -> np.ndarray:
    """True where the image is non-zero in some band (0 everywhere = outside the scene)."""
    with open_raster(path) as ds:
        if (ds.width, ds.height) != (width, height):
            raise file_error(
                path, f"image size {ds.width}x{ds.height} differs from the grid {width}x{height}"
            )
        nodata = dataset_nodata(ds)
        valid = np.zeros((height, width), dtype=bool)
        for b in default_bands(ds):
            valid |= ds.read(b) != nodata
    return valid


def image_overview(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The image read decimated to ``shape`` (rows, cols), channels-first, for figures."""
    with open_raster(path) as ds:
        bands = default_bands(ds)[:3]
        return ds.read(bands, out_shape=(len(bands), *shape), resampling=Resampling.average)
