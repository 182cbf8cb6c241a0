"""The tile-row writer: finished pixel rows into a probability + mask GeoTIFF pair.

Rows arrive top to bottom (:class:`basiss.inference.stream.Rows`); they are
collected into whole tile rows so every compressed tile is written once, and
the pair goes through temporary names that are renamed only when both files
are complete (:func:`basiss.io.raster.atomic_outputs`). Final outputs are
Cloud-Optimized GeoTIFFs (:mod:`basiss.io.cog`: rows streamed into a tiled
GeoTIFF, then overviews and a COG copy by GDAL); row-block files stay plain.

Nodata is not a pixel value (0 is a valid probability) but GDAL's per-dataset
internal mask band (0 = nodata), which rasterio reads with
``ds.dataset_mask()`` and GIS tools show as transparent; under it the pixel
values are 0.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from basiss.errors import file_error
from basiss.inference.scene import TILE
from basiss.inference.stream import Rows
from basiss.io.cog import Layer, cog_files, describe, temporary_profile
from basiss.io.raster import PathLike, atomic_outputs

#: Suffixes of the two outputs of an image.
PROB_SUFFIX, MASK_SUFFIX = "_prob.tif", "_mask.tif"


def output_paths(image: PathLike, out_dir: PathLike) -> tuple[Path, Path]:
    """``(DIR/<stem>_prob.tif, DIR/<stem>_mask.tif)`` for an input image."""
    stem = Path(image).stem
    out = Path(out_dir)
    return out / f"{stem}{PROB_SUFFIX}", out / f"{stem}{MASK_SUFFIX}"


def prepare_out_dir(out_dir: PathLike) -> Path:
    """Create the output folder (and its parents) and check that it takes files.

    Raises:
        BasissError: ``out_dir`` is a file, lies under a file, or is not writable.
    """
    out = Path(out_dir)
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == out else f"is under a file ({parent})"
            raise file_error(out, f"{where}, not a folder for the outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise file_error(out, f"cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise file_error(out, "output folder is not writable")
    return out


class TileRowWriter:
    """Collects finished pixel rows and writes them to both outputs in whole tile rows.

    Args:
        prob_ds, mask_ds: the open output datasets.
        width, height: their size.
        bands: probability bands.
        tile: tile height (rows are written ``tile`` at a time).
    """

    def __init__(
        self, prob_ds: Any, mask_ds: Any, width: int, height: int, bands: int, tile: int
    ) -> None:
        self.prob_ds, self.mask_ds = prob_ds, mask_ds
        self.width, self.height, self.tile = width, height, tile
        self.prob = np.zeros((bands, tile, width), np.uint8)
        self.mask = np.zeros((tile, width), np.uint8)
        self.valid = np.zeros((tile, width), np.uint8)
        self.start = 0  # file row of self.prob[:, 0]
        self.fill = 0

    @property
    def rows_done(self) -> int:
        """Rows handed to :meth:`add` so far."""
        return self.start + self.fill

    def add(self, prob: np.ndarray, mask: np.ndarray, valid: np.ndarray) -> None:
        """Append finished rows: ``prob (K, n, W)`` uint8, ``mask``/``valid (n, W)``.

        Raises:
            ValueError: more rows than the file has (a bug, never a user error).
        """
        done = 0
        n = mask.shape[0]
        if self.rows_done + n > self.height:
            raise ValueError(f"{self.rows_done + n} rows for a {self.height}-row file")
        while done < n:
            k = min(n - done, self.tile - self.fill)
            self.prob[:, self.fill : self.fill + k] = prob[:, done : done + k]
            self.mask[self.fill : self.fill + k] = mask[done : done + k]
            self.valid[self.fill : self.fill + k] = valid[done : done + k]
            self.fill += k
            done += k
            if self.fill == self.tile:
                self.flush()

    def flush(self) -> None:
        """Write the rows collected so far (a partial tile row at the bottom)."""
        if not self.fill:
            return
        win = Window(0, self.start, self.width, self.fill)
        msk = self.valid[: self.fill] * np.uint8(255)
        self.prob_ds.write(self.prob[:, : self.fill], window=win)
        self.prob_ds.write_mask(msk, window=win)
        self.mask_ds.write(self.mask[np.newaxis, : self.fill], window=win)
        self.mask_ds.write_mask(msk, window=win)
        self.start += self.fill
        self.fill = 0


def write_rows(
    rows: Iterable[Rows],
    prob_path: PathLike,
    mask_path: PathLike,
    profile: dict[str, Any],
    cog: bool = True,
) -> int:
    """Write bands of finished rows to a probability + mask GeoTIFF pair, atomically.

    Call it under :meth:`basiss.inference.scene.Scene.env` (internal nodata masks,
    bounded cache). The rows are streamed into tiled GeoTIFFs; with ``cog``, GDAL then
    builds their overviews and copies them to Cloud-Optimized GeoTIFFs
    (:func:`basiss.io.cog.cog_file`: average for the probability, nearest for the mask),
    with band descriptions and the probability's 1/255 scale. Either both final files
    appear or neither.

    Args:
        rows: consecutive :class:`Rows` that fill the profile's height exactly.
        prob_path, mask_path: the outputs (replaced only if everything succeeds).
        profile: the probability file's profile (the mask gets the same with 1 band).
        cog: False for intermediate files (row-block files): plain tiled GeoTIFFs,
            compressed for speed (:func:`basiss.io.cog.temporary_profile`).

    Returns:
        Chips run (the sum of ``Rows.chips``).

    Raises:
        ValueError: the rows do not fill the file exactly (a bug, never a user error).
    """
    width, height, bands = profile["width"], profile["height"], profile["count"]
    chips = 0
    with contextlib.ExitStack() as stack:
        tmps = stack.enter_context(atomic_outputs(Path(prob_path), Path(mask_path)))
        if cog:
            tmps = stack.enter_context(cog_files(tmps, (Layer.PROBABILITY, Layer.MASK)))
        fast = temporary_profile(profile)  # a stream before its COG copy, or a block file
        prob_ds = stack.enter_context(rasterio.open(tmps[0], "w", **fast))
        mask_ds = stack.enter_context(rasterio.open(tmps[1], "w", **dict(fast, count=1)))
        describe(prob_ds, Layer.PROBABILITY)
        describe(mask_ds, Layer.MASK, classes=bands)
        writer = TileRowWriter(prob_ds, mask_ds, width, height, bands, TILE)
        for band in rows:
            writer.add(band.prob, band.mask, band.valid)
            chips += band.chips
        writer.flush()
        if writer.rows_done != height:
            raise ValueError(f"wrote {writer.rows_done} of {height} rows")
    return chips
