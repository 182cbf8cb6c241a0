"""Reading a prediction and its truth onto one grid, and which pixels count, by row bands.

Every input is read through a *source* open for the whole scene whose ``read_rows``
gives one band of rows on the scoring grid (the truth's, or the prediction's for a
GeoJSON truth), so evaluation holds a band, never a scene
(:mod:`basiss.evaluation.bands`). A band read gives exactly the rows of the whole
read: each pixel is decided by its own value (masks, nodata, thresholds), by its
centre (rasterized centerlines, buffered once for the whole grid) or by GDAL's
warper on the band's window (``align``). The whole-image readers
(:func:`read_prediction`, :func:`rasterize_truth`...) read one band of all rows.

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
  the prediction's grid (the rules of
  :func:`basiss.labels.centerlines.road_mask_on_grid`: buffered in the UTM zone of the
  whole grid, a pixel is road when its centre is inside).
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

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rasterio
import rasterio.warp
import shapely
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.io import DatasetReader
from rasterio.transform import Affine, array_bounds
from rasterio.windows import Window, from_bounds

from basiss.errors import BasissError, file_error
from basiss.evaluation.bands import band_rows, row_bands
from basiss.io.bands import default_bands
from basiss.io.raster import PathLike, dataset_nodata, open_raster, read_decimated
from basiss.io.raster import own_mask as has_own_mask
from basiss.labels.centerlines import LabelWarning, load_centerlines, road_polygons

#: Pixels (about) the truth-mask check reads per band.
MASK_CHECK_PIXELS = 1 << 20
#: Least share of pixels at 0 or at the maximum for a 0..255 raster to be a mask. Measured
#: on ../shared/data: anti-aliased CIL masks >= 0.888, image bands <= 0.023.
MASK_MIN_EXTREME_SHARE = 0.5

#: Rows ``[top, bottom)`` of a grid.
Rows = tuple[int, int]


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS (None for a plain PNG/JPEG), transform and size."""

    crs: Any
    transform: Any
    width: int
    height: int

    @classmethod
    def of(cls, ds: DatasetReader) -> Grid:
        """The grid of an open dataset."""
        return cls(ds.crs, ds.transform, ds.width, ds.height)

    @property
    def georeferenced(self) -> bool:
        """True when the grid has a CRS."""
        return self.crs is not None

    def window(self, rows: Rows) -> Window:
        """The full-width window of ``rows``."""
        return Window(0, rows[0], self.width, rows[1] - rows[0])

    def rows_transform(self, rows: Rows) -> Any:
        """The transform of the band ``rows`` (its first row's top-left corner)."""
        return window_transform(self.window(rows), self.transform)


def window_transform(window: Window, transform: Any) -> Any:
    """The transform of ``window`` of a ``transform`` grid, as :func:`rasterio.windows.transform`
    computes it (same arithmetic), without its pending-deprecation warnings."""
    x, y = transform @ (window.col_off, window.row_off)
    return Affine.translation(x - transform.c, y - transform.f) @ transform


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

    @property
    def grid(self) -> Grid:
        """The layer's grid."""
        return Grid(self.crs, self.transform, self.width, self.height)


class PredictionRows(Protocol):
    """A prediction read by bands on the scoring grid (a raster, or one aligned to the truth)."""

    path: Path
    grid: Grid
    is_prob: bool

    def read_rows(self, rows: Rows) -> tuple[np.ndarray, np.ndarray | None]:
        """``(data, valid)`` of ``rows``: float32 probability or bool road; valid or None."""
        ...


class TruthRows(Protocol):
    """A truth read by bands on the scoring grid."""

    path: Path

    def read_rows(self, rows: Rows) -> np.ndarray:
        """``(rows, cols)`` bool true road."""
        ...


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


