"""Web-Mercator tiles and point values cut on demand from GeoTIFFs, by rio-tiler.

A :class:`RasterLayer` is one raster of a scene (imagery, probability or mask) as the page
sees it: an id, its lon/lat bounds and the zooms it is drawn at. :class:`TileSource` renders
``z/x/y`` PNG tiles of the layers; a tile reads only the blocks (or the overview level) it
covers, so a 50,000 px scene opens at once.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import rasterio
from PIL import Image
from rio_tiler.errors import (
    NoOverviewWarning,
    PointOutsideBounds,
    RioTilerError,
    TileOutsideBounds,
)
from rio_tiler.io import Reader

from basiss.errors import file_error, reason
from basiss.view import style

TMS = morecantile.tms.get("WebMercatorQuad")
# rio-tiler warns on every open of a file without overviews; the page's min zoom handles it
warnings.filterwarnings("ignore", category=NoOverviewWarning)
TILE_SIZE = 256
#: Zoom levels drawn below the coarsest overview (each level reads 4x more pixels a tile).
ZOOMS_BELOW_OVERVIEWS = 2
#: Kinds of raster layer, in drawing order (bottom first).
RASTER_KINDS = ("image", "prob", "mask")


@dataclass(frozen=True)
class RasterLayer:
    """One raster as the page shows it.

    Attributes:
        id: the layer's name in tile URLs, e.g. ``prob-0``.
        kind: ``image``, ``prob`` or ``mask``.
        path: the GeoTIFF.
        scene: the scene's name.
        bounds: ``(west, south, east, north)`` in degrees (EPSG:4326).
        minzoom, maxzoom: the zooms tiles are drawn at (maxzoom: native resolution).
        indexes: bands read (imagery: the first three, or one).
        stretch: per-band ``(low, high)`` mapped to 0..255 (non-8-bit imagery), else None.
    """

    id: str
    kind: str
    path: Path
    scene: str
    bounds: tuple[float, float, float, float]
    minzoom: int
    maxzoom: int
    indexes: tuple[int, ...]
    stretch: tuple[tuple[float, float], ...] | None = None


def _check_kind(path: Path, kind: str, ds: rasterio.io.DatasetReader) -> tuple[int, ...]:
    """The bands to read for ``kind``, or a one-line error when the file cannot be one."""
    if ds.crs is None:
        raise file_error(path, "raster has no CRS: cannot be placed on a map")
    if kind == "image":
        return (1, 2, 3) if ds.count >= 3 else (1,)
    if ds.dtypes[0] != "uint8":
        raise file_error(path, f"{kind} raster must be uint8, found {ds.dtypes[0]}")
    return (1,)


def _stretch(ds: rasterio.io.DatasetReader, indexes: tuple[int, ...]) -> Any:
    """Per-band 2..98 % limits of non-8-bit imagery (decimated read), else None."""
    if all(ds.dtypes[i - 1] == "uint8" for i in indexes):
        return None
    from basiss.io.raster import stretch_limits

    limits = stretch_limits(ds, list(indexes), max_pixels=1_000_000)
    return tuple((float(lo), float(max(hi, lo + 1))) for lo, hi in limits)


def open_layer(layer_id: str, kind: str, path: Path, scene: str) -> RasterLayer:
    """Describe one raster for the page (bounds, zooms, bands, stretch).

    Raises:
        BasissError: the file cannot be read, has no CRS, or a prob/mask is not uint8.
    """
    try:
        with rasterio.open(path) as ds:
            indexes = _check_kind(path, kind, ds)
            stretch = _stretch(ds, indexes)
            overview = max(ds.overviews(1) or [1])
            with Reader(None, dataset=ds) as r:
                bounds = tuple(float(b) for b in r.get_geographic_bounds("EPSG:4326"))
                maxzoom = int(r.maxzoom)
    except (rasterio.errors.RasterioError, RioTilerError) as exc:
        raise file_error(path, f"cannot read raster ({reason(exc)})") from None
    minzoom = max(0, maxzoom - int(math.log2(overview)) - ZOOMS_BELOW_OVERVIEWS)
    return RasterLayer(layer_id, kind, path, scene, bounds, minzoom, maxzoom, indexes, stretch)


def _png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an ``(rows, cols, 4)`` uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


#: A fully transparent tile, for places a layer does not cover.
EMPTY_PNG = _png(np.zeros((TILE_SIZE, TILE_SIZE, 4), np.uint8))
_PROB_LUT = np.array([style.probability_colormap()[v] for v in range(256)], np.uint8)
_MASK_LUT = np.array([style.mask_colormap()[v] for v in range(256)], np.uint8)


def colorize(layer: RasterLayer, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """RGBA ``(rows, cols, 4)`` of a tile's ``data`` (bands, rows, cols) and valid mask.

    Probability and mask go through their colour tables; imagery is stretched (when not
    8-bit) and grey imagery repeated to RGB. Invalid pixels are transparent.
    """
    if layer.kind in ("prob", "mask"):
        lut = _PROB_LUT if layer.kind == "prob" else _MASK_LUT
        rgba = lut[data[0]]
    else:
        bands = data.astype(np.float32)
        if layer.stretch is not None:
            lo = np.array([s[0] for s in layer.stretch], np.float32).reshape(-1, 1, 1)
            hi = np.array([s[1] for s in layer.stretch], np.float32).reshape(-1, 1, 1)
            bands = (bands - lo) * (255.0 / (hi - lo))
        rgb = np.clip(bands, 0, 255).astype(np.uint8)
        rgb = np.repeat(rgb, 3, axis=0) if rgb.shape[0] == 1 else rgb
        rgba = np.dstack([rgb.transpose(1, 2, 0), np.full(valid.shape, 255, np.uint8)])
    rgba = rgba.copy()
    rgba[..., 3] = np.where(valid, rgba[..., 3], 0)
    return rgba


#: rio-tiler resampling per kind: (reading overviews / decimation, warping to Web Mercator).
RESAMPLING = {
    "image": ("average", "bilinear"),
    "prob": ("average", "average"),
    "mask": ("nearest", "nearest"),
}


class TileSource:
    """Render tiles and point values of a set of :class:`RasterLayer` (thread-safe).

    Each call opens its file afresh (about 1 ms, against ~5 ms to cut a tile): a rasterio
    dataset may be used by one thread only, and the server answers each request in a new
    thread.
    """

    def __init__(self, layers: list[RasterLayer]) -> None:
        self.layers = {layer.id: layer for layer in layers}

    @contextmanager
    def _reader(self, layer_id: str) -> Iterator[Reader]:
        """A reader of the layer's file, closed after use."""
        with Reader(str(self.layers[layer_id].path)) as reader:
            yield reader

    def read(self, layer_id: str, z: int, x: int, y: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The tile's data ``(bands, 256, 256)`` and valid mask, None outside the layer.

        Raises:
            KeyError: an unknown layer id.
        """
        layer = self.layers[layer_id]
        if z < layer.minzoom:
            return None
        rs, warp = RESAMPLING[layer.kind]
        with self._reader(layer_id) as r:
            try:
                img = r.tile(
                    x, y, z, tilesize=TILE_SIZE, indexes=layer.indexes,
                    resampling_method=rs, reproject_method=warp,
                )  # fmt: skip
            except TileOutsideBounds:
                return None
        return np.asarray(img.data), np.asarray(img.mask) > 0

    def tile_png(self, layer_id: str, z: int, x: int, y: int) -> bytes:
        """The tile as PNG bytes (transparent outside the layer or below its min zoom)."""
        got = self.read(layer_id, z, x, y)
        if got is None:
            return EMPTY_PNG
        return _png(colorize(self.layers[layer_id], *got))

    def point(self, lon: float, lat: float) -> list[dict[str, Any]]:
        """Probability (0..1) and mask value at a lon/lat, one entry per scene that has one."""
        found: dict[str, dict[str, Any]] = {}
        for layer in self.layers.values():
            if layer.kind == "image":
                continue
            with self._reader(layer.id) as r:
                try:
                    pt = r.point(lon, lat, indexes=1)
                except PointOutsideBounds:
                    continue
            if not bool(np.asarray(pt.mask).all()):
                continue
            value = int(np.asarray(pt.data).ravel()[0])
            entry = found.setdefault(layer.scene, {"scene": layer.scene})
            if layer.kind == "prob":
                entry["probability"] = round(value / 255.0, 4)
            else:
                entry["road"] = bool(value)
        return list(found.values())

    def close(self) -> None:
        """Nothing stays open between calls; kept so callers can say they are done."""


def tiles_covering(bounds: tuple[float, float, float, float], zoom: int) -> list[tuple[int, int]]:
    """The ``(x, y)`` of every zoom-``zoom`` tile that meets ``bounds`` (west, south, east,
    north in degrees), row by row."""
    west, south, east, north = bounds
    eps = 1e-9
    ul = TMS.tile(west + eps, north - eps, zoom)
    lr = TMS.tile(east - eps, south + eps, zoom)
    return [(x, y) for y in range(ul.y, lr.y + 1) for x in range(ul.x, lr.x + 1)]
