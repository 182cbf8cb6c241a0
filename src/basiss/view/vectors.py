"""The page's vector layers as GeoJSON in EPSG:4326: road networks, truth, scene footprints.

Read once when the page is built (they are small next to the rasters), sent to the page
whole, and drawn by the map library. Coordinates are rounded to 1e-7 degrees (~1 cm).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import rasterio
import shapely
from pyproj import Transformer

from basiss.errors import file_error, reason

#: Decimal places kept in lon/lat (1e-7 degree is about 1 cm).
DIGITS = 7


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection of ``features``."""
    return {"type": "FeatureCollection", "features": features}


def _rounded(geom: shapely.Geometry) -> dict[str, Any]:
    """GeoJSON geometry of ``geom`` with coordinates rounded to :data:`DIGITS`."""
    return shapely.geometry.mapping(shapely.set_precision(geom, 10.0**-DIGITS))


def footprint(path: Path) -> shapely.Polygon:
    """A raster's outline in EPSG:4326 (densified, as the STAC item's footprint).

    Raises:
        BasissError: the raster cannot be read or has no CRS.
    """
    from basiss.io.stac import lonlat_footprint

    try:
        with rasterio.open(path) as ds:
            crs, bounds = ds.crs, ds.bounds
    except rasterio.errors.RasterioError as exc:
        raise file_error(path, f"cannot read raster ({reason(exc)})") from None
    if crs is None:
        raise file_error(path, "raster has no CRS: cannot be placed on a map")
    return lonlat_footprint(crs, bounds)


def footprints(scenes: dict[str, Path]) -> dict[str, Any]:
    """FeatureCollection of scene outlines (property ``scene``) from one raster each."""
    return feature_collection(
        [
            {"type": "Feature", "properties": {"scene": name}, "geometry": _rounded(footprint(p))}
            for name, p in scenes.items()
        ]
    )


def _frame_features(path: Path) -> list[dict[str, Any]]:
    """Features of any vector file (GeoJSON, GeoPackage's first layer) in EPSG:4326."""
    import geopandas as gpd

    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several kinds; all mean "unreadable"
        raise file_error(path, f"cannot read vector file ({reason(exc)})") from None
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    out = []
    for props, geom in zip(
        frame.drop(columns="geometry").to_dict("records"), frame.geometry, strict=True
    ):
        if geom is None or geom.is_empty:
            continue
        clean = {k: _plain(v) for k, v in props.items()}
        out.append({"type": "Feature", "properties": clean, "geometry": _rounded(geom)})
    return out


def _plain(value: Any) -> Any:
    """A property value JSON can hold (numpy scalars to Python, NaN to None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _network_features(path: Path) -> list[dict[str, Any]]:
    """A basiss network (GeoPackage) as edge and node features in EPSG:4326."""
    from basiss.graph.read import read_network

    g = read_network(path)
    crs = g.graph.get("crs")
    if not crs:
        raise file_error(path, "network has no CRS: cannot be placed on a map")
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    out = []
    for u, v, d in g.edges(data=True):
        line = shapely.transform(d["geometry"], lambda xy: _project(to_ll, xy))
        props = {"feature": "edge", "u": int(u), "v": int(v)}
        props["length_m"] = round(float(d.get("length_m", 0.0)), 2)
        out.append({"type": "Feature", "properties": props, "geometry": _rounded(line)})
    for n, d in g.nodes(data=True):
        lon, lat = to_ll.transform(d["x"], d["y"])
        point = shapely.Point(lon, lat)
        props = {"feature": "node", "id": int(n), "kind": d.get("kind", "node")}
        out.append({"type": "Feature", "properties": props, "geometry": _rounded(point)})
    return out


def _project(to_ll: Transformer, xy: Any) -> Any:
    import numpy as np

    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def network(path: Path) -> dict[str, Any]:
    """A road network file (``_graph.geojson`` or ``_graph.gpkg``) as a FeatureCollection.

    Raises:
        BasissError: the file cannot be read as a network or vector file.
    """
    if path.suffix.lower() == ".gpkg":
        return feature_collection(_network_features(path))
    return feature_collection(_frame_features(path))


def truth(paths: list[Path]) -> dict[str, Any]:
    """Truth centerline files merged into one FeatureCollection (property ``source``)."""
    features = []
    for p in paths:
        for f in _frame_features(p):
            f["properties"] = {"source": p.name}
            features.append(f)
    return feature_collection(features)


def dumps(obj: Any) -> str:
    """Compact JSON text of ``obj``."""
    return json.dumps(obj, separators=(",", ":"))