def _read_band(
    ds: DatasetReader, window: Window, own_mask: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Band 1 of ``window`` with its nodata set to 0, and the valid pixels (None = all)."""
    arr = ds.read(1, window=window)
    valid: np.ndarray | None = ds.read_masks(1, window=window) != 0 if own_mask else None
    if valid is not None and valid.all():
        valid = None
    bad = np.zeros(arr.shape, dtype=bool)
    if np.issubdtype(arr.dtype, np.floating):
        bad |= ~np.isfinite(arr)
    if _nodata_marker(ds.nodata):
        bad |= arr == ds.nodata
    if bad.any():
        valid = _drop(valid, bad)
        arr = np.where(bad, 0, arr)
    return arr, valid


def _scan_windows(grid: Grid) -> Iterator[Window]:
    """Full-width windows of about a band each, top to bottom."""
    for band in row_bands(grid.height, band_rows(grid.width)):
        yield grid.window(band.slab)


class PredKind(Enum):
    """What a prediction raster holds (rules in the module docstring)."""

    MASK = "mask"
    UINT8_PROB = "uint8 probability"
    FLOAT_PROB = "float probability"


def _value_range(ds: DatasetReader, own_mask: bool) -> tuple[Any, float]:
    """``(min, max)`` of band 1 with its nodata set to 0, read by bands (None, 0.0 when empty)."""
    lo: Any = None
    hi: float | None = None
    for window in _scan_windows(Grid.of(ds)):
        arr, _ = _read_band(ds, window, own_mask)
        if arr.size:
            lo = arr.min() if lo is None else min(lo, arr.min())
            hi = float(arr.max()) if hi is None else max(hi, float(arr.max()))
    return lo, 0.0 if hi is None else hi


def _prediction_kind(p: Path, ds: DatasetReader, own_mask: bool) -> PredKind:
    """Mask or probability, by name and values (scanning the values only when they decide)."""
    stem, dtype = _stem(p), np.dtype(ds.dtypes[0])
    is_float = np.issubdtype(dtype, np.floating)
    if stem.endswith("_mask"):
        return PredKind.MASK
    if stem.endswith("_prob") and not is_float:
        if dtype == np.uint8:
            return PredKind.UINT8_PROB
        raise _integer_error(p, dtype)
    vmin, vmax = _value_range(ds, own_mask)
    if is_float:
        if vmax > 1.0 + 1e-6 or (vmin is not None and float(vmin) < -1e-6):
            raise file_error(p, f"float prediction outside 0..1 (min {vmin}, max {vmax})")
        return PredKind.FLOAT_PROB
    if vmax <= 1:
        return PredKind.MASK
    if dtype == np.uint8:
        return PredKind.UINT8_PROB
    raise _integer_error(p, dtype)


def _integer_error(p: Path, dtype: np.dtype) -> BasissError:
    return file_error(
        p,
        f"{dtype} prediction with values above 1: expected a 0/1 mask, "
        "a uint8 0..255 or a float 0..1 probability",
    )


class PredictionSource:
    """A prediction raster open for band reads on its own grid (:class:`PredictionRows`)."""

    def __init__(self, path: Path, ds: DatasetReader) -> None:
        self.path, self.ds, self.grid = path, ds, Grid.of(ds)
        self.own_mask = has_own_mask(ds)
        self.kind = _prediction_kind(path, ds, self.own_mask)
        self.is_prob = self.kind is not PredKind.MASK

    def read_window(self, window: Window) -> tuple[np.ndarray, np.ndarray | None]:
        """``(data, valid)`` of ``window``: float32 probability or bool road; valid or None."""
        arr, valid = _read_band(self.ds, window, self.own_mask)
        if self.kind is PredKind.MASK:
            return arr != 0, valid
        if self.kind is PredKind.FLOAT_PROB:
            return np.clip(arr, 0.0, 1.0).astype(np.float32), valid
        return arr.astype(np.float32) / np.float32(255.0), valid

    def read_rows(self, rows: Rows) -> tuple[np.ndarray, np.ndarray | None]:
        """``(data, valid)`` of full-width ``rows``."""
        return self.read_window(self.grid.window(rows))

    def any_valid(self) -> bool:
        """Whether one pixel of the whole raster is valid (read by bands)."""
        for window in _scan_windows(self.grid):
            _, valid = _read_band(self.ds, window, self.own_mask)
            if valid is None or valid.any():
                return True
        return False


@contextlib.contextmanager
def open_prediction(path: PathLike) -> Iterator[PredictionSource]:
    """Open a prediction raster for band reads (its kind decided by the module's rules).

    Raises:
        BasissError: unreadable, a float outside 0..1, or an integer raster above 1 that
            is no uint8.
    """
    p = Path(path)
    with open_raster(p) as ds:
        yield PredictionSource(p, ds)


def read_prediction(path: PathLike) -> Layer:
    """Read band 1 of a prediction raster as a probability or a mask (rules in the module doc)."""
    with open_prediction(path) as src:
        data, valid = src.read_rows((0, src.grid.height))
        return Layer(src.path, data, src.is_prob, valid, *_fields(src.grid))


def _fields(grid: Grid) -> tuple[Any, Any, int, int]:
    return grid.crs, grid.transform, grid.width, grid.height


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


class TruthRaster:
    """A truth mask raster open for band reads: road = non-zero for 0/1 masks, > 127 otherwise."""

    def __init__(self, path: Path, ds: DatasetReader) -> None:
        self.path, self.ds, self.grid = path, ds, Grid.of(ds)
        vmax = 0.0
        for window in _scan_windows(self.grid):
            arr = ds.read(1, window=window)
            if arr.size:
                vmax = max(vmax, float(np.nanmax(arr)))
        self.binary = vmax <= 1

    def read_rows(self, rows: Rows) -> np.ndarray:
        """``(rows, cols)`` bool true road of full-width ``rows``."""
        arr = self.ds.read(1, window=self.grid.window(rows))
        return (arr != 0) if self.binary else (arr > 127)


@contextlib.contextmanager
def open_truth_raster(path: PathLike) -> Iterator[TruthRaster]:
    """Open a truth mask raster for band reads (its value rule decided over the whole raster)."""
    p = Path(path)
    with open_raster(p) as ds:
        yield TruthRaster(p, ds)


def read_truth_raster(path: PathLike) -> Layer:
    """Read band 1 of a truth mask: road = non-zero for 0/1 masks, > 127 otherwise."""
    with open_truth_raster(path) as src:
        road = src.read_rows((0, src.grid.height))
        return Layer(src.path, road, False, None, *_fields(src.grid))


class TruthLines:
    """GeoJSON centerlines buffered once for a whole grid, rasterized band by band.

    The polygons are those of :func:`basiss.labels.centerlines.road_mask_on_grid` on the
    whole grid (buffered in the UTM zone of the grid's bounds); a band burns the
    polygons that reach it on the band's window, a pixel being road when its centre is
    inside, so the bands put together are the whole-grid mask.
    """

    def __init__(self, path: Path, grid: Grid, grid_name: str, buffer_meters: float) -> None:
        self.path, self.grid = path, grid
        gdf = load_centerlines(path)
        bounds = array_bounds(grid.height, grid.width, grid.transform)
        polys = road_polygons(gdf, grid.crs, bounds, buffer_meters)
        geoms = np.asarray(polys.values, dtype=object)
        self.shapes = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
        self.tree = shapely.STRtree(self.shapes)
        if len(self.shapes) and not polys.intersects(shapely.box(*bounds)).any():
            warnings.warn(
                LabelWarning(
                    f"{gdf.attrs.get('source', 'labels')}: {len(polys)} road geometries do not "
                    f"intersect {grid_name} (likely a CRS mistake)"
                ),
                stacklevel=2,
            )

    def read_rows(self, rows: Rows) -> np.ndarray:
        """``(rows, cols)`` bool true road of full-width ``rows``."""
        transform = self.grid.rows_transform(rows)
        shape = (rows[1] - rows[0], self.grid.width)
        near = self.shapes[self.tree.query(shapely.box(*array_bounds(*shape, transform)))]
        if not len(near):
            return np.zeros(shape, dtype=bool)
        mask = rasterize(
            [(g, 1) for g in near], out_shape=shape, transform=transform, dtype=np.uint8
        )
        return mask != 0


def open_truth_lines(path: Path, grid: Grid, grid_path: Path, buffer_meters: float) -> TruthLines:
    """Buffer GeoJSON centerlines for ``grid`` (the prediction's, read from ``grid_path``).

    Raises:
        BasissError: the grid has no CRS, or the labels are unreadable.
    """
    if not grid.georeferenced:
        raise file_error(grid_path, f"has no CRS; cannot place the GeoJSON truth {path.name}")
    return TruthLines(path, grid, grid_path.name, buffer_meters)


def rasterize_truth(path: Path, grid: Layer, buffer_meters: float) -> Layer:
    """Buffer and rasterize GeoJSON centerlines on ``grid`` with the ``masks`` rules."""
    lines = open_truth_lines(path, grid.grid, grid.path, buffer_meters)
    road = lines.read_rows((0, grid.height))
    return Layer(path, road, False, None, grid.crs, grid.transform, grid.width, grid.height)


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


def grid_mismatch(pred: Grid, truth: Grid) -> str | None:
    """What differs between the two grids (size, CRS, transform), or None."""
    if (pred.width, pred.height) != (truth.width, truth.height):
        return f"size {pred.width}x{pred.height} vs {truth.width}x{truth.height}"
    if pred.georeferenced and truth.georeferenced:
        if pred.crs != truth.crs:
            return f"CRS {pred.crs.to_string()} vs {truth.crs.to_string()}"
        if not same_transform(pred.transform, truth.transform):
            return "transform (origin or pixel size) differs"
    return None


def _warp(
    src: np.ndarray, src_grid: Grid, src_transform: Any, dst: Grid, rows: Rows, is_prob: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``src`` (float32, NaN = invalid) onto ``rows`` of ``dst``: ``(data, valid)``."""
    out = np.full((rows[1] - rows[0], dst.width), np.nan, dtype=np.float32)
    rasterio.warp.reproject(
        source=src,
        destination=out,
        src_transform=src_transform,
        src_crs=src_grid.crs,
        src_nodata=np.nan,
        dst_transform=dst.rows_transform(rows),
        dst_crs=dst.crs,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear if is_prob else Resampling.nearest,
    )
    valid = np.isfinite(out)
    data = np.where(valid, out, 0.0).astype(np.float32)
    return (data if is_prob else data >= 0.5), valid


def _nan_outside(data: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    src = data.astype(np.float32)
    return src if valid is None else np.where(valid, src, np.float32(np.nan))


def source_window(src: Grid, dst: Grid, rows: Rows) -> Window | None:
    """The window of ``src`` that the warp of ``rows`` of ``dst`` reads, padded; None if none.

    The band's bounds are carried into ``src`` (densified edges), rounded outwards and
    padded by the resampling kernel (scaled when ``src`` is finer) plus a margin, so the
    warp of the band sees the same source pixels as the warp of the whole grid.
    """
    bounds = array_bounds(rows[1] - rows[0], dst.width, dst.rows_transform(rows))
    left, bottom, right, top = rasterio.warp.transform_bounds(
        dst.crs, src.crs, *bounds, densify_pts=21
    )
    win = from_bounds(left, bottom, right, top, transform=src.transform)
    ratio = max(1.0, win.width / max(dst.width, 1), win.height / max(rows[1] - rows[0], 1))
    pad = 4 + math.ceil(4 * ratio)
    c0, r0 = max(0, math.floor(win.col_off) - pad), max(0, math.floor(win.row_off) - pad)
    c1 = min(src.width, math.ceil(win.col_off + win.width) + pad)
    r1 = min(src.height, math.ceil(win.row_off + win.height) + pad)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _check_align(pred: Path, pred_grid: Grid, truth: Path, truth_grid: Grid) -> None:
    if not (pred_grid.georeferenced and truth_grid.georeferenced):
        missing = pred if not pred_grid.georeferenced else truth
        raise file_error(missing, "has no georeference; --align needs both grids georeferenced")


class AlignedPrediction:
    """A prediction resampled band by band onto the truth grid (:class:`PredictionRows`).

    Nearest for masks, bilinear for probabilities; pixels of the truth grid outside the
    prediction (or on its nodata) are invalid.
    """

    def __init__(self, source: PredictionSource, grid: Grid, truth_path: Path) -> None:
        _check_align(source.path, source.grid, truth_path, grid)
        self.source, self.grid = source, grid
        self.path, self.is_prob = source.path, source.is_prob

    def read_rows(self, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        """``(data, valid)`` of full-width ``rows`` of the truth grid."""
        win = source_window(self.source.grid, self.grid, rows)
        if win is None:
            shape = (rows[1] - rows[0], self.grid.width)
            dtype = np.float32 if self.is_prob else bool
            return np.zeros(shape, dtype=dtype), np.zeros(shape, dtype=bool)
        data, valid = self.source.read_window(win)
        src_transform = window_transform(win, self.source.grid.transform)
        src = _nan_outside(data, valid)
        return _warp(src, self.source.grid, src_transform, self.grid, rows, self.is_prob)


def align_to(pred: Layer, truth: Layer) -> Layer:
    """Resample ``pred`` onto the truth grid: nearest for masks, bilinear for probabilities.

    Pixels of the truth grid outside the prediction (or on its nodata) become invalid.
    """
    _check_align(pred.path, pred.grid, truth.path, truth.grid)
    src = _nan_outside(pred.data, pred.valid)
    rows = (0, truth.height)
    out, valid = _warp(src, pred.grid, pred.transform, truth.grid, rows, pred.is_prob)
    return Layer(pred.path, out, pred.is_prob, valid, *_fields(truth.grid))


class ImageValid:
    """Imagery open for band reads of its valid pixels: non-zero (not nodata) in some band."""

    def __init__(self, path: Path, ds: DatasetReader, height: int, width: int) -> None:
        if (ds.width, ds.height) != (width, height):
            raise file_error(
                path, f"image size {ds.width}x{ds.height} differs from the grid {width}x{height}"
            )
        self.path, self.ds, self.grid = path, ds, Grid.of(ds)
        self.nodata, self.bands = dataset_nodata(ds), default_bands(ds)

    def read_rows(self, rows: Rows) -> np.ndarray:
        """``(rows, cols)`` bool: True where some band of full-width ``rows`` is not nodata."""
        window = self.grid.window(rows)
        valid = np.zeros((rows[1] - rows[0], self.grid.width), dtype=bool)
        for b in self.bands:
            valid |= self.ds.read(b, window=window) != self.nodata
        return valid


@contextlib.contextmanager
def open_image_valid(path: Path, height: int, width: int) -> Iterator[ImageValid]:
    """Open imagery for band reads of its valid pixels on a ``height x width`` grid.

    Raises:
        BasissError: unreadable, or its size differs from the grid.
    """
    with open_raster(path) as ds:
        yield ImageValid(path, ds, height, width)


def image_valid(path: Path, height: int, width: int) -> np.ndarray:
    """True where the image is non-zero in some band (0 everywhere = outside the scene)."""
    with open_image_valid(path, height, width) as src:
        return src.read_rows((0, height))


def image_overview(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The image read decimated to ``shape`` (rows, cols), channels-first, for figures."""
    with open_raster(path) as ds:
        bands = default_bands(ds)[:3]
        return ds.read(bands, out_shape=(len(bands), *shape), resampling=Resampling.average)
