"""Vectorised shapely helpers for laying out a scene in metres.

Every helper takes arrays and returns arrays of geometries, so a whole street of houses
or a forest of crowns is built without a Python loop per object.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString


def rects(
    cx: np.ndarray,
    cy: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    half_len: np.ndarray | float,
    half_wid: np.ndarray | float,
) -> np.ndarray:
    """Rectangles centred on (cx, cy) with long axis (ux, uy); vectorised.

    Returns:
        array of shapely Polygons.
    """
    cx, cy, ux, uy = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (cx, cy, ux, uy))
    hl = np.broadcast_to(np.asarray(half_len, dtype=np.float64), cx.shape)
    hw = np.broadcast_to(np.asarray(half_wid, dtype=np.float64), cx.shape)
    vx, vy = -uy, ux
    corners = ((1, 1), (-1, 1), (-1, -1), (1, -1), (1, 1))
    coords = np.stack(
        [
            np.stack([cx + a * hl * ux + b * hw * vx, cy + a * hl * uy + b * hw * vy], -1)
            for a, b in corners
        ],
        axis=1,
    )
    if coords.shape[0] == 0:
        return np.array([], dtype=object)
    return shapely.polygons(coords)


def translate(geoms: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Each geometry moved by its own (dx, dy) row of ``shift``; vectorised."""
    arr = np.array(geoms, dtype=object, copy=True)
    coords, index = shapely.get_coordinates(arr, return_index=True)
    return shapely.set_coordinates(arr, coords + shift[index])


def discs(x: np.ndarray, y: np.ndarray, r: np.ndarray, segs: int = 4) -> np.ndarray:
    """Discs (polygons with ``4 * segs`` sides) centred on (x, y)."""
    if len(x) == 0:
        return np.array([], dtype=object)
    return shapely.buffer(
        shapely.points(np.asarray(x), np.asarray(y)), np.asarray(r), quad_segs=segs
    )


def along(
    line: LineString, distances: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points and unit tangents of ``line`` at ``distances`` (x, y, tx, ty)."""
    d = np.clip(distances, 0.0, line.length)
    pts = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
    ahead = shapely.get_coordinates(
        shapely.line_interpolate_point(line, np.minimum(d + 1.0, line.length))
    )
    behind = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(d - 1.0, 0.0)))
    t = ahead - behind
    t /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
    return pts[:, 0], pts[:, 1], t[:, 0], t[:, 1]


def hits(geoms: np.ndarray, tree: shapely.STRtree | None) -> np.ndarray:
    """Boolean per geometry: does it intersect anything in ``tree``?"""
    out = np.zeros(len(geoms), dtype=bool)
    if tree is None or len(geoms) == 0:
        return out
    idx = tree.query(geoms, predicate="intersects")
    out[np.unique(idx[0])] = True
    return out


def greedy_disjoint(geoms: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Drop every geometry that overlaps an earlier kept one (in index order)."""
    if len(geoms) == 0:
        return keep
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    sel = i > j  # pair (later, earlier)
    later, earlier = i[sel], j[sel]
    order = np.lexsort((earlier, later))
    later, earlier = later[order], earlier[order]
    keep = keep.copy()
    for a, b in zip(later.tolist(), earlier.tolist(), strict=True):
        if keep[a] and keep[b]:
            keep[a] = False
    return keep
