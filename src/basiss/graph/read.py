"""Read a road network back from any format :mod:`basiss.graph.write` writes, or from lines.

:func:`read_network` tells the format by the file's suffix, else by its first bytes:

* GeoPackage: the ``edges`` layer (required) and ``nodes`` layer. With ``u``/``v``
  columns and a ``nodes`` layer holding ``id`` (or osmnx's ``osmid``) the network is
  rebuilt exactly; an ``edges`` layer of plain lines is treated like centerlines.
* GeoJSON: basiss's own (features with ``feature`` = ``"edge"``/``"node"``) is rebuilt
  exactly, in EPSG:4326; any other GeoJSON of (Multi)LineStrings, e.g. truth centerlines,
  becomes a network through :func:`basiss.graph.from_lines.network_from_lines`.
* GraphML: basiss's or osmnx's (string or typed attributes; ``length`` in metres and
  WKT ``geometry``; a directed osmnx graph keeps one edge per two-way road).
* SpaceNet CSV (``ImageId,WKT_Pix[,length_m]``): networks in pixel coordinates (no CRS),
  nodes where line ends meet exactly (:func:`read_spacenet_csv` reads every image).

Lengths a file carries (``length_m``, osmnx's ``length``) are kept; missing ones are the
true length of the geometry. Every failure is a one-line :class:`BasissError` naming the
file: not parseable, no ``edges`` layer, Points or Polygons where roads belong.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import pandas as pd
import pyogrio
import pyproj
import shapely

from basiss.errors import file_error
from basiss.geo import line_length_m
from basiss.graph.graphml import read_graphml
from basiss.graph.spacenet_csv import read_spacenet_csv
from basiss.graph.vector import (
    EDGE_MEASURES,
    EDGES_LAYER,
    NODES_LAYER,
    EdgeRecord,
    NodeRecord,
    VectorFormat,
    build_network,
    cell_float,
    file_crs,
    fill_kinds,
    first_line,
    graph_attributes,
)

_SUFFIX_FORMATS = {
    ".gpkg": VectorFormat.GPKG,
    ".geojson": VectorFormat.GEOJSON,
    ".json": VectorFormat.GEOJSON,
    ".graphml": VectorFormat.GRAPHML,
    ".csv": VectorFormat.CSV,
}
_LINE_TYPES = {"LineString", "MultiLineString"}


def sniff_format(path: str | os.PathLike[str]) -> VectorFormat:
    """The network format of ``path``: by suffix, else by the file's first bytes.

    Raises:
        BasissError: the file is missing or in none of the four formats.
    """
    p = Path(path)
    if not p.is_file():
        raise file_error(p, "no such file")
    if p.suffix.lower() in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[p.suffix.lower()]
    with open(p, "rb") as f:
        head = f.read(64).lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"SQLite format 3"):
        return VectorFormat.GPKG
    if head.startswith(b"{"):
        return VectorFormat.GEOJSON
    if head.startswith(b"<"):
        return VectorFormat.GRAPHML
    if head.startswith(b"ImageId"):
        return VectorFormat.CSV
    raise file_error(p, "not a network file (GeoPackage, GeoJSON, GraphML or SpaceNet CSV)")


def read_network(path: str | os.PathLike[str], image_id: str | None = None) -> nx.MultiGraph:
    """Read a road network (contract of :mod:`basiss.graph`) from a file of any format.

    Args:
        path: a GeoPackage, GeoJSON (basiss's or plain centerlines), GraphML or SpaceNet CSV.
        image_id: for a CSV of many images, the one to read.

    Returns:
        The network; ``graph["image_id"]`` is the file's (else the file stem).

    Raises:
        BasissError: one line naming the file and the problem.
    """
    fmt = sniff_format(path)
    p = Path(path)
    if fmt is VectorFormat.GPKG:
        G = read_gpkg(p)
    elif fmt is VectorFormat.GEOJSON:
        G = read_geojson(p)
    elif fmt is VectorFormat.GRAPHML:
        G = read_graphml(p)
    else:
        return _one_image(p, read_spacenet_csv(p), image_id)
    G.graph.setdefault("image_id", p.stem.removesuffix("_graph"))
    return G


# --- frames (GeoPackage, GeoJSON) ------------------------------------------------------


def _read_frame(path: Path, layer: str | None = None) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several types for a broken file
        raise file_error(path, f"cannot be read ({first_line(exc)})") from None


def _lines_only(path: Path, geoms: gpd.GeoSeries) -> list[shapely.LineString]:
    """The LineStrings of ``geoms`` (multi-parts split, Z dropped, null/empty skipped).

    Raises:
        BasissError: any other geometry type (a road network is lines).
    """
    geoms = geoms[geoms.notna() & ~geoms.is_empty]
    other = sorted(set(geoms.geom_type) - _LINE_TYPES)
    if other:
        raise file_error(path, f"holds {', '.join(other)} geometries; road networks are lines")
    parts = shapely.get_parts(shapely.force_2d(geoms.to_numpy()))
    return list(parts)


def _crs_wkt(frame: gpd.GeoDataFrame) -> str | None:
    return None if frame.crs is None else frame.crs.to_wkt()


def _node_ids(nodes: gpd.GeoDataFrame | None) -> pd.Series | None:
    if nodes is None:
        return None
    for column in ("id", "osmid"):
        if column in nodes.columns:
            return nodes[column]
    return None


def _int(value: Any, default: int) -> int:
    """An integer from a file cell; ``default`` when the cell is empty."""
    number = cell_float(value)
    return default if number is None else int(number)


def _single_line(geom: Any) -> shapely.LineString | None:
    """The edge's LineString (a MultiLineString that merges into one counts), else None."""
    if geom is None or geom.is_empty:
        return None
    geom = shapely.force_2d(geom)
    if geom.geom_type == "MultiLineString":
        geom = shapely.line_merge(geom)
    return geom if geom.geom_type == "LineString" else None


def _frame_nodes(path: Path, nodes: gpd.GeoDataFrame, ids: pd.Series) -> list[NodeRecord]:
    """Node records from a node table with an id column and Point geometries."""
    _points_only(path, nodes.geometry)
    kinds = _column(nodes, "kind")
    try:
        return [
            NodeRecord(int(i), float(pt.x), float(pt.y), k if isinstance(k, str) else "", 0)
            for i, pt, k in zip(ids, nodes.geometry, kinds, strict=True)
        ]
    except (TypeError, ValueError, AttributeError):
        raise file_error(path, "a node has no integer id or no point") from None


def _frame_edge(
    path: Path,
    data: dict[str, Any],
    rank: int,
    nodes: dict[int, NodeRecord],
    crs: pyproj.CRS | None,
) -> EdgeRecord:
    """One edge-table row as a record; a row without geometry is the straight line."""
    try:
        u, v = int(data["u"]), int(data["v"])
    except (TypeError, ValueError):
        raise file_error(path, f"edge {rank} has no integer u/v") from None
    if u not in nodes or v not in nodes:
        raise file_error(path, f"edge {rank} names a node missing from the nodes")
    line = _single_line(data["geometry"])
    if line is None and data["geometry"] is not None and not data["geometry"].is_empty:
        raise file_error(path, f"edge {rank} is not one LineString")
    if line is None:
        line = shapely.LineString([(nodes[u].x, nodes[u].y), (nodes[v].x, nodes[v].y)])
    length = cell_float(data.get("length_m", data.get("length")))
    length = line_length_m(list(line.coords), crs) if length is None else length
    measures = {m: f for m in EDGE_MEASURES if (f := cell_float(data.get(m))) is not None}
    edge_id, key = _int(data.get("id"), rank), _int(data.get("key"), rank)
    return EdgeRecord(edge_id, u, v, key, line, length, measures)


def _network_from_frames(
    path: Path, edges: gpd.GeoDataFrame, nodes: gpd.GeoDataFrame | None, graph: dict[str, Any]
) -> nx.MultiGraph:
    """Rebuild a network from an edge table and a node table (or from the lines alone)."""
    ids = _node_ids(nodes)
    if nodes is None or ids is None or not {"u", "v"} <= set(edges.columns):
        return _lines_network(path, _lines_only(path, edges.geometry), graph)
    _lines_only(path, edges.geometry)
    node_recs = _frame_nodes(path, nodes, ids)
    by_id = {n.id: n for n in node_recs}
    crs = file_crs(path, graph.get("crs"))
    rows = enumerate(edges.itertuples(index=False))
    edge_recs = [_frame_edge(path, row._asdict(), r, by_id, crs) for r, row in rows]
    return fill_kinds(build_network(node_recs, edge_recs, graph))


def _column(frame: gpd.GeoDataFrame, name: str) -> Sequence[Any]:
    return list(frame[name]) if name in frame.columns else [None] * len(frame)


def _points_only(path: Path, geoms: gpd.GeoSeries) -> None:
    other = sorted(set(geoms[geoms.notna()].geom_type) - {"Point"})
    if other:
        raise file_error(path, f"nodes hold {', '.join(other)} geometries; nodes are points")


def _lines_network(
    path: Path, lines: list[shapely.LineString], graph: dict[str, Any]
) -> nx.MultiGraph:
    """A network from plain centerlines, through :func:`network_from_lines`."""
    if not lines:
        return nx.MultiGraph(**graph)
    from basiss.graph.from_lines import network_from_lines

    G = network_from_lines(lines, graph.get("crs"))
    for key, value in graph.items():
        G.graph.setdefault(key, value)
    return G


def read_gpkg(path: str | os.PathLike[str]) -> nx.MultiGraph:
    """Read a network from a GeoPackage's ``edges`` and ``nodes`` layers.

    Raises:
        BasissError: not a readable GeoPackage, or no ``edges`` layer.
    """
    p = Path(path)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(p)]
        meta = {}
        if EDGES_LAYER in layers:
            meta = pyogrio.read_info(p, layer=EDGES_LAYER)["dataset_metadata"] or {}
    except Exception as exc:
        raise file_error(p, f"not a readable GeoPackage ({first_line(exc)})") from None
    if EDGES_LAYER not in layers:
        found = ", ".join(layers) or "none"
        raise file_error(p, f"has no '{EDGES_LAYER}' layer (layers: {found})")
    edges = _read_frame(p, EDGES_LAYER)
    nodes = _read_frame(p, NODES_LAYER) if NODES_LAYER in layers else None
    return _network_from_frames(p, edges, nodes, graph_attributes(p, meta, _crs_wkt(edges)))


