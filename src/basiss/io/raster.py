"""Raster I/O at the edges: open, windowed reads, 16->8 bit stretch, atomic COG writes.

Arrays are channels-first ``(bands, rows, cols)`` as rasterio reads them.
Every writer goes through :func:`atomic_output`, so a killed run leaves either
the old file or the new one, never half of one.

Every raster written here (:func:`write_geotiff`, :func:`write_8bit`) is a Cloud-Optimized
GeoTIFF with internal overviews (:mod:`basiss.io.cog`), and follows basiss's one nodata
convention: nodata is GDAL's internal mask band (0 = nodata, 255 = valid), never a nodata
value, with 0 under it; a raster with no nodata still has the mask band, all valid.
Readers: :func:`valid_area` (a block's valid pixels, from the mask band and SpaceNet's
"0 in every band" rule, so inputs from elsewhere work too).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from basiss.errors import file_error, reason
from basiss.grid import decimated_shape
from basiss.io.bands import default_bands
from basiss.io.cog import COG_BLOCK, Layer, cog_file, describe, temporary_profile

PathLike = str | os.PathLike[str]

#: Suffixes of the georeferenced rasters basiss predicts on and writes.
GEOTIFF_SUFFIXES = (".tif", ".tiff")
#: Suffixes of every raster basiss reads as an image or a mask (PNG/JPEG pairs included).
RASTER_SUFFIXES = (*GEOTIFF_SUFFIXES, ".png", ".jpg", ".jpeg", ".vrt")

#: Valid pixels of a stretched 8-bit image take 1..255; 0 is the value under its nodata mask.
NODATA_8BIT = 0


#: GDAL's block cache for reads that stream a raster once, top to bottom: the rows of a
#: window are not read again, so a larger cache (GDAL's default is 5% of RAM) only makes
#: memory grow with the scene's height.
STREAM_CACHE_BYTES = 16 << 20


def streaming_env(cache_bytes: int = STREAM_CACHE_BYTES) -> rasterio.Env:
    """A GDAL environment with a bounded block cache, for reads that stream a raster once."""
    return rasterio.Env(GDAL_CACHEMAX=cache_bytes)


@contextlib.contextmanager
def open_raster(path: PathLike) -> Iterator[rasterio.io.DatasetReader]:
    """Open a raster for reading; failures become a one-line :class:`BasissError`.

    PNG/JPEG without georeference open too (their transform is the identity).
    """
    p = Path(path)
    if not p.exists():
        raise file_error(p, "no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(p)
    except RasterioIOError as exc:
        raise file_error(p, f"not a readable raster ({reason(exc)})") from None
    try:
        yield ds
    finally:
        ds.close()


def read_window(
    ds: rasterio.io.DatasetReader,
    window: Window,
    bands: Sequence[int] | None = None,
) -> np.ndarray:
    """Read ``window`` from ``ds``; parts outside the image are filled with 0.

    Returns:
        ``(len(bands), window.height, window.width)`` in the file's dtype.
    """
    idx = list(bands) if bands is not None else default_bands(ds)
    inside = (
        window.col_off >= 0
        and window.row_off >= 0
        and window.col_off + window.width <= ds.width
        and window.row_off + window.height <= ds.height
    )
    try:
        if inside:
            return ds.read(idx, window=window)
        return ds.read(idx, window=window, boundless=True, fill_value=0)
    except RasterioIOError as exc:
        raise file_error(ds.name, f"read failed, truncated or corrupt? ({reason(exc)})") from None


def valid_pixels(arr: np.ndarray, nodata: float | None = 0) -> np.ndarray:
    """Boolean ``(rows, cols)``: True where any band differs from ``nodata``.

    SpaceNet marks the area outside the scene with 0 in every band. A NaN in any band of
    a float image is nodata too (it has no value to stretch or predict from).
    """
    finite = ~np.isnan(arr).any(axis=0) if arr.dtype.kind == "f" else None
    if nodata is None:
        valid = np.ones(arr.shape[-2:], dtype=bool)
    elif isinstance(nodata, float) and np.isnan(nodata):
        valid = ~np.all(np.isnan(arr), axis=0)
    else:
        valid = np.any(arr != nodata, axis=0)
    return valid if finite is None else valid & finite


def dataset_nodata(ds: rasterio.io.DatasetReader) -> float:
    """The value meaning "no data" in ``ds``: its nodata tag, or 0 (SpaceNet's rule) if none."""
    return 0 if ds.nodata is None else ds.nodata


def read_decimated(
    ds: rasterio.io.DatasetReader,
    bands: Sequence[int],
    max_pixels: int,
    resampling: rasterio.enums.Resampling = rasterio.enums.Resampling.nearest,
) -> np.ndarray:
    """Bands of ``ds`` read shrunk to about ``max_pixels`` pixels, ``(bands, rows, cols)``.

    For statistics and figures of whole scenes: GDAL reads the overview (or samples the
    full-resolution rows) without holding the whole image. Nearest by default, so the
    values are the file's own.
    """
    shape = (len(bands), *decimated_shape(ds.height, ds.width, max_pixels))
    try:
        return ds.read(list(bands), out_shape=shape, resampling=resampling)
    except RasterioIOError as exc:
        raise file_error(ds.name, f"read failed, truncated or corrupt? ({reason(exc)})") from None


def stretch_limits(
    ds: rasterio.io.DatasetReader,
    bands: Sequence[int] | None = None,
    lower: float = 2.0,
    upper: float = 98.0,
    max_pixels: int = 4_000_000,
) -> np.ndarray:
    """Per-band ``lower``/``upper`` percentiles of the valid pixels of ``ds``.

    Large images are read decimated (at most ``max_pixels`` samples), so the
    cost does not grow with the scene. Nodata pixels (the dataset's nodata
    value, or 0 in every band) are excluded.

    Returns:
        ``(n_bands, 2)`` float64 array of (low, high) per band.
    """
    idx = list(bands) if bands is not None else default_bands(ds)
    arr = read_decimated(ds, idx, max_pixels)
    valid = valid_pixels(arr, dataset_nodata(ds))
    limits = np.zeros((len(idx), 2), dtype=np.float64)
    if not valid.any():
        return limits
    for i in range(len(idx)):
        limits[i] = np.percentile(arr[i][valid], [lower, upper])
    return limits


def apply_stretch(
    arr: np.ndarray, limits: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Linear stretch of each band from ``limits[b]`` to uint8.

    Valid pixels map to 1..255 (clipped); pixels where ``valid`` is False map
    to 0, so nodata stays distinguishable after conversion.
    """
    lo = limits[:, 0].reshape(-1, 1, 1)
    hi = limits[:, 1].reshape(-1, 1, 1)
    span = np.maximum(hi - lo, 1e-9)
    scaled = (arr.astype(np.float32) - lo.astype(np.float32)) * (254.0 / span).astype(np.float32)
    out = (np.clip(scaled, 0.0, 254.0) + 1.5).astype(np.uint8)  # 1..255, rounded
    if valid is not None:
        out[:, ~valid] = NODATA_8BIT
    return out


def is_8bit(ds: rasterio.io.DatasetReader) -> bool:
    """True when every band is uint8 (such images pass through unstretched)."""
    return all(dt == "uint8" for dt in ds.dtypes)


def geotiff_profile(
    width: int,
    height: int,
    count: int,
    dtype: str,
    crs: Any = None,
    transform: Any = None,
    nodata: float | None = None,
    blocksize: int = 256,
) -> dict[str, Any]:
    """A tiled, deflate-compressed GeoTIFF profile on the given grid."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "crs": crs,
        "transform": transform if transform is not None else rasterio.Affine.identity(),
        "nodata": nodata,
        "compress": "deflate",
        "zlevel": 1,  # ~5x faster than the default 6 on imagery, files about as small
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "BIGTIFF": "IF_SAFER",
    }
    if dtype in ("uint8", "int8", "uint16", "int16"):
        profile["predictor"] = 2
    return profile


def grid_of(ds: rasterio.io.DatasetReader) -> dict[str, Any]:
    """The grid of ``ds``: the keys that make another raster sit exactly on it."""
    return {"width": ds.width, "height": ds.height, "crs": ds.crs, "transform": ds.transform}


def file_sha256(path: PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes, read ``chunk`` bytes at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def temp_path(final: PathLike) -> Path:
    """The hidden temporary name beside ``final`` that an atomic write goes through.

    ``.<stem>.part-<pid><suffix>``: same folder (so the rename is atomic), same suffix (so
    GDAL picks the driver by extension), the writer's process id (so two runs never share one).
    """
    p = Path(final)
    return p.with_name(f".{p.stem}.part-{os.getpid()}{p.suffix}")


@contextlib.contextmanager
def atomic_outputs(*paths: PathLike) -> Iterator[tuple[Path, ...]]:
    """Yield temporary paths beside ``paths``; rename each over its final path on success.

    On any exception the temporaries are removed and the final paths are left untouched.
    """
    finals = [Path(p) for p in paths]
    for f in finals:
        if f.is_dir():
            raise file_error(f, "is a folder; give a file name for this output")
        if f.parent.exists() and not f.parent.is_dir():
            raise file_error(f.parent, "is a file, not a folder for the output")
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise file_error(f.parent, f"cannot create the output folder ({reason(exc)})") from None
    tmps = tuple(temp_path(f) for f in finals)
    try:
        yield tmps
        for tmp, final in zip(tmps, finals, strict=True):
            os.replace(tmp, final)
    finally:
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The one-file case of :func:`atomic_outputs`.
    """
    with atomic_outputs(path) as (tmp,):
        yield tmp


def valid_area(ds: rasterio.io.DatasetReader, window: Window, block: np.ndarray) -> np.ndarray:
    """Valid pixels ``(rows, cols)`` of ``block``, read from ``ds`` at ``window``.

    Valid where some band differs from the nodata value (:func:`valid_pixels`, SpaceNet's
    rule) and, when ``ds`` has a mask band of its own (as basiss writes, :mod:`basiss.io.cog`),
    where that mask is non-zero.
    """
    valid = valid_pixels(block, dataset_nodata(ds))
    if own_mask(ds):
        valid &= ds.dataset_mask(window=window) > 0
    return valid


def own_mask(ds: rasterio.io.DatasetReader) -> bool:
    """Whether band 1 of ``ds`` has a mask band of its own (as basiss writes,
    :mod:`basiss.io.cog`), not one derived from a nodata value or none at all."""
    flags = ds.mask_flag_enums[0]
    return MaskFlags.per_dataset in flags and MaskFlags.nodata not in flags


def window_mask(ds: rasterio.io.DatasetReader, window: Window) -> np.ndarray | None:
    """Band 1's own mask band at ``window`` as bool (True = valid; False past the raster's
    edges), or None when ``ds`` has no mask band of its own (:func:`own_mask`)."""
    if not own_mask(ds):
        return None
    try:
        return ds.read_masks(1, window=window, boundless=True) > 0
    except RasterioIOError as exc:
        raise file_error(ds.name, f"read failed, truncated or corrupt? ({reason(exc)})") from None


def image_valid_area(path: PathLike, block_rows: int = 1024) -> np.ndarray:
    """The valid pixels ``(rows, cols)`` bool of a whole image (:func:`valid_area`), by row blocks.

    The valid area a training mask made on this image's grid carries (:mod:`basiss.io.cog`).
    """
    with open_raster(path) as ds:
        out = np.zeros((ds.height, ds.width), dtype=bool)
        idx = default_bands(ds)
        for row in range(0, ds.height, block_rows):
            win = Window(0, row, ds.width, min(block_rows, ds.height - row))
            out[row : row + win.height] = valid_area(ds, win, read_window(ds, win, idx))
    return out


def write_geotiff(
    path: PathLike,
    array: np.ndarray,
    crs: Any = None,
    transform: Any = None,
    layer: Layer = Layer.IMAGE,
    valid: np.ndarray | None = None,
) -> Path:
    """Write a ``(bands, rows, cols)`` or ``(rows, cols)`` array as a COG, atomically.

    Args:
        path: the output.
        array: the pixels.
        crs, transform: the grid (identity transform when None).
        layer: what the raster holds (overview resampling, band descriptions).
        valid: ``(rows, cols)`` bool valid pixels, written as the internal mask band (the
            pixel values are written as given); None: every pixel is valid.
    """
    arr = array[np.newaxis] if array.ndim == 2 else array
    ok = np.ones(arr.shape[1:], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    profile = geotiff_profile(
        arr.shape[2], arr.shape[1], arr.shape[0], str(arr.dtype), crs, transform, None, COG_BLOCK
    )
    with (
        atomic_output(path) as tmp,
        cog_file(tmp, layer) as stream,
        rasterio.open(stream, "w", **temporary_profile(profile)) as dst,
    ):
        describe(dst, layer)
        dst.write(arr)
        dst.write_mask(ok.astype(np.uint8) * np.uint8(255))
    return Path(path)


def write_8bit(
    src_path: PathLike,
    dst_path: PathLike,
    bands: Sequence[int] | None = None,
    lower: float = 2.0,
    upper: float = 98.0,
    block_rows: int = 1024,
) -> Path:
    """Write ``src_path`` as an 8-bit COG on the same grid (CRS, transform).

    uint8 input passes through unchanged; any other dtype is stretched per band
    between its ``lower`` and ``upper`` percentiles (nodata excluded). Nodata
    (:func:`valid_area`) becomes the internal mask band, with 0 under it
    (:mod:`basiss.io.cog`); the source's band descriptions are kept. Rows are
    streamed in blocks, so memory does not grow with image height.
    """
    with open_raster(src_path) as src:
        idx = list(bands) if bands is not None else default_bands(src)
        if max(idx) > src.count:
            raise file_error(src_path, f"has {src.count} bands, asked for band {max(idx)}")
        limits = None if is_8bit(src) else stretch_limits(src, idx, lower, upper)
        profile = geotiff_profile(
            src.width, src.height, len(idx), "uint8", src.crs, src.transform, None, COG_BLOCK
        )
        with (
            atomic_output(dst_path) as tmp,
            cog_file(tmp, Layer.IMAGE) as stream,
            rasterio.open(stream, "w", **temporary_profile(profile)) as dst,
        ):
            for i, b in enumerate(idx, start=1):
                if src.descriptions[b - 1]:
                    dst.set_band_description(i, src.descriptions[b - 1])
            for row in range(0, src.height, block_rows):
                win = Window(0, row, src.width, min(block_rows, src.height - row))
                _write_8bit_block(src, dst, win, idx, limits)
    return Path(dst_path)


def _write_8bit_block(
    src: rasterio.io.DatasetReader,
    dst: Any,
    win: Window,
    idx: list[int],
    limits: np.ndarray | None,
) -> None:
    """One row block of :func:`write_8bit`: read, stretch (or pass), mask, write."""
    block = read_window(src, win, idx)
    valid = valid_area(src, win, block)
    if limits is not None:
        block = apply_stretch(block, limits, valid)
    else:
        block = np.where(valid, block, np.uint8(NODATA_8BIT))
    dst.write(block, window=win)
    dst.write_mask(valid.astype(np.uint8) * np.uint8(255), window=win)
