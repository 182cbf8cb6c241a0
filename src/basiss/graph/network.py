"""A cleaned pixel graph -> the network contract of :mod:`basiss.graph`.

Pixel coordinates become the raster's CRS through its affine transform; each edge is
simplified (Douglas-Peucker in the metric frame, ends kept) and measured in true metres
(:func:`basiss.geo.line_length_m`: geodesic on a geographic CRS). Node ids are stable:
nodes are numbered by their position (row, then column). An edge runs from its smaller
node id to the larger; parallel edges get keys in the order of their coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import shapely

from basiss.geo import line_length_m


@dataclass(frozen=True)
class Scene:
    """The grid a network is extracted on.

    Attributes:
        width: columns.
        height: rows.
        transform: the affine transform (pixel -> CRS), a :class:`rasterio.Affine`.
        crs: the CRS (rasterio or pyproj), or None (pixel units).
        sx: metres per pixel along x.
        sy: metres per pixel along y.
        image_id: the image's name (its file stem).
    """

    width: int
    height: int
    transform: Any
    crs: Any
    sx: float
    sy: float
    image_id: str = ""


def kind_of(degree: int) -> str:
    """The contract's node kind for a node of ``degree``."""
    if degree == 1:
        return "end"
    return "junction" if degree >= 3 else "node"


def _to_crs(path: np.ndarray, transform: Any) -> np.ndarray:
    """Pixel ``(x, y)`` -> CRS coordinates through the affine transform."""
    a, b, c, d, e, f = tuple(transform)[:6]
    x, y = path[:, 0], path[:, 1]
    return np.stack([a * x + b * y + c, d * x + e * y + f], axis=1)


def simplify_path(path: np.ndarray, tol_m: float, scale: np.ndarray) -> np.ndarray:
    """Douglas-Peucker of a pixel path with a tolerance in metres; ends kept.

    Closed paths (loops) keep at least three vertices so they stay a loop.
    """
    if tol_m <= 0 or len(path) <= 2:
        return path
    closed = bool(np.all(path[0] == path[-1]))
    line = shapely.LineString(path * scale)
    out = shapely.get_coordinates(shapely.simplify(line, tol_m, preserve_topology=closed))
    if closed and len(out) < 4:
        return path
    return out / scale


def _edge_attrs(
    d: dict, scene: Scene, tol_m: float, scale: np.ndarray, pixel_m: float
) -> tuple[np.ndarray, dict]:
    """Simplified pixel path and the contract attributes (length, probability, width)."""
    pix = simplify_path(d["path"], tol_m, scale)
    coords = _to_crs(pix, scene.transform)
    if scene.crs is None:
        length = float(np.hypot(*np.diff(pix, axis=0).T).sum()) * pixel_m
    else:
        length = line_length_m(coords.tolist(), scene.crs)
    prob = d["prob"]
    dist = d["dist"]
    width = max(0.0, 2.0 * float(np.median(dist)) - float(scale.mean())) if len(dist) else 0.0
    attrs = {
        "length_m": length,
        "prob_mean": float(prob.mean()) if len(prob) else 0.0,
        "width_m": width,
    }
    if d.get("bridge"):
        attrs["bridge"] = True
    return pix, attrs


def to_contract(
    g: nx.MultiGraph, scene: Scene, simplify_m: float, pixel_m: float = 1.0
) -> nx.MultiGraph:
    """Turn a cleaned pixel graph into a contract network.

    Args:
        g: the cleaned graph (:func:`basiss.graph.clean.clean`).
        scene: the grid.
        simplify_m: the simplification tolerance (metres).
        pixel_m: metres per pixel of a raster without CRS.

    Returns:
        The network (see :mod:`basiss.graph`).
    """
    scale = np.array([scene.sx, scene.sy], dtype=np.float64)
    order = sorted(g.nodes, key=lambda n: (g.nodes[n]["xy"][1], g.nodes[n]["xy"][0], n))
    ids = {n: i for i, n in enumerate(order)}
    out = nx.MultiGraph(
        crs=None if scene.crs is None else scene.crs.to_wkt(),
        units="px" if scene.crs is None else "m",
        transform=tuple(float(v) for v in tuple(scene.transform)[:6]),
        image_id=scene.image_id,
    )
    for n in order:
        x, y = _to_crs(g.nodes[n]["xy"][None, :], scene.transform)[0]
        out.add_node(ids[n], x=float(x), y=float(y), kind=kind_of(g.degree(n)))
    edges = []
    for a, b, d in g.edges(data=True):
        pix, attrs = _edge_attrs(d, scene, simplify_m, scale, pixel_m)
        src, dst = (a, b) if d["src"] == a else (b, a)
        u, v = ids[src], ids[dst]
        coords = _to_crs(pix, scene.transform)
        if u > v or (u == v and coords[::-1].tolist() < coords.tolist()):
            u, v, coords = v, u, coords[::-1]
        edges.append((u, v, coords, attrs))
    edges.sort(key=lambda e: (e[0], e[1], e[2].tolist()))
    for u, v, coords, attrs in edges:
        out.add_edge(u, v, geometry=shapely.LineString(coords), **attrs)
    return out
