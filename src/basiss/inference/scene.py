"""Per-scene planning: what predicting one image needs to know, computed once per image.

The bands the model reads, the nodata value, the 16->8 bit stretch limits
(from one decimated read of the whole scene, so every block of the scene is
stretched alike), the chip grid, the output profile and a bounded GDAL cache.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from basiss.errors import file_error
from basiss.grid import ChipGrid, chip_grid
from basiss.inference.predictor import n_outputs
from basiss.io.bands import model_bands
from basiss.io.raster import (
    PathLike,
    dataset_nodata,
    geotiff_profile,
    is_8bit,
    stretch_limits,
)
from basiss.training.checkpoint import ModelSpec

#: Output tile size; finished rows are written in whole tile rows.
TILE = 256
#: Smallest GDAL block cache of a run.
MIN_CACHE_BYTES = 16 << 20


class PredictWarning(UserWarning):
    """Something about an input the user should know; the prediction is still written."""


def check_chip(
    chip: tuple[int, int], model_chip: tuple[int, int], width: int, height: int, path: PathLike
) -> None:
    """Refuse a chip larger than both the image and the model's training chip on an axis.

    A chip larger than the image is padded; up to the model's own chip size that is
    how a small image is predicted, beyond it the padding is only wasted memory.

    Raises:
        BasissError: naming the image, its size and the largest useful chip.
    """
    most = (max(width, model_chip[0]), max(height, model_chip[1]))
    if chip[0] > most[0] or chip[1] > most[1]:
        raise file_error(
            path,
            f"chip {chip[0]}x{chip[1]} px is larger than the image ({width}x{height} px) "
            f"and the checkpoint's chip ({model_chip[0]}x{model_chip[1]}): "
            f"use a slice of at most {most[0]} {most[1]}",
        )


@dataclass(frozen=True)
class Scene:
    """What predicting one image needs to know about it.

    Attributes:
        path: the image.
        width, height: its size in pixels.
        bands: 1-based bands read for the model.
        nodata: the input value meaning "no data" (0 when the file has none).
        limits: per-band 16->8 bit stretch limits ``(bands, 2)``, None for uint8 input.
        grid: the chip grid over the whole image.
        profile: the full-scene output profile (``<stem>_prob.tif``; the mask has 1 band).
        cache_bytes: GDAL block cache for a run over this image.
    """

    path: Path
    width: int
    height: int
    bands: list[int]
    nodata: float
    limits: np.ndarray | None
    grid: ChipGrid
    profile: dict[str, Any]
    cache_bytes: int

    @property
    def acc_width(self) -> int:
        """Accumulator width: the image, or the one chip that reaches past a narrow image."""
        return max(self.width, self.grid.cols[-1] + self.grid.slice_x)

    def rows_profile(self, row0: int, row1: int) -> dict[str, Any]:
        """The output profile of pixel rows ``[row0, row1)`` (same grid, shifted origin)."""
        transform = self.profile["transform"] @ rasterio.Affine.translation(0, row0)
        return dict(self.profile, height=row1 - row0, transform=transform)

    def env(self) -> rasterio.Env:
        """The GDAL settings of a run: bounded block cache, nodata as an internal mask."""
        return rasterio.Env(GDAL_CACHEMAX=self.cache_bytes, GDAL_TIFF_INTERNAL_MASK=True)


def gdal_cache_bytes(width: int, slice_y: int, bytes_per_px: int) -> int:
    """GDAL block cache for one run: a few strips of input tiles, not the scene.

    GDAL's default (5% of RAM) would keep caching input blocks as the reader
    moves down a tall scene, growing memory with the height.

    Args:
        width: pixels read per strip (the accumulator width).
        slice_y: chip height (a strip's rows).
        bytes_per_px: input bytes per pixel (bands x item size).
    """
    strip = width * (slice_y + 2 * TILE) * bytes_per_px
    return int(max(MIN_CACHE_BYTES, 2 * strip))


def scene_info(
    ds: rasterio.io.DatasetReader,
    path: PathLike,
    spec: ModelSpec,
    chip: tuple[int, int],
    stride: tuple[int, int],
    limits: np.ndarray | None = None,
) -> Scene:
    """Check ``ds`` against the model and work out its grid, stretch and output profile.

    Args:
        ds: the open image.
        path: the image's path (for messages and :attr:`Scene.path`).
        spec: the model's spec (bands, stretch, classes).
        chip, stride: the chip geometry ``(x, y)`` (:attr:`Predictor.chip`, ``.stride``).
        limits: known stretch limits (e.g. computed once for all blocks of a scene);
            None: computed here for non-uint8 input (a decimated read of the scene).

    Warns:
        PredictWarning: the image has no CRS (the outputs then have none either).

    Raises:
        BasissError: the image's bands do not fit the model, or the chip is larger than
            needed (:func:`check_chip`).
    """
    bands = model_bands(ds, spec.bands, spec.in_channels, path)
    check_chip(chip, tuple(spec.slice), ds.width, ds.height, path)
    if ds.crs is None:
        warnings.warn(
            PredictWarning(f"{path}: has no CRS; the outputs have none either"), stacklevel=2
        )
    sx, sy = chip
    grid = chip_grid(ds.width, ds.height, sx, sy, stride[0], stride[1])
    itemsize = int(np.dtype(ds.dtypes[0]).itemsize)
    acc_width = max(ds.width, grid.cols[-1] + sx)
    cache = gdal_cache_bytes(acc_width, sy, len(bands) * itemsize)
    if limits is None and not is_8bit(ds):
        with rasterio.Env(GDAL_CACHEMAX=cache):
            limits = stretch_limits(ds, bands, spec.stretch[0], spec.stretch[1])
    profile = geotiff_profile(
        ds.width, ds.height, n_outputs(spec), "uint8", ds.crs, ds.transform, None, TILE
    )
    return Scene(
        path=Path(path),
        width=ds.width,
        height=ds.height,
        bands=bands,
        nodata=dataset_nodata(ds),
        limits=limits,
        grid=grid,
        profile=profile,
        cache_bytes=cache,
    )
