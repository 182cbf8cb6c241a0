"""Road centerlines -> buffered polygons in a metric CRS -> a 0/1 mask on an image grid.

The SpaceNet convention: each centerline is buffered ``buffer_meters`` on each
side (round caps and joins) in the local UTM zone of the image, the polygons
are reprojected to the image CRS and burnt onto the image's exact grid (a
pixel is road when its centre falls inside a polygon). On the SpaceNet Vegas
sample this reproduces solaris's ``road_mask`` pixel for pixel.

Input quirks are handled per geometry: Z coordinates are dropped,
Multi-geometries and collections are split into parts, polygons are burnt as
given (no buffer), points are skipped, null and empty geometries are ignored.
Everything dropped, and labels that miss the image entirely (usually a CRS
mistake), is reported with a :class:`LabelWarning` through the standard
:mod:`warnings` module, one line naming the file and the problem; batch jobs
collect these warnings into their report.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from rasterio.features import rasterize
from rasterio.transform import array_bounds

from basiss.errors import BasissError, file_error, reason
from basiss.geo import utm_crs_for
from basiss.io.cog import Layer
from basiss.io.raster import PathLike, image_valid_area, open_raster, write_geotiff
from basiss.labels.widths import DEFAULT_LANES, METERS_PER_LANE

#: Property names holding the lane count (SpaceNet 3 ships both; shapefile
#: exports truncate the name to 10 characters).
LANE_COLUMNS = ("lane_number", "lane_numbe")
#: Segments per quarter circle of the round buffer caps and joins (geopandas's
#: default; with 16 the Vegas oracle is matched pixel for pixel, with 8 all but one).
QUAD_SEGS = 16

_LINE_TYPES = ("LineString", "LinearRing")
_POLYGON_TYPES = ("Polygon",)
_POINT_TYPES = ("Point",)


class LabelWarning(UserWarning):
    """A label problem that does not stop the mask (points skipped, labels off the image...)."""


#: The one-line problem of labels that all miss their image.
OUTSIDE_PROBLEM = (
    "every road misses the image (likely a CRS mistake); --allow-empty keeps an all-zero mask"
)


class LabelsOutsideWarning(LabelWarning):
    """Every label geometry of an image misses it (or was dropped as out of range): the
    mask is all zero, most likely from a CRS mistake."""


def _warn(message: str, category: type[LabelWarning] = LabelWarning) -> None:
    warnings.warn(category(message), stacklevel=3)


def _source(labels: gpd.GeoDataFrame) -> str:
    return str(labels.attrs.get("source", "labels"))


def load_centerlines(labels: str | os.PathLike[str] | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Read road centerlines (GeoJSON or any OGR vector file) into a GeoDataFrame.

    A GeoDataFrame passes through (it must have a CRS). The file name is kept
    in ``attrs["source"]`` so later warnings can name it. 3-D CRSs (GeoJSON
    with Z coordinates is read as EPSG:4979) are reduced to their 2-D part.

    Args:
        labels: a path, or a GeoDataFrame already in memory.

    Returns:
        The features, possibly zero of them, with a 2-D CRS.

    Raises:
        BasissError: missing or unparseable file, or a GeoDataFrame without CRS.
    """
    if isinstance(labels, gpd.GeoDataFrame):
        gdf = labels
        source = _source(labels)
    else:
        path = Path(labels)
        source = str(path)
        if not path.is_file():
            raise file_error(path, "no such label file")
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:  # pyogrio/fiona raise many types: all mean unreadable
            raise file_error(path, f"not a readable vector file ({reason(exc)})") from None
    if gdf.crs is None:
        if len(gdf) == 0:  # an empty layer carries no coordinates to misplace
            gdf = gdf.set_crs("EPSG:4326")
        else:
            raise BasissError(f"{source}: labels have no CRS")
    crs = pyproj.CRS(gdf.crs)
    if len(crs.axis_info) > 2:
        gdf = gdf.set_crs(crs.to_2d(), allow_override=True)
    gdf.attrs["source"] = source
    return gdf


def lane_buffers(
    labels: gpd.GeoDataFrame,
    meters_per_lane: float = METERS_PER_LANE,
    default_lanes: int = DEFAULT_LANES,
) -> np.ndarray:
    """Per-feature buffer distance (metres, each side) from the lane count.

    The road is ``lanes * meters_per_lane`` wide, so the buffer is half of it.
    Missing, non-numeric or non-positive lane counts use ``default_lanes``.
    """
    lanes = pd.Series(np.nan, index=labels.index, dtype="float64")
    for col in LANE_COLUMNS:
        if col in labels.columns:
            vals = pd.to_numeric(labels[col], errors="coerce").astype("float64")
            lanes = lanes.fillna(vals)
    lanes = lanes.where(lanes > 0, float(default_lanes)).fillna(float(default_lanes))
    return lanes.to_numpy() * meters_per_lane / 2.0


