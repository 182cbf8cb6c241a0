"""Coordinate-system math: UTM zones, ground sample distance, true lengths in metres.

Pure functions (no file access). Distances a user sets are in metres; these turn a raster's
CRS and transform into metres, on projected and geographic (degree) grids alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyproj
from rasterio.warp import transform_bounds

#: The WGS 84 ellipsoid, for geodesic lengths on geographic grids.
GEOD = pyproj.Geod(ellps="WGS84")


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding ``(lon, lat)`` (degrees).

    The zone is the standard 6-degree band of the longitude (wrapped into 1..60), north
    (EPSG:326zz) or south (EPSG:327zz) by the latitude.
    """
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def to_pyproj(crs: Any) -> pyproj.CRS:
    """A :class:`pyproj.CRS` from anything rasterio or pyproj accepts (CRS, WKT, EPSG...)."""
    if isinstance(crs, pyproj.CRS):
        return crs
    return pyproj.CRS(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)


def utm_crs_for(bounds: Sequence[float], crs: Any) -> pyproj.CRS:
    """The WGS 84 UTM zone of the centre of ``bounds`` (``left, bottom, right, top`` in ``crs``)."""
    left, bottom, right, top = transform_bounds(
        to_pyproj(crs), "EPSG:4326", *bounds, densify_pts=21
    )
    return pyproj.CRS.from_epsg(utm_epsg((left + right) / 2.0, (bottom + top) / 2.0))


def is_geographic(crs: Any) -> bool:
    """True when ``crs`` has angular (degree) axes, e.g. EPSG:4326."""
    return bool(to_pyproj(crs).is_geographic)


def pixel_size_m(transform: Any, crs: Any, width: int, height: int) -> tuple[float, float]:
    """Ground size of one pixel ``(x, y)`` in metres at the centre of a raster.

    On a projected grid this is the transform's pixel size times the CRS's unit; on a
    geographic grid it is the geodesic length of one pixel step east and north at the
    scene centre (so 2.7e-6 degrees is ~0.30 m north-south and ~0.24 m east-west at 36 N).
    """
    a, b, _, d, e, _ = transform[:6]
    pcrs = to_pyproj(crs)
    if not pcrs.is_geographic:
        unit = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
        return math.hypot(a, d) * unit, math.hypot(b, e) * unit
    cx, cy = width / 2.0, height / 2.0
    x0 = transform[0] * cx + transform[1] * cy + transform[2]
    y0 = transform[3] * cx + transform[4] * cy + transform[5]
    _, _, dx = GEOD.inv(x0, y0, x0 + a, y0 + d)
    _, _, dy = GEOD.inv(x0, y0, x0 + b, y0 + e)
    return abs(dx), abs(dy)


def ground_sample_distance(
    transform: Any, crs: Any | None, width: int, height: int
) -> float | None:
    """The ground sample distance (GSD) of a raster in metres: the mean of its pixel's
    ground width and height at the scene centre (:func:`pixel_size_m`), rounded to
    0.1 mm; None without a CRS (a PNG/JPEG's pixel has no known size on the ground).
    """
    if crs is None:
        return None
    dx, dy = pixel_size_m(transform, crs, width, height)
    return round(0.5 * (dx + dy), 4)


def line_length_m(coords: Sequence[Sequence[float]], crs: Any | None) -> float:
    """True length in metres of a polyline given as ``(x, y)`` vertices in ``crs``.

    Geodesic (WGS 84 ellipsoid) on a geographic CRS; planar times the axis unit on a
    projected one; planar in the coordinates' own unit when ``crs`` is None.
    """
    if len(coords) < 2:
        return 0.0
    if crs is not None and is_geographic(crs):
        lons = [float(c[0]) for c in coords]
        lats = [float(c[1]) for c in coords]
        return float(GEOD.line_length(lons, lats))
    unit = 1.0
    if crs is not None:
        pcrs = to_pyproj(crs)
        unit = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
    total = 0.0
    for (x0, y0, *_), (x1, y1, *_) in zip(coords[:-1], coords[1:], strict=True):
        total += math.hypot(x1 - x0, y1 - y0)
    return total * unit
