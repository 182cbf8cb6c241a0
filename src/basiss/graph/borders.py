"""Dead ends at the image border: ending each road where it really crosses the border.

A road that leaves the picture at an angle ``a`` to the border meets it along a cut
``w / sin(a)`` long (``w`` the road's width). Near that cut the thinned skeleton is not
the centerline: once the border is within ``w / 2`` of the centerline (the last
``(w / 2) / tan(a)`` of it, ~7.5 m for a 4 m road at 15 degrees) the skeleton bends, and
its end lands up to ``(w / 2) / tan(a)`` along the border from the true crossing, both
when the mask is edge-replicated at the border (the pad's wide, shallow rectangle pulls
the skeleton sideways) and when it is not (the skeleton runs into the cut's acute
corner). Beyond that stretch the skeleton is on the centerline again.

:func:`extend_border_ends` therefore replaces the last stretch of each border dead end
(the ends that :func:`basiss.graph.clean.mark_border` flags) by the road's own straight
continuation: it fits a line to the edge's path between ``s1`` and ``s1 +`` :data:`FIT_M`
metres of arc from the end, where ``s1`` is the larger of :data:`FIT_FROM_M` and the
bent stretch that the fitted angle predicts, ``(w / 2) / tan(a) + w / 2`` (refitted once
when that is longer), follows the line out of the image and cuts it at the border. The
end node moves to the cut; the path keeps its vertices beyond ``s1``. An end is left
alone when the fit is not trustworthy: the edge is shorter than ``s1 + FIT_M / 2`` (a
junction close to the border), the stretch is not straight (no vertex farther than
:data:`STRAIGHT_M` from the line: a road curving out of the picture), the road is
within :data:`MIN_ANGLE_DEG` of the border (it runs along it), or the cut lies farther
than ``s1 + w`` from the skeleton's end.

:func:`split_border_stubs` handles the other border error of a perfect mask: two roads
crossing within about a road width of the border overlap where they leave the image, so
the skeleton gives them one stub and one dead end where the truth has two a few metres
apart (and APLS, snapping both truth ends onto the one, loses the routes of one). The
stub's end then sits in a cut wider than one road, and the junction's other roads,
continued straight through the crossing, reach the border inside that cut: each gets
its own straight stub to where it meets the border.

Both are pure vector work on the assembled graph (after the junctions are refined), in
the metric frame, visiting nodes in the graph's canonical order, so a band-by-band run
and a whole-scene run agree exactly; they never look at the raster, whose top and
bottom borders only the first and last bands see.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from basiss.graph.clean import oriented

#: The least arc length (metres) from a border end at which its road's direction is measured.
FIT_FROM_M = 6.0
#: Length (metres) of the fitted stretch.
FIT_M = 9.0
#: The fitted stretch must be straight: no vertex farther than this (metres) from its line.
STRAIGHT_M = 0.6
#: The continuation may not move the end farther than this many road widths (plus the
#: fitted stretch's start) from the skeleton's end.
REACH_WIDTHS = 1.0
#: The bent stretch beyond the geometric ``(w / 2) / tan(a)``, in road widths.
MARGIN_WIDTHS = 0.5
#: A stub's end is in a cut wider than one road when its distance to the background is at
#: least this many times the road's half-width (see :func:`split_border_stubs`).
WIDE_RATIO = 1.3
#: Angles to the border below this (degrees) are not extended (a road along the border).
MIN_ANGLE_DEG = 8.0


def ray_exit(point: np.ndarray, direction: np.ndarray, size: np.ndarray) -> np.ndarray | None:
    """Where the ray ``point + t direction`` (t >= 0) leaves the box ``[0, size]``.

    Args:
        point: ``(x, y)`` inside the box (metres frame).
        direction: the ray's direction (any length > 0).
        size: ``(width, height)`` of the box.

    Returns:
        The exit point, or None when ``point`` is outside the box.
    """
    if np.any(point < 0) or np.any(point > size):
        return None
    t = math.inf
    for k in (0, 1):
        if direction[k] > 0:
            t = min(t, (size[k] - point[k]) / direction[k])
        elif direction[k] < 0:
            t = min(t, -point[k] / direction[k])
    return point + t * direction


def _cumulative(path_m: np.ndarray) -> np.ndarray:
    """Arc length at each vertex of a metric path."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path_m, axis=0).T))])


