"""Write a road network in the formats GIS tools, osmnx and the SpaceNet 3 scorer open.

Every file goes through :func:`basiss.io.raster.atomic_output` (a temporary name in the
same folder, renamed on success), so a failed or killed write leaves no file behind.

* GeoPackage ``<stem>_graph.gpkg``: layers ``edges`` (LineString: ``id``, ``u``, ``v``,
  ``key``, ``length_m`` and ``prob_mean``/``width_m`` when the network has them) and
  ``nodes`` (Point: ``id``, ``kind``, ``degree``), in the network's CRS. The image id,
  units and transform go into the dataset metadata.
* GeoJSON ``<stem>_graph.geojson``, RFC 7946: EPSG:4326 lon/lat, no ``crs`` member, full
  double precision. Edges are LineString features, then nodes Point features; the
  ``feature`` property (``"edge"`` / ``"node"``) tells them apart. Each feature's own
  ``id`` member is its running number, so GDAL/QGIS never meet two features with one id
  (edge and node ids are separate series, in the ``id`` property). A network without a
  CRS (pixel coordinates) has no place on the globe: it is skipped with a warning.
* GraphML ``<stem>_graph.graphml`` in osmnx's conventions (``osmnx.load_graphml`` reads
  it): integer node ids; node ``x``, ``y``, ``street_count`` (degree), ``kind``; edge
  ``osmid`` (the edge id), ``length`` (metres), ``geometry`` (WKT between the two nodes:
  an undirected GraphML edge has no direction, so it may run target -> source);
  graph ``crs`` (WKT), ``simplified``. Like osmnx, every value is written as a string.
  The graph is undirected (roads are two-way in a network extracted from imagery).
  See :mod:`basiss.graph.graphml`.
* SpaceNet 3 CSV ``<stem>_graph.csv``: ``ImageId,WKT_Pix,length_m``, one row per edge with
  the line in pixel coordinates (column, row of the raster's continuous grid, through
  the inverse of ``G.graph["transform"]``); an image without roads is one
  ``LINESTRING EMPTY`` row with length 0, as in the SpaceNet truth files. See
  :mod:`basiss.graph.spacenet_csv` (and :func:`write_spacenet_csv` for many images).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pyogrio
import pyproj
import shapely

from basiss.errors import BasissError, file_error
from basiss.graph.graphml import write_graphml
from basiss.graph.spacenet_csv import pixel_transform, write_spacenet_csv
from basiss.graph.vector import (
    ALL_FORMATS,
    EDGES_LAYER,
    NODES_LAYER,
    EdgeRecord,
    NodeRecord,
    VectorFormat,
    edge_records,
    graph_metadata,
    measure_names,
    network_crs,
    node_records,
    output_path,
)
from basiss.io.raster import atomic_output

WGS84 = pyproj.CRS.from_epsg(4326)


class VectorWarning(UserWarning):
    """A network format that could not be written for this network (and was skipped)."""


def _warn(message: str) -> None:
    warnings.warn(VectorWarning(message), stacklevel=3)


def _edges_frame(edges: list[EdgeRecord], crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    columns: dict[str, Any] = {
        "id": np.array([r.id for r in edges], dtype=np.int64),
        "u": np.array([r.u for r in edges], dtype=np.int64),
        "v": np.array([r.v for r in edges], dtype=np.int64),
        "key": np.array([r.key for r in edges], dtype=np.int64),
        "length_m": np.array([r.length_m for r in edges], dtype=np.float64),
    }
    for m in measure_names(edges):
        columns[m] = np.array([r.measures.get(m, math.nan) for r in edges], dtype=np.float64)
    geometry = gpd.GeoSeries([r.geometry for r in edges], crs=crs)
    return gpd.GeoDataFrame(columns, geometry=geometry, crs=crs)


def _nodes_frame(nodes: list[NodeRecord], crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    columns = {
        "id": np.array([n.id for n in nodes], dtype=np.int64),
        "kind": np.array([n.kind for n in nodes], dtype=object),
        "degree": np.array([n.degree for n in nodes], dtype=np.int64),
    }
    points = shapely.points([n.x for n in nodes], [n.y for n in nodes]) if nodes else []
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(points, crs=crs), crs=crs)


def write_gpkg(G: nx.MultiGraph, path: str | os.PathLike[str]) -> Path:
    """Write ``G`` as a GeoPackage with ``edges`` and ``nodes`` layers in its CRS, atomically.

    A network without edges (or nodes) still gets both layers, empty, with their geometry
    type and CRS.

    Args:
        G: a contract network.
        path: the ``.gpkg`` file to write.

    Returns:
        ``path``.
    """
    crs = network_crs(G)
    edges, nodes = _edges_frame(edge_records(G), crs), _nodes_frame(node_records(G), crs)
    options = {"driver": "GPKG", "promote_to_multi": False}
    with atomic_output(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # a pixel network
        pyogrio.write_dataframe(
            edges,
            tmp,
            layer=EDGES_LAYER,
            geometry_type="LineString",
            dataset_metadata=graph_metadata(G) or None,
            **options,
        )
        pyogrio.write_dataframe(nodes, tmp, layer=NODES_LAYER, geometry_type="Point", **options)
    return Path(path)


def _to_wgs84(geoms: Sequence[shapely.Geometry], crs: pyproj.CRS) -> np.ndarray:
    """``geoms`` reprojected to EPSG:4326, lon/lat order."""
    arr = np.asarray(geoms, dtype=object)
    if crs.equals(WGS84, ignore_axis_order=True):
        return arr
    tr = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    return shapely.transform(arr, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def _number(value: float) -> float | None:
    """JSON has no NaN: a missing measure is ``null``."""
    return None if math.isnan(value) else value


def _geojson_features(G: nx.MultiGraph, crs: pyproj.CRS) -> list[dict[str, Any]]:
    edges, nodes = edge_records(G), node_records(G)
    lines = _to_wgs84([r.geometry for r in edges], crs)
    points = _to_wgs84(shapely.points([n.x for n in nodes], [n.y for n in nodes]), crs)
    measures = measure_names(edges)
    features = []
    for r, line in zip(edges, lines, strict=True):
        props = {"feature": "edge", "id": r.id, "u": r.u, "v": r.v, "key": r.key}
        props["length_m"] = r.length_m
        props.update({m: _number(r.measures.get(m, math.nan)) for m in measures})
        geometry = {"type": "LineString", "coordinates": [list(c) for c in line.coords]}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    for n, point in zip(nodes, points, strict=True):
        props = {"feature": "node", "id": n.id, "kind": n.kind, "degree": n.degree}
        geometry = {"type": "Point", "coordinates": [point.x, point.y]}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return features


def write_geojson(G: nx.MultiGraph, path: str | os.PathLike[str]) -> Path:
    """Write ``G`` as RFC 7946 GeoJSON (EPSG:4326 lon/lat, no ``crs`` member), atomically.

    Args:
        G: a contract network with a CRS.
        path: the ``.geojson`` file to write.

    Returns:
        ``path``.

    Raises:
        BasissError: the network has no CRS (its coordinates are pixels).
    """
    crs = network_crs(G)
    if crs is None:
        raise file_error(path, "a network without a CRS cannot be written as GeoJSON (EPSG:4326)")
    name = str(G.graph.get("image_id") or Path(path).stem)
    features = _geojson_features(G, crs)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(f'{{"type": "FeatureCollection", "name": {json.dumps(name)}, "features": [\n')
        for i, feature in enumerate(features):
            sep = ",\n" if i < len(features) - 1 else "\n"
            f.write(json.dumps({"id": i, **feature}, allow_nan=False) + sep)
        f.write("]}\n")
    return Path(path)


def _formats(formats: Iterable[str]) -> list[VectorFormat]:
    chosen = []
    for name in formats:
        try:
            chosen.append(VectorFormat(str(name).lower().lstrip(".")))
        except ValueError:
            raise BasissError(
                f"unknown network format {name!r} (choose from {', '.join(ALL_FORMATS)})"
            ) from None
    return chosen


def write_network(
    G: nx.MultiGraph,
    out_dir: str | os.PathLike[str],
    stem: str,
    formats: Iterable[str] = ALL_FORMATS,
) -> dict[str, Path]:
    """Write a network as ``<out_dir>/<stem>_graph.<ext>`` in each of ``formats``.

    Each file is written atomically on its own. A format this network cannot have is
    skipped with a one-line :class:`VectorWarning`: GeoJSON for a network without a CRS,
    the SpaceNet CSV for a georeferenced network without a transform.

    Args:
        G: a contract network (see :mod:`basiss.graph`).
        out_dir: output folder (created when missing).
        stem: file stem, usually the image's; the CSV's ``ImageId`` is
            ``G.graph["image_id"]``, else ``stem``.
        formats: any of ``"gpkg"``, ``"geojson"``, ``"graphml"``, ``"csv"``.

    Returns:
        Format name -> path written.

    Raises:
        BasissError: an unknown format name.
    """
    written: dict[str, Path] = {}
    for fmt in _formats(formats):
        path = output_path(out_dir, stem, fmt)
        if fmt is VectorFormat.GEOJSON and network_crs(G) is None:
            _warn(f"{path}: skipped, a network without a CRS has no GeoJSON (EPSG:4326)")
            continue
        if fmt is VectorFormat.CSV and pixel_transform(G) is None:
            _warn(f"{path}: skipped, the network has a CRS but no transform to pixels")
            continue
        if fmt is VectorFormat.GPKG:
            write_gpkg(G, path)
        elif fmt is VectorFormat.GEOJSON:
            write_geojson(G, path)
        elif fmt is VectorFormat.GRAPHML:
            write_graphml(G, path)
        else:
            H = G if G.graph.get("image_id") else nx.MultiGraph(G, image_id=stem)
            write_spacenet_csv([H], path)
        written[fmt.value] = path
    return written