@dataclass(frozen=True)
class _Split:
    lines: gpd.GeoDataFrame
    polygons: gpd.GeoDataFrame
    n_points: int
    n_null: int


def _split_geometries(labels: gpd.GeoDataFrame, buffers: np.ndarray) -> _Split:
    """2-D parts of every geometry, sorted into lines and polygons (with buffers)."""
    geoms = labels.geometry.values
    null = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    frame = gpd.GeoDataFrame(
        {"buffer": buffers[~null]},
        geometry=shapely.force_2d(np.asarray(geoms[~null])),
        crs=labels.crs,
    )
    parts = frame.explode(index_parts=False)
    parts = parts[~parts.geometry.is_empty]
    kind = parts.geom_type
    return _Split(
        lines=parts[kind.isin(_LINE_TYPES)],
        polygons=parts[kind.isin(_POLYGON_TYPES)],
        n_points=int(kind.isin(_POINT_TYPES).sum()),
        n_null=int(null.sum()),
    )


def road_polygons(
    labels: str | os.PathLike[str] | gpd.GeoDataFrame,
    crs: Any,
    bounds: Sequence[float],
    buffer_meters: float = 2.0,
    width_from_lanes: bool = False,
    meters_per_lane: float = METERS_PER_LANE,
    default_lanes: int = DEFAULT_LANES,
) -> gpd.GeoSeries:
    """Road polygons in ``crs``: centerlines buffered in the UTM zone of ``bounds``.

    Args:
        labels: centerlines (path or GeoDataFrame, any CRS).
        crs: the target (image) CRS.
        bounds: ``(left, bottom, right, top)`` of the image in ``crs``; picks the UTM zone.
        buffer_meters: distance each side of a centerline (so roads are twice as wide).
        width_from_lanes: buffer each road by ``lane_number * meters_per_lane / 2`` instead.
        meters_per_lane: lane width for ``width_from_lanes``.
        default_lanes: lane count when a road has none.

    Returns:
        Polygons in ``crs`` (buffered lines, then input polygons as given).
    """
    gdf = load_centerlines(labels)
    source = _source(gdf)
    if buffer_meters <= 0 and not width_from_lanes:
        raise BasissError(f"buffer must be > 0 metres, got {buffer_meters}")
    if width_from_lanes:
        if meters_per_lane <= 0 or default_lanes < 1:
            raise BasissError("meters-per-lane must be > 0 and default lanes >= 1")
        buffers = lane_buffers(gdf, meters_per_lane, default_lanes)
    else:
        buffers = np.full(len(gdf), float(buffer_meters))
    split = _split_geometries(gdf, buffers)
    if split.n_null:
        _warn(f"{source}: {split.n_null} null or empty geometries ignored")
    if split.n_points:
        _warn(f"{source}: {split.n_points} point geometries skipped (roads must be lines)")
    out: list[gpd.GeoSeries] = []
    n_bad = 0
    if len(split.lines):
        utm = utm_crs_for(bounds, crs)
        metric = split.lines.to_crs(utm)
        finite = _finite(metric.geometry.values)
        n_bad += int((~finite).sum())
        buffered = shapely.buffer(
            np.asarray(metric.geometry.values[finite]),
            metric["buffer"].to_numpy()[finite],
            quad_segs=QUAD_SEGS,
        )
        out.append(gpd.GeoSeries(buffered, crs=utm).to_crs(crs))
    if len(split.polygons):
        out.append(split.polygons.geometry.to_crs(crs))
    if out:
        every = gpd.GeoSeries(pd.concat(out, ignore_index=True), crs=crs)
        finite = _finite(every.values)
        n_bad += int((~finite).sum())
        out = [every[finite]]
    if n_bad:
        _warn(
            f"{source}: {n_bad} geometries skipped, their coordinates are out of range "
            f"for {pyproj.CRS(gdf.crs).name} (likely a CRS mistake)"
        )
    if not out:
        return gpd.GeoSeries([], crs=crs)
    return gpd.GeoSeries(out[0].reset_index(drop=True), crs=crs)


def _finite(geoms: Any) -> np.ndarray:
    """True where every coordinate is finite (GEOS crashes on buffering inf)."""
    return np.isfinite(shapely.bounds(np.asarray(geoms))).all(axis=1)


