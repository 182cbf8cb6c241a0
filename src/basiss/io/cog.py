"""Cloud-Optimized GeoTIFF outputs: streamed to a tiled GeoTIFF, then overviews and a COG copy.

Every raster basiss writes for a person or a map to read (8-bit images, training masks,
``*_prob.tif``, ``*_mask.tif``) is a COG: 256 px tiles, deflate, internal overviews at
factors 2, 4, 8... down to the first level whose larger side is <= :data:`OVERVIEW_MAX_PX`,
in GDAL's COG layout (overviews and tile index ahead of the pixels), which QGIS and web
tilers read fast at every zoom.

How a COG is made without holding the image: the writer streams its rows into a tiled
GeoTIFF beside the output (:func:`cog_file` yields that name); on success GDAL builds the
overviews in that file, reading it by blocks, and its COG driver copies it (``CreateCopy``,
block by block, ``OVERVIEWS=FORCE_USE_EXISTING``) to the output's name. Memory stays flat in
the scene's height; the cost is reading the pixels once per average overview level and
once more for the copy.

Overviews: averaged for probabilities and imagery, nearest for masks (a 0/1 mask stays 0/1).
Averaged levels are built one GDAL call per level, each from the full-resolution pixels:
a single call for several levels cascades (level 8 from level 4 from level 2), rounding to
uint8 at each step, and drifts up to 1.3 grey levels from the true mean at level 8 (1.4 at
16; the COG driver's own ``OVERVIEW_RESAMPLING=AVERAGE`` cascades the same way); one level
per call stays within 0.5.

Nodata convention (one way, every output kind)
    Nodata is GDAL's per-dataset internal mask band (255 = valid, 0 = nodata), never a
    nodata value: 0 is a valid probability and a valid mask class. Pixel values under the
    mask are 0 on images and predictions; a training mask keeps its labels there (as the
    labels say, so training data is unchanged). Rasterio reads it with
    ``ds.dataset_mask()`` / ``ds.read_masks()``, GIS tools show it transparent, overviews
    carry their own mask levels.

    - ``*_prob.tif`` / ``*_mask.tif``: nodata where every input band was nodata.
    - 8-bit images (``basiss masks``): nodata where the source was nodata in every band.
    - training masks: the valid area of the image they were made for (labels say nothing
      where the image has no pixels).
    - a raster whose pixels are all valid still has the mask band (all 255), so "has a
      mask band" never depends on the data.

Band descriptions say what each band is (:class:`Layer`); the probability's scale is 1/255
with offset 0, so GIS tools that apply it show 0..1 (rasterio and basiss read the raw 0..255).
"""

from __future__ import annotations

import contextlib
import enum
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
from rasterio.enums import Resampling

#: Tile size of every COG (and of the streamed file).
COG_BLOCK = 256
#: Overviews stop at the first level whose larger side is at most this many pixels.
OVERVIEW_MAX_PX = 512
#: Probability scale on disk: value 255 is p = 1.
PROB_SCALE = 1.0 / 255.0
#: GDAL threads compressing the overviews and the COG copy. The finish runs once the
#: pixels are written, when the model no longer needs the cores; the files are byte for
#: byte the same (measured on a 6000 x 6000 probability + mask pair, 2 cores: 2.7-3.0 s
#: with one thread, 2.2 s with two).
FINISH_THREADS = 2


class Layer(enum.Enum):
    """What a raster holds: it decides overview resampling and band descriptions."""

    PROBABILITY = "probability"
    MASK = "mask"
    IMAGE = "image"

    @property
    def resampling(self) -> Resampling:
        """Overview resampling: nearest for class masks, average otherwise."""
        return Resampling.nearest if self is Layer.MASK else Resampling.average


def band_descriptions(layer: Layer, count: int) -> list[str | None]:
    """The description of each band of a ``layer`` raster with ``count`` bands.

    One probability band is ``road probability``; several are ``class k probability``
    (k = 1..count, background excluded). A mask is ``road mask`` (``class index`` when the
    model has several classes: ``count`` is the probability's bands). Imagery: None (kept).
    """
    if layer is Layer.PROBABILITY:
        if count == 1:
            return ["road probability"]
        return [f"class {k} probability" for k in range(1, count + 1)]
    if layer is Layer.MASK:
        return ["road mask" if count == 1 else "class index"]
    return [None] * count


def describe(ds: Any, layer: Layer, classes: int = 1) -> None:
    """Set band descriptions (and the probability's scale/offset) on an open writable ``ds``.

    Args:
        ds: a dataset open for writing.
        layer: what it holds.
        classes: probability bands of the prediction (names a multi-class mask's band).
    """
    count = classes if layer is Layer.MASK else ds.count
    for b, text in enumerate(band_descriptions(layer, count)[: ds.count], start=1):
        if text is not None:
            ds.set_band_description(b, text)
    if layer is Layer.PROBABILITY:
        ds.scales = (PROB_SCALE,) * ds.count
        ds.offsets = (0.0,) * ds.count