def read_geojson(path: str | os.PathLike[str]) -> nx.MultiGraph:
    """Read basiss's network GeoJSON exactly, or any GeoJSON of centerlines as a network.

    Centerlines go through :func:`basiss.graph.from_lines.read_line_network` (nodes where
    lines share vertices; every road two-way, as the APLS reference reads them).

    Raises:
        BasissError: the file does not parse, or holds Points/Polygons where roads belong.
    """
    p = Path(path)
    frame = _read_frame(p)
    name = str(pyogrio.list_layers(p)[0][0])  # the "name" member, else the file stem
    graph = {"crs": _crs_wkt(frame), "units": "m", "image_id": name}
    if "feature" in frame.columns and {"u", "v"} <= set(frame.columns):
        kinds = frame["feature"].astype(str)
        return _network_from_frames(p, frame[kinds == "edge"], frame[kinds == "node"], graph)
    if not _lines_only(p, frame.geometry):  # Points or Polygons: the one-line error, here
        return nx.MultiGraph(**graph)  # no roads (basiss's own empty network, or none)
    from basiss.graph.from_lines import read_line_network

    return read_line_network(p)


def _one_image(path: Path, graphs: dict[str, nx.MultiGraph], image_id: str | None) -> nx.MultiGraph:
    if image_id is not None:
        if image_id not in graphs:
            raise file_error(path, f"has no ImageId {image_id!r}")
        return graphs[image_id]
    if len(graphs) > 1:
        raise file_error(path, f"holds {len(graphs)} images; name the one to read (image_id)")
    if graphs:
        return next(iter(graphs.values()))
    return nx.MultiGraph(crs=None, units="px", image_id=path.stem.removesuffix("_graph"))
