"""What every vector format of a road network shares: file names, edge and node records.

A network (see :mod:`basiss.graph`) goes to disk as two tables: one row per edge (its id,
end nodes ``u`` and ``v``, key, LineString and measures) and one row per node (id, kind,
degree, Point). :func:`edge_records` and :func:`node_records` build those rows once, in a
stable order, for all writers (:mod:`basiss.graph.write`); the readers
(:mod:`basiss.graph.read`) rebuild the graph from them.

Two facts of :class:`networkx.MultiGraph` shape these records:

* An undirected edge iterates as ``(u, v)`` or ``(v, u)`` depending on insertion order, so
  the stored direction of its geometry is not known from the iteration. Each record is
  *oriented*: ``u`` is the node nearest the first vertex of the geometry, so in the files
  with ``u``/``v`` columns (GeoPackage, GeoJSON) the line runs from ``u`` to ``v``.
* Edges have no ids in the contract. A record's ``id`` is the edge's ``id`` attribute when
  every edge carries a distinct integer one (a network read back from a file does), else
  the rank of ``(min(u, v), max(u, v), key)``: stable for a given network.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import networkx as nx
import pyproj
import shapely

from basiss.errors import file_error, reason
from basiss.geo import line_length_m, to_pyproj


class VectorFormat(StrEnum):
    """The vector formats a network is written in; the value is the name used on the CLI."""

    GPKG = "gpkg"
    GEOJSON = "geojson"
    GRAPHML = "graphml"
    CSV = "csv"


#: All formats, in the order :func:`basiss.graph.write.write_network` writes them.
ALL_FORMATS: tuple[str, ...] = tuple(f.value for f in VectorFormat)
#: File suffix of each format.
SUFFIXES: dict[VectorFormat, str] = {
    VectorFormat.GPKG: ".gpkg",
    VectorFormat.GEOJSON: ".geojson",
    VectorFormat.GRAPHML: ".graphml",
    VectorFormat.CSV: ".csv",
}
#: GeoPackage layer names (the same as osmnx's ``save_graph_geopackage``).
EDGES_LAYER = "edges"
NODES_LAYER = "nodes"
#: Optional per-edge measures carried into every format when any edge has them.
EDGE_MEASURES = ("prob_mean", "width_m")
#: Node kinds of the contract.
JUNCTION, END, NODE = "junction", "end", "node"


def output_path(out_dir: str | Path, stem: str, fmt: VectorFormat) -> Path:
    """``<out_dir>/<stem>_graph<suffix>``: where a network is written in ``fmt``."""
    return Path(out_dir) / f"{stem}_graph{SUFFIXES[fmt]}"


def network_crs(G: nx.MultiGraph) -> pyproj.CRS | None:
    """The network's CRS as a :class:`pyproj.CRS` (None when its coordinates are pixels)."""
    crs = G.graph.get("crs")
    return None if crs in (None, "") else to_pyproj(crs)


def node_kind(degree: int) -> str:
    """The contract's node kind for a degree: junction (>= 3), end (1), else node."""
    if degree >= 3:
        return JUNCTION
    return END if degree == 1 else NODE


@dataclass(frozen=True)
class EdgeRecord:
    """One edge as every file format stores it: ``geometry`` runs from ``u`` to ``v``."""

    id: int
    u: int
    v: int
    key: int
    geometry: shapely.LineString
    length_m: float
    measures: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeRecord:
    """One node as every file format stores it."""

    id: int
    x: float
    y: float
    kind: str
    degree: int


def _straight(G: nx.MultiGraph, u: Any, v: Any) -> shapely.LineString:
    a, b = G.nodes[u], G.nodes[v]
    return shapely.LineString([(a["x"], a["y"]), (b["x"], b["y"])])


def _oriented(G: nx.MultiGraph, u: Any, v: Any, line: shapely.LineString) -> tuple[Any, Any]:
    """``(u, v)`` or ``(v, u)``: the first node is the one nearest the line's first vertex."""
    if u == v or line.is_empty:
        return u, v
    x0, y0 = line.coords[0]
    du = math.hypot(G.nodes[u]["x"] - x0, G.nodes[u]["y"] - y0)
    dv = math.hypot(G.nodes[v]["x"] - x0, G.nodes[v]["y"] - y0)
    return (v, u) if dv < du else (u, v)


def _edge_ids(G: nx.MultiGraph) -> dict[tuple[Any, Any, Any], int]:
    """Each edge's id: its own ``id`` when all are distinct ints, else its sorted rank."""
    edges = list(G.edges(keys=True, data="id"))
    ids = [i for *_, i in edges]
    if edges and all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids):
        return {(u, v, k): i for u, v, k, i in edges}
    order = sorted(edges, key=lambda e: (min(e[0], e[1]), max(e[0], e[1]), e[2]))
    return {(u, v, k): rank for rank, (u, v, k, _) in enumerate(order)}