def overview_factors(width: int, height: int, max_px: int = OVERVIEW_MAX_PX) -> list[int]:
    """Decimation factors 2, 4, 8... down to the first level with ``max(w, h) <= max_px``.

    >>> overview_factors(4096, 1024)
    [2, 4, 8]
    >>> overview_factors(512, 300)
    []
    """
    factors: list[int] = []
    f = 1
    while -(-max(width, height) // f) > max_px:
        f *= 2
        factors.append(f)
    return factors


def build_overviews(path: Path, layer: Layer) -> list[int]:
    """Build the internal overviews of the tiled GeoTIFF at ``path`` (and of its mask band).

    Averaged layers get one GDAL call per level (each level from full resolution, so
    within 0.5 of the true mean); nearest levels one call (sampling does not drift).

    Returns:
        The factors built.
    """
    with rasterio.open(path) as ds:
        factors = overview_factors(ds.width, ds.height)
    if not factors:
        return factors
    groups = [factors] if layer.resampling is Resampling.nearest else [[f] for f in factors]
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        for group in groups:
            with rasterio.open(path, "r+") as ds:
                ds.build_overviews(group, layer.resampling)
    return factors


def cog_copy(src: Path, dst: Path, blocksize: int = COG_BLOCK) -> None:
    """Copy the tiled GeoTIFF ``src`` (with its overviews and mask) to a COG at ``dst``.

    GDAL's COG driver reads ``src`` by blocks; band descriptions, scale/offset and the
    internal mask band (with its overviews) are carried over.
    """
    with rasterio.open(src) as ds:
        has_overviews = bool(ds.overviews(1))
        dtype = ds.dtypes[0]
    options = {
        "BLOCKSIZE": blocksize,
        "COMPRESS": "DEFLATE",
        "LEVEL": 1,  # ~5x faster than 6 on imagery, files about as small
        "BIGTIFF": "IF_SAFER",
        "OVERVIEWS": "FORCE_USE_EXISTING" if has_overviews else "NONE",
    }
    if dtype in ("uint8", "int8", "uint16", "int16"):
        options["PREDICTOR"] = "YES"
    rasterio.shutil.copy(src, dst, driver="COG", **options)


#: Compression of the files only basiss reads back (streamed files before the COG copy,
#: row-block files of resumable runs): zstd level 1 writes a 6000 x 3000 x 2 uint8 raster
#: in 0.12 s and reads it in 0.08 s, against 0.47 s and 0.20 s for deflate level 1 with a
#: predictor, files about as small. The COG copy recompresses with deflate (what every
#: reader has).
TEMPORARY_COMPRESSION: dict[str, Any] = {"compress": "zstd", "zstd_level": 1, "predictor": 1}
#: ... when GDAL was built without zstd.
TEMPORARY_FALLBACK: dict[str, Any] = {"compress": "deflate", "zlevel": 1}


@functools.cache
def _has_zstd() -> bool:
    """True when this GDAL writes zstd-compressed GeoTIFFs (checked once, in memory)."""
    try:
        with rasterio.MemoryFile() as mem, mem.open(
            driver="GTiff", width=1, height=1, count=1, dtype="uint8",
            transform=rasterio.Affine.translation(0, 1) * rasterio.Affine.scale(1, -1),
            **TEMPORARY_COMPRESSION,
        ) as ds:  # fmt: skip
            ds.write(np.zeros((1, 1, 1), np.uint8))
        return True
    except (rasterio.errors.RasterioError, ValueError):
        return False


def temporary_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """``profile`` for a file only basiss reads back: same grid, tiles and bands, fast
    compression (:data:`TEMPORARY_COMPRESSION`)."""
    fast = TEMPORARY_COMPRESSION if _has_zstd() else TEMPORARY_FALLBACK
    out = {k: v for k, v in profile.items() if k not in ("compress", "zlevel", "predictor")}
    return {**out, **fast}


def stream_path(tmp: Path) -> Path:
    """The streamed tiled GeoTIFF behind ``tmp``: ``<tmp stem>.stream<suffix>``, same folder.

    It keeps ``tmp``'s ``.part-<pid>`` so leftovers of a killed run are found with it.
    """
    return tmp.with_name(f"{tmp.stem}.stream{tmp.suffix}")


@contextlib.contextmanager
def cog_file(tmp: Path, layer: Layer) -> Iterator[Path]:
    """Yield the path to stream a tiled GeoTIFF to; on success turn it into a COG at ``tmp``.

    Use under :func:`basiss.io.raster.atomic_output` (``tmp`` is its temporary name), open
    the streamed file with :func:`temporary_profile`, and close it before the block ends.
    The streamed file is always removed; on an exception ``tmp`` is not written.
    """
    stream = stream_path(Path(tmp))
    try:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            yield stream
        with rasterio.Env(GDAL_NUM_THREADS=str(FINISH_THREADS)):
            build_overviews(stream, layer)
            cog_copy(stream, Path(tmp))
    finally:
        with contextlib.suppress(FileNotFoundError):
            stream.unlink()


@contextlib.contextmanager
def cog_files(tmps: Sequence[Path], layers: Sequence[Layer]) -> Iterator[tuple[Path, ...]]:
    """:func:`cog_file` for several outputs at once (e.g. a probability + mask pair)."""
    with contextlib.ExitStack() as stack:
        yield tuple(
            stack.enter_context(cog_file(t, layer)) for t, layer in zip(tmps, layers, strict=True)
        )
