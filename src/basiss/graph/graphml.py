"""GraphML in osmnx's conventions: what ``osmnx.load_graphml`` reads, and what it writes.

Written: integer node ids; node ``x``, ``y``, ``street_count`` (the degree) and ``kind``;
edge ``osmid`` (the edge id), ``length`` (metres), ``geometry`` (WKT between the two nodes;
an undirected GraphML edge has no direction, so it may run target -> source) and the
measures; graph ``crs`` (WKT), ``simplified``, ``image_id``, ``units``, ``transform``. Like
osmnx, every value is a string (osmnx's loader calls string methods on every edge value).
The graph is undirected: roads found in imagery are two-way.

Read: basiss's files and osmnx's (string or typed values; ``length`` in metres; an edge
without ``geometry`` is the straight line between its nodes; a directed graph keeps one
edge per road).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import networkx as nx
import pyproj
import shapely

from basiss.errors import file_error
from basiss.geo import line_length_m
from basiss.graph.vector import (
    EDGE_MEASURES,
    EdgeRecord,
    NodeRecord,
    build_network,
    cell_float,
    edge_records,
    file_crs,
    fill_kinds,
    first_line,
    graph_attributes,
    graph_metadata,
    network_crs,
    node_records,
    wkt,
)
from basiss.io.raster import atomic_output


def osmnx_graph(G: nx.MultiGraph) -> nx.MultiGraph:
    """A copy of ``G`` with osmnx's attribute names, every value a string (see module doc)."""
    H = nx.MultiGraph()
    H.graph.update(graph_metadata(G))
    crs = network_crs(G)
    if crs is not None:
        H.graph["crs"] = crs.to_wkt()
    H.graph["simplified"] = "True"
    for n in node_records(G):
        H.add_node(n.id, x=repr(n.x), y=repr(n.y), street_count=str(n.degree), kind=n.kind)
    for r in edge_records(G):
        attrs = {"osmid": str(r.id), "length": repr(r.length_m), "geometry": wkt(r.geometry)}
        attrs.update({m: repr(value) for m, value in r.measures.items()})
        H.add_edge(r.u, r.v, key=r.key, **attrs)
    return H


def write_graphml(G: nx.MultiGraph, path: str | os.PathLike[str]) -> Path:
    """Write ``G`` as GraphML with osmnx-compatible attributes, atomically.

    Args:
        G: a contract network.
        path: the ``.graphml`` file to write.

    Returns:
        ``path``.
    """
    H = osmnx_graph(G)
    with atomic_output(path) as tmp:
        nx.write_graphml(H, tmp, encoding="utf-8")
    return Path(path)


def _parse_graphml(path: Path) -> nx.Graph:
    try:
        try:
            return nx.read_graphml(path, node_type=int, force_multigraph=True)
        except ValueError:  # node ids that are not integers: renumber below
            H = nx.read_graphml(path, force_multigraph=True)
            return nx.convert_node_labels_to_integers(H, ordering="sorted")
    except Exception as exc:
        raise file_error(path, f"not a readable GraphML file ({first_line(exc)})") from None


def _graphml_line(path: Path, H: nx.Graph, u: int, v: int, wkt: Any) -> shapely.Geometry:
    """The edge's WKT geometry, or (osmnx's convention) the straight line between its nodes."""
    try:
        if wkt:
            return shapely.force_2d(shapely.from_wkt(str(wkt)))
        a, b = H.nodes[u], H.nodes[v]
        return shapely.LineString([(float(a["x"]), float(a["y"])), (float(b["x"]), float(b["y"]))])
    except Exception as exc:
        problem = f"edge {u}-{v} has no readable geometry ({first_line(exc)})"
        raise file_error(path, problem) from None


def _edge_record(
    path: Path,
    H: nx.Graph,
    edge: tuple[int, int, Any, dict[str, Any]],
    rank: int,
    crs: pyproj.CRS | None,
) -> EdgeRecord:
    """One GraphML edge as a record (``osmid`` its id when an integer, else its rank)."""
    u, v, k, data = edge
    line = _graphml_line(path, H, u, v, data.get("geometry"))
    if line.geom_type != "LineString":
        raise file_error(path, f"edge {u}-{v} holds a {line.geom_type}; road edges are lines")
    length = cell_float(data.get("length_m", data.get("length")))
    if length is None:
        length = line_length_m(list(line.coords), crs)
    measures = {m: f for m in EDGE_MEASURES if (f := cell_float(data.get(m))) is not None}
    osmid = str(data.get("osmid", ""))
    edge_id = int(osmid) if osmid.lstrip("-").isdigit() else rank
    key = int(k) if str(k).lstrip("-").isdigit() else 0
    return EdgeRecord(edge_id, u, v, key, line, length, measures)


def read_graphml(path: str | os.PathLike[str]) -> nx.MultiGraph:
    """Read a network from basiss's or osmnx's GraphML.

    A directed graph (osmnx's default) keeps one edge per road: an edge whose reverse, with
    the reversed geometry, was already read is dropped.

    Raises:
        BasissError: the file does not parse, or an edge has no readable line geometry.
    """
    p = Path(path)
    H = _parse_graphml(p)
    try:
        nodes = [
            NodeRecord(n, float(d["x"]), float(d["y"]), str(d.get("kind") or ""), 0)
            for n, d in H.nodes(data=True)
        ]
    except (KeyError, ValueError) as exc:
        raise file_error(p, f"a node has no numeric x/y ({first_line(exc)})") from None
    crs = H.graph.get("crs") or None
    graph = graph_attributes(p, H.graph, str(crs) if crs else None)
    pcrs = file_crs(p, graph["crs"])
    edges, seen = [], set()
    for rank, edge in enumerate(H.edges(keys=True, data=True)):
        record = _edge_record(p, H, edge, rank, pcrs)
        road = (min(record.u, record.v), max(record.u, record.v))
        road += (shapely.normalize(record.geometry).wkb,)
        if H.is_directed() and road in seen:
            continue
        seen.add(road)
        edges.append(record)
    return fill_kinds(build_network(nodes, edges, graph))