def edge_records(G: nx.MultiGraph) -> list[EdgeRecord]:
    """The network's edges as oriented records, sorted by id.

    An edge without ``geometry`` gets the straight line between its nodes; one without
    ``length_m`` gets the true length of its geometry (:func:`basiss.geo.line_length_m`:
    geodesic on a geographic CRS, planar times the unit on a projected one, pixels when
    the network has no CRS). Measures in :data:`EDGE_MEASURES` are copied when present.
    """
    crs = network_crs(G)
    ids = _edge_ids(G)
    records = []
    for (u, v, k), data in ((e[:3], e[3]) for e in G.edges(keys=True, data=True)):
        line = data.get("geometry")
        line = _straight(G, u, v) if line is None else line
        a, b = _oriented(G, u, v, line)
        length = data.get("length_m")
        if length is None:
            length = line_length_m(list(line.coords), crs)
        measures = {m: float(data[m]) for m in EDGE_MEASURES if data.get(m) is not None}
        records.append(EdgeRecord(ids[(u, v, k)], a, b, k, line, float(length), measures))
    return sorted(records, key=lambda r: r.id)


def node_records(G: nx.MultiGraph) -> list[NodeRecord]:
    """The network's nodes as records, sorted by id; ``kind`` from the degree when missing."""
    records = []
    for n, data in G.nodes(data=True):
        degree = int(G.degree(n))
        kind = data.get("kind") or node_kind(degree)
        records.append(NodeRecord(n, float(data["x"]), float(data["y"]), str(kind), degree))
    return sorted(records, key=lambda r: r.id)


def measure_names(edges: list[EdgeRecord]) -> list[str]:
    """The optional measures that at least one edge carries, in :data:`EDGE_MEASURES` order."""
    present = {m for r in edges for m in r.measures}
    return [m for m in EDGE_MEASURES if m in present]


def build_network(
    nodes: list[NodeRecord], edges: list[EdgeRecord], graph: dict[str, Any]
) -> nx.MultiGraph:
    """A contract network from records (the inverse of :func:`node_records`/:func:`edge_records`).

    Each edge keeps its ``id`` as an attribute, so writing the network again keeps its ids.
    A key already taken between the same two nodes (two directions of a directed file)
    is replaced by a free one.
    """
    G = nx.MultiGraph(**graph)
    for n in nodes:
        G.add_node(n.id, x=n.x, y=n.y, kind=n.kind)
    for r in edges:
        key = None if G.has_edge(r.u, r.v, r.key) else r.key
        attrs = {"id": r.id, "geometry": r.geometry, "length_m": r.length_m, **r.measures}
        G.add_edge(r.u, r.v, key=key, **attrs)
    return G


def wkt(geom: shapely.Geometry) -> str:
    """WKT with every digit of the doubles (it reads back bit for bit)."""
    return shapely.to_wkt(geom, rounding_precision=-1)


def first_line(exc: BaseException) -> str:
    """The one-line reason of an exception (:func:`basiss.errors.reason`)."""
    return reason(exc)


def cell_float(value: Any) -> float | None:
    """A number from a file cell (string, number, null) or None when missing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    return None if number != number else number  # NaN is missing


def fill_kinds(G: nx.MultiGraph) -> nx.MultiGraph:
    """Give every node without a ``kind`` the one its degree implies."""
    for n, data in G.nodes(data=True):
        if not data.get("kind"):
            data["kind"] = node_kind(int(G.degree(n)))
    return G


def graph_metadata(G: nx.MultiGraph) -> dict[str, str]:
    """The graph attributes other than the CRS, as strings (``transform`` as a JSON list)."""
    meta = {}
    for key in ("image_id", "units"):
        if G.graph.get(key) is not None:
            meta[key] = str(G.graph[key])
    if G.graph.get("transform") is not None:
        meta["transform"] = json.dumps([float(t) for t in tuple(G.graph["transform"])[:6]])
    return meta


def graph_attributes(path: Path, meta: dict[str, Any], crs: str | None) -> dict[str, Any]:
    """Graph attributes from string metadata (``transform`` a JSON or Python list)."""
    graph: dict[str, Any] = {"crs": crs, "units": meta.get("units") or ("m" if crs else "px")}
    if meta.get("image_id"):
        graph["image_id"] = str(meta["image_id"])
    if meta.get("transform"):
        try:
            transform = tuple(float(t) for t in ast.literal_eval(str(meta["transform"])))
        except (ValueError, TypeError, SyntaxError):
            transform = ()
        if len(transform) != 6:
            raise file_error(path, "its transform is not six numbers")
        graph["transform"] = transform
    return graph


def file_crs(path: Path, crs: str | None) -> pyproj.CRS | None:
    """The CRS a file names, parsed once (lengths are computed per edge)."""
    try:
        return None if crs is None else to_pyproj(crs)
    except pyproj.exceptions.CRSError:
        raise file_error(path, f"names an unknown CRS {str(crs)[:40]!r}") from None