def road_mask_on_grid(
    labels: str | os.PathLike[str] | gpd.GeoDataFrame,
    crs: Any,
    transform: Any,
    width: int,
    height: int,
    buffer_meters: float = 2.0,
    width_from_lanes: bool = False,
    meters_per_lane: float = METERS_PER_LANE,
    default_lanes: int = DEFAULT_LANES,
    image_name: str | None = None,
) -> np.ndarray:
    """Rasterize buffered centerlines on a grid (CRS, transform, size).

    A pixel is road (1) when its centre falls inside a road polygon, else 0.
    Zero features give an all-zero mask silently; features that all miss the
    grid give an all-zero mask and a :class:`LabelWarning` (likely a CRS mix-up).

    Args:
        labels: centerlines (path or GeoDataFrame, any CRS).
        crs: the grid's CRS (rasterio or pyproj); must not be None.
        transform: the grid's affine transform.
        width: columns.
        height: rows.
        buffer_meters: distance each side of a centerline, in metres.
        width_from_lanes: per-road width from ``lane_number`` (see :func:`lane_buffers`).
        meters_per_lane: lane width for ``width_from_lanes``.
        default_lanes: lane count when a road has none.
        image_name: named in warnings (the image this grid belongs to).

    Returns:
        ``(height, width)`` uint8 array of 0/1.
    """
    if crs is None:
        raise BasissError(f"{image_name or 'image'}: has no CRS; cannot place the labels")
    gdf = load_centerlines(labels)
    bounds = array_bounds(height, width, transform)
    bounds = (bounds[0], bounds[1], bounds[2], bounds[3])
    polys = road_polygons(
        gdf, crs, bounds, buffer_meters, width_from_lanes, meters_per_lane, default_lanes
    )
    mask = np.zeros((height, width), dtype=np.uint8)
    shapes = [(geom, 1) for geom in polys if geom is not None and not geom.is_empty]
    if shapes:
        rasterize(shapes, out=mask, transform=transform, all_touched=False)
    if (
        len(gdf)
        and not mask.any()
        and not (shapes and polys.intersects(shapely.box(*bounds)).any())
    ):
        where = f" {image_name}" if image_name else " the image"
        _warn(
            f"{_source(gdf)}: {len(gdf)} road geometries do not intersect{where} "
            "(likely a CRS mistake)",
            LabelsOutsideWarning,
        )
    return mask


def road_mask(
    labels: str | os.PathLike[str] | gpd.GeoDataFrame,
    reference_image: PathLike,
    buffer_meters: float = 2.0,
    **kw: Any,
) -> np.ndarray:
    """The road mask of ``labels`` on ``reference_image``'s exact grid.

    Args:
        labels: centerlines (path or GeoDataFrame, any CRS).
        reference_image: the raster whose grid (CRS, transform, size) the mask takes.
        buffer_meters: distance each side of a centerline, in metres.
        **kw: ``width_from_lanes``, ``meters_per_lane``, ``default_lanes``.

    Returns:
        ``(rows, cols)`` uint8 array of 0/1.

    Raises:
        BasissError: unreadable image, image without CRS, unreadable labels.
    """
    with open_raster(reference_image) as ds:
        crs, transform, width, height = ds.crs, ds.transform, ds.width, ds.height
    if crs is None:
        raise file_error(reference_image, "has no CRS; cannot place the labels")
    return road_mask_on_grid(
        labels,
        crs,
        transform,
        width,
        height,
        buffer_meters,
        image_name=str(reference_image),
        **kw,
    )


def write_road_mask(
    labels: str | os.PathLike[str] | gpd.GeoDataFrame,
    reference_image: PathLike,
    out_path: PathLike,
    buffer_meters: float = 2.0,
    allow_empty: bool = False,
    **kw: Any,
) -> Path:
    """Write the road mask as a uint8 0/1 Cloud-Optimized GeoTIFF on ``reference_image``'s grid.

    0 is background, 1 road; the internal mask band is the image's valid area
    (:func:`basiss.io.raster.image_valid_area`, the nodata convention of
    :mod:`basiss.io.cog`), overviews nearest. Written atomically: a failure
    leaves no file behind.

    Args:
        allow_empty: write an all-zero mask when every label misses the image (else
            that is an error: a CRS mistake would silently train on empty masks).

    Returns:
        ``out_path`` as a Path.

    Raises:
        BasissError: unreadable inputs, or labels that all miss the image.
    """
    if Path(out_path).resolve() == Path(reference_image).resolve():
        raise file_error(out_path, "the mask would overwrite its reference image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LabelWarning)
        mask = road_mask(labels, reference_image, buffer_meters, **kw)
    for w in caught:  # pass the other warnings on to the caller
        if allow_empty or not issubclass(w.category, LabelsOutsideWarning):
            warnings.warn(w.message, stacklevel=2)
    if not allow_empty and any(issubclass(w.category, LabelsOutsideWarning) for w in caught):
        raise file_error(
            labels if isinstance(labels, str | os.PathLike) else "labels", OUTSIDE_PROBLEM
        )
    with open_raster(reference_image) as ds:
        crs, transform = ds.crs, ds.transform
    valid = image_valid_area(reference_image)
    return write_geotiff(out_path, mask, crs, transform, layer=Layer.MASK, valid=valid)
