"""Road networks from probability or mask rasters: the public entry points.

:func:`extract_network` streams a GeoTIFF in row bands (:mod:`basiss.graph.bands`),
:func:`network_from_array` does the same for an array in memory. Both run:

    probability --threshold / hysteresis--> road pixels --fill holes, drop blobs (m²)-->
    --thin (scikit-image)--> skeleton --trace--> pieces --join at band edges-->
    raw pixel graph --clean (metres; border ends onto the border)--> contract network

Input: one band, either a basiss probability (uint8 0..255, ``*_prob.tif``), a 0/1 or
0/255 mask, or floats 0..1; pixels outside the GDAL mask (nodata) are background. The
value scale is fixed before the first band (integers: 0/1 when the raster's maximum is 1
and its name does not end in ``_prob``, else 0..255), so every band reads alike. A raster
without a CRS is processed in pixels (``options.pixel_size_m`` metres each) with one
:class:`GraphWarning`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.windows import Window

from basiss.errors import BasissError, file_error, reason
from basiss.geo import pixel_size_m
from basiss.graph.bands import pixel_graph
from basiss.graph.clean import clean
from basiss.graph.network import Scene, to_contract
from basiss.graph.options import DEFAULT_OPTIONS, GraphOptions, resolve
from basiss.io.raster import PathLike, open_raster, streaming_env
from basiss.memory import return_large_blocks


class GraphWarning(UserWarning):
    """A graph-extraction caveat that does not stop it (no CRS: pixel units...)."""


def value_scale(dtype: str, max_value: float, name: str = "") -> float:
    """The divisor that turns raster values into probability 0..1.

    Args:
        dtype: the raster's data type.
        max_value: its largest value.
        name: its file name (``*_prob*`` is always 0..255).

    Returns:
        1 for floats and 0/1 masks; 255 for 0..255 probabilities and 0/255 masks; the
        largest value for wider integers.
    """
    if np.issubdtype(np.dtype(dtype), np.floating):
        return 1.0
    if max_value <= 1 and "_prob" not in Path(name).stem:
        return 1.0
    return 255.0 if max_value <= 255 else float(max_value)


def _scene(
    transform: Any, crs: Any, width: int, height: int, options: GraphOptions, name: str
) -> Scene:
    """The scene's grid and pixel size; warns once when there is no CRS."""
    if crs is None:
        warnings.warn(
            GraphWarning(
                f"{name}: no CRS; the network is in pixels ({options.pixel_size_m:g} m each)"
            ),
            stacklevel=3,
        )
        sx = sy = options.pixel_size_m
    else:
        sx, sy = pixel_size_m(transform, crs, width, height)
    return Scene(width, height, transform, crs, sx, sy, Path(name).stem if name else "")


def _network(
    read: Any, scene: Scene, options: GraphOptions, band_rows: int | None, desc: str
) -> nx.MultiGraph:
    """Bands -> raw graph -> cleaning -> contract, for any row reader."""
    popt = resolve(options, scene.sx, scene.sy)
    raw = pixel_graph(read, scene.width, scene.height, options, popt, band_rows, desc)
    widest, halo_m = raw.graph.get("widest_cut_blob_m", 0.0), popt.halo * scene.sy
    if widest >= halo_m:
        warnings.warn(
            GraphWarning(
                f"{desc}: a road blob ~{2 * widest:.0f} m wide meets a band edge; the network "
                f"there may differ from a whole-scene run (halo {halo_m:.0f} m; raise halo_m)"
            ),
            stacklevel=3,
        )
    clean(raw, options, scene.sx, scene.sy, scene.width, scene.height)
    return to_contract(raw, scene, options.simplify_m, options.pixel_size_m)


def network_from_array(
    prob: np.ndarray,
    transform: Any,
    crs: Any,
    options: GraphOptions = DEFAULT_OPTIONS,
    band_rows: int | None = None,
    image_id: str = "",
) -> nx.MultiGraph:
    """The road network of a probability or mask array in memory.

    Args:
        prob: ``(rows, cols)`` (or ``(1, rows, cols)``) probability 0..1 (floats),
            uint8 0..255, or a 0/1 or 0/255 mask.
        transform: its affine transform (:class:`rasterio.Affine`).
        crs: its CRS (anything rasterio accepts), or None (pixel units, with a warning).
        options: the extraction options.
        band_rows: process in bands of this many rows (None: the whole array at once;
            the result is the same either way, see :mod:`basiss.graph.bands`).
        image_id: the image's name, kept in ``G.graph["image_id"]``.

    Returns:
        The network (see :mod:`basiss.graph`).
    """
    arr = np.asarray(prob)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise BasissError(f"{image_id or 'array'}: expected one band, got shape {arr.shape}")
    scale = value_scale(str(arr.dtype), float(arr.max()) if arr.size else 0.0, image_id)
    crs = None if crs is None else CRS.from_user_input(crs)
    scene = _scene(transform, crs, arr.shape[1], arr.shape[0], options, image_id)

    def read(a: int, b: int) -> np.ndarray:
        return np.nan_to_num(arr[a:b].astype(np.float32) / np.float32(scale))

    return _network(read, scene, options, band_rows or arr.shape[0], image_id or "array")


def _raster_max(ds: rasterio.io.DatasetReader) -> float:
    """The largest value of band 1, read block row by block row (memory ~ width)."""
    top = 0.0
    step = max(1, 4_000_000 // max(1, ds.width))
    for r in range(0, ds.height, step):
        block = ds.read(1, window=Window(0, r, ds.width, min(step, ds.height - r)))
        if block.size:
            top = max(top, float(block.max()))
    return top


def extract_network(
    raster: PathLike,
    options: GraphOptions = DEFAULT_OPTIONS,
    band_rows: int | None = None,
) -> nx.MultiGraph:
    """The road network of a probability or mask GeoTIFF, streamed in row bands.

    Args:
        raster: a one-band raster (``*_prob.tif``, ``*_mask.tif``, any 0/1 or 0/255 mask).
        options: the extraction options.
        band_rows: rows per band (None: automatic; larger than the raster: one piece).

    Returns:
        The network (see :mod:`basiss.graph`); ``G.graph["image_id"]`` is the file stem.

    Raises:
        BasissError: unreadable raster, more than one band, a failed read.
    """
    path = Path(raster)
    return_large_blocks()  # band after band of arrays: keep RSS flat in the scene's height
    with streaming_env(), open_raster(path) as ds:
        if ds.count != 1:
            raise file_error(path, f"has {ds.count} bands; a probability or mask has one")
        try:
            known = ds.dtypes[0] == "uint8" and "_prob" in path.stem  # no pass needed
            top = 255.0 if known else _raster_max(ds)
            scale = value_scale(ds.dtypes[0], top, path.name)
            scene = _scene(ds.transform, ds.crs, ds.width, ds.height, options, str(path))
            masked = any(f != rasterio.enums.MaskFlags.all_valid for f in ds.mask_flag_enums[0])

            def read(a: int, b: int) -> np.ndarray:
                win = Window(0, a, ds.width, b - a)
                prob = ds.read(1, window=win).astype(np.float32) / np.float32(scale)
                if masked:
                    prob[ds.read_masks(1, window=win) == 0] = 0.0
                return np.nan_to_num(prob)

            return _network(read, scene, options, band_rows, path.name)
        except rasterio.errors.RasterioIOError as exc:
            raise file_error(path, f"read failed ({reason(exc)})") from None