def _at(path_m: np.ndarray, cum: np.ndarray, s: float) -> tuple[np.ndarray, int]:
    """Point at arc length ``s`` and the index of the first vertex beyond it."""
    i = int(np.clip(np.searchsorted(cum, s, side="right"), 1, len(path_m) - 1))
    step = cum[i] - cum[i - 1]
    t = (s - cum[i - 1]) / step if step > 0 else 0.0
    return path_m[i - 1] + t * (path_m[i] - path_m[i - 1]), i


def fit_line(
    path_m: np.ndarray, cum: np.ndarray, s1: float, s2: float
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Least-squares line through a path's stretch of arc ``[s1, s2]``.

    Args:
        path_m: the path (metres frame), starting at the end being extended.
        cum: its arc length at each vertex.
        s1: where the stretch starts.
        s2: where it stops (at most the path's length).

    Returns:
        ``(p1, u, spread)``: the point of the line nearest the path at ``s1``, the unit
        direction pointing back towards the path's start (out of the road), and the
        largest distance of a stretch vertex from the line; None when the stretch is
        degenerate.
    """
    a, _ = _at(path_m, cum, s1)
    b, _ = _at(path_m, cum, s2)
    inner = path_m[(cum > s1) & (cum < s2)]
    pts = np.vstack([a, inner, b])
    centre = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - centre)
    u = vt[0]
    if float(u @ (a - b)) < 0:
        u = -u
    if float(np.hypot(*(a - b))) < 1e-9:
        return None
    normal = np.array([-u[1], u[0]])
    spread = float(np.abs((pts - centre) @ normal).max())
    return centre + float((a - centre) @ u) * u, u, spread


def _bent_length(u: np.ndarray, exit_point: np.ndarray, size: np.ndarray, width: float) -> float:
    """Length of the bent stretch for a road of ``width`` leaving along ``u`` at ``exit``:
    ``(w / 2) / tan(a)`` plus a margin, ``a`` the angle to the border it crosses."""
    sin_a = min(1.0, max(_sin_to_border(u, exit_point, size), 1e-6))
    cos_a = math.sqrt(max(0.0, 1.0 - sin_a * sin_a))
    return (width / 2) * cos_a / sin_a + MARGIN_WIDTHS * width


def _continuation(
    path_m: np.ndarray, size: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The new metric path of a border dead end's edge (see the module docstring), or None."""
    cum = _cumulative(path_m)
    s1 = FIT_FROM_M
    for _ in range(2):
        if cum[-1] < s1 + FIT_M / 2:
            return None
        fit = fit_line(path_m, cum, s1, min(s1 + FIT_M, float(cum[-1])))
        if fit is None or fit[2] > STRAIGHT_M:
            return None
        p1, u, _ = fit
        exit_point = ray_exit(p1, u, size)
        if exit_point is None:
            return None
        need = max(FIT_FROM_M, _bent_length(u, exit_point, size, width))
        if need <= s1 + 1e-9:
            break
        s1 = need
    angle = math.degrees(math.asin(min(1.0, _sin_to_border(u, exit_point, size))))
    if angle < MIN_ANGLE_DEG:
        return None
    if float(np.hypot(*(exit_point - path_m[0]))) > s1 + REACH_WIDTHS * width:
        return None
    _, i = _at(path_m, cum, s1)
    return exit_point, np.vstack([exit_point, p1, path_m[i:]])


def _sin_to_border(u: np.ndarray, exit_point: np.ndarray, size: np.ndarray) -> float:
    """Sine of the angle between direction ``u`` and the border edge at ``exit_point``."""
    on_x = min(exit_point[0], size[0] - exit_point[0])
    on_y = min(exit_point[1], size[1] - exit_point[1])
    return abs(float(u[0])) if on_x <= on_y else abs(float(u[1]))


def extend_border_ends(g: nx.MultiGraph, width: int, height: int, scale: np.ndarray) -> None:
    """Move each border dead end to where its road's straight continuation meets the border.

    In place; see the module docstring for the rule and when an end is left alone.

    Args:
        g: a cleaned pixel graph whose border ends carry ``border=True``
            (:func:`basiss.graph.clean.mark_border`).
        width: scene columns.
        height: scene rows.
        scale: ``(sx, sy)`` metres per pixel.
    """
    size = np.array([width, height], dtype=np.float64) * scale
    for n in list(g.nodes):
        data = g.nodes[n]
        if not data.get("border") or g.degree(n) != 1:
            continue
        u, v, k, d = next(iter(g.edges(n, keys=True, data=True)))
        if u == v or d.get("bridge"):
            continue
        road_w = 2.0 * float(np.median(d["dist"])) if len(d["dist"]) else 0.0
        found = _continuation(oriented(d, n)[0] * scale, size, road_w)
        if found is None:
            continue
        end, path_m = found
        data["xy"] = end / scale
        path = path_m / scale
        g.edges[u, v, k]["path"] = path if d["src"] == n else path[::-1].copy()


def _stub_exits(
    g: nx.MultiGraph, j: object, stub: tuple, scale: np.ndarray, size: np.ndarray
) -> list[tuple[np.ndarray, float]]:
    """Where the roads at junction ``j`` (all but the edge ``stub``), continued straight
    through it, leave the image; with each road's half-width (metres frame)."""
    q = g.nodes[j]["xy"] * scale
    out = []
    for u, v, k, d in g.edges(j, keys=True, data=True):
        if u == v or (u, v, k) == stub or (v, u, k) == stub or d.get("bridge"):
            continue
        if not len(d["dist"]):
            continue
        half = float(np.median(d["dist"]))
        path_m = oriented(d, j)[0] * scale
        cum = _cumulative(path_m)
        s1 = max(3.0, 3.0 * half)
        if cum[-1] < s1 + FIT_M / 2:
            continue
        fit = fit_line(path_m, cum, s1, min(s1 + FIT_M, float(cum[-1])))
        if fit is None or fit[2] > STRAIGHT_M:
            continue
        exit_point = ray_exit(q, fit[1], size)
        if exit_point is not None:
            out.append((exit_point, half))
    return out


def split_border_stubs(g: nx.MultiGraph, width: int, height: int, scale: np.ndarray) -> None:
    """Give each road of a crossing next to the border its own dead end (in place).

    Two roads that cross within about a road width of the border overlap where they
    leave the image, so the skeleton leaves them one stub from the crossing to the
    border, where the truth has two dead ends a few metres apart. The stub is split
    when its end sits in a border cut wider than one road (its distance to the
    background is at least :data:`WIDE_RATIO` x the roads' half-width) and at least two
    of the junction's other roads, continued straight through it, reach the border
    within that distance of the stub's end (and within the stub's length plus a road
    width of the junction): the stub becomes one straight edge per such road, from the
    junction to where its continuation meets the border. The first keeps the stub's
    end node; the others are new nodes named ``(*end, i)``.

    Args:
        g: a cleaned pixel graph, border ends flagged, junctions refined.
        width: scene columns.
        height: scene rows.
        scale: ``(sx, sy)`` metres per pixel.
    """
    size = np.array([width, height], dtype=np.float64) * scale
    for n in list(g.nodes):
        data = g.nodes[n]
        if not data.get("border") or g.degree(n) != 1:
            continue
        u, v, k, d = next(iter(g.edges(n, keys=True, data=True)))
        j = v if u == n else u
        if j == n or g.degree(j) < 3 or d.get("bridge"):
            continue
        end_m = data["xy"] * scale
        reach = float(data.get("dist", 0.0))
        stub_len = float(_cumulative(d["path"] * scale)[-1])
        q = g.nodes[j]["xy"] * scale
        exits = [
            (p, h)
            for p, h in _stub_exits(g, j, (u, v, k), scale, size)
            if np.hypot(*(p - end_m)) <= reach and np.hypot(*(p - q)) <= stub_len + 2 * h
        ]
        if len(exits) < 2 or reach < WIDE_RATIO * min(h for _, h in exits):
            continue
        g.remove_edge(u, v, k)
        for i, (p, _) in enumerate(sorted(exits, key=lambda e: tuple(e[0].tolist()))):
            key = n if i == 0 else (*n, i)
            if i == 0:
                data["xy"] = p / scale
            else:
                g.add_node(key, xy=p / scale, kind="end", dist=reach, border=True)
            path = np.vstack([q, p]) / scale
            g.add_edge(j, key, path=path, src=j, prob=d["prob"], dist=d["dist"])
