"""Dead ends at the image border: ending each road where it really crosses the border.

A road that leaves the picture at an angle ``a`` to the border meets it along a cut
``w / sin(a)`` long (``w`` the road's width). Near that cut the thinned skeleton is not
the centerline: once the border is within ``w / 2`` of the centerline (the last
``(w / 2) / tan(a)`` of it, ~7.5 m for a 4 m road at 15 degrees) the skeleton bends, and
its end lands up to ``(w / 2) / tan(a)`` from the true crossing, both when the mask is
not extended at the border (the skeleton stops half a road width short and runs into
the cut's acute corner) and when it is edge-replicated (``border_pad_m``: the pad's
wide, shallow rectangle pulls the skeleton sideways). Beyond that stretch the skeleton
is on the centerline again.

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
than ``s1 + w`` from the skeleton's end. Such an end (a short stub, typically) is still
carried straight on to the border along its last :data:`FIT_FROM_M` metres when that is
at most three times its distance to the background (plus a pixel), else joined to the
nearest border point (its blob touches that border).

:func:`aim_border_stubs` handles the other border error of a perfect mask: two roads
crossing within about a road width of the border overlap where they leave the image, so
the skeleton's stubs do not follow them (it runs two stubs into the corners of the
merged cut, or with the pad leaves one stub where the truth has two dead ends a few
metres apart, and APLS, snapping both truth ends onto the one, loses the routes of
one). The junction's other roads, continued straight through the crossing, show where
each leaves: each gets its own straight stub to where it meets the border.

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
#: least this many times the road's half-width (see :func:`aim_border_stubs`).
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


def _short_extension(
    path_m: np.ndarray, size: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray]:
    """The fallback for a border end that :func:`_continuation` leaves alone: the path
    carried on straight to the border along its last :data:`FIT_FROM_M` metres when
    that is at most ``3 reach`` long, else joined to the nearest border point."""
    cum = _cumulative(path_m)
    back, _ = _at(path_m, cum, min(FIT_FROM_M, float(cum[-1])))
    end = path_m[0]
    step = end - back
    exit_point = None
    if float(np.hypot(*step)) > 1e-9:
        exit_point = ray_exit(end, step, size)
    if exit_point is None or float(np.hypot(*(exit_point - end))) > 3 * reach:
        gaps = [end[0], size[0] - end[0], end[1], size[1] - end[1]]
        exit_point = end.copy()
        side = int(np.argmin(gaps))
        exit_point[side // 2] = 0.0 if side % 2 == 0 else size[side // 2]
    if float(np.hypot(*(exit_point - end))) < 1e-9:
        return end, path_m
    return exit_point, np.vstack([exit_point, path_m])


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
        path_m = oriented(d, n)[0] * scale
        found = _continuation(path_m, size, road_w)
        if found is None:
            found = _short_extension(path_m, size, float(data.get("dist", 0.0)) + scale.max())
        end, path_m = found
        data["xy"] = end / scale
        path = path_m / scale
        g.edges[u, v, k]["path"] = path if d["src"] == n else path[::-1].copy()


def _road_exits(
    g: nx.MultiGraph, j: object, skip: set, scale: np.ndarray, size: np.ndarray
) -> list[tuple[np.ndarray, float]]:
    """Where the roads at junction ``j`` (but the edges in ``skip``), continued straight
    through it, leave the image; with each road's half-width (metres frame).

    A road's line is fitted over ``[r1, r1 + FIT_M]`` of arc from the junction, ``r1``
    = 1.5 road widths (at least 3 m), as :mod:`basiss.graph.junctions` fits it.
    """
    q = g.nodes[j]["xy"] * scale
    out = []
    for u, v, k, d in g.edges(j, keys=True, data=True):
        if u == v or (min(u, v), max(u, v), k) in skip or d.get("bridge") or not len(d["dist"]):
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


def _border_stubs(g: nx.MultiGraph, j: object) -> list[tuple[object, object, int, dict, object]]:
    """The edges ``(u, v, key, data, end)`` from junction ``j`` to a border dead end."""
    out = []
    for u, v, k, d in g.edges(j, keys=True, data=True):
        n = v if u == j else u
        if n != j and g.degree(n) == 1 and g.nodes[n].get("border") and not d.get("bridge"):
            out.append((u, v, k, d, n))
    return out


def aim_border_stubs(g: nx.MultiGraph, width: int, height: int, scale: np.ndarray) -> None:
    """Give each road of a crossing next to the border its own dead end where it leaves.

    In place. Two roads that cross within about a road width of the border overlap
    where they leave the image, so the skeleton's stubs from the crossing to the border
    do not follow them: it leaves one stub (edge-extended mask) or runs two into the
    corners of the merged cut. At a junction with border stubs, the junction's other
    roads are continued straight through it (:func:`_road_exits`); those that meet the
    border within a road width of a stub's end, and within the longest stub plus a road
    width of the junction, are the roads leaving there. When there are as many of them
    as stubs (two or more), each stub becomes a straight edge from the junction to one
    exit (both in order along the border). A single stub is split into one edge per
    exit only when its end sits in a cut wider than one road (its distance to the
    background is at least :data:`WIDE_RATIO` x the roads' half-width): one road that
    forks just inside the border has a single, narrow cut. A new end is named
    ``(*end, i)``.

    Args:
        g: a cleaned pixel graph, border ends flagged, junctions refined.
        width: scene columns.
        height: scene rows.
        scale: ``(sx, sy)`` metres per pixel.
    """
    size = np.array([width, height], dtype=np.float64) * scale
    for j in list(g.nodes):
        if g.degree(j) < 3:
            continue
        stubs = _border_stubs(g, j)
        if not stubs:
            continue
        q = g.nodes[j]["xy"] * scale
        ends_m = [g.nodes[n]["xy"] * scale for *_, n in stubs]
        longest = max(float(_cumulative(d["path"] * scale)[-1]) for _, _, _, d, _ in stubs)
        skip = {(min(u, v), max(u, v), k) for u, v, k, _, _ in stubs}
        exits = [
            (p, h)
            for p, h in _road_exits(g, j, skip, scale, size)
            if np.hypot(*(p - q)) <= longest + 2 * h
            and min(np.hypot(*(p - e)) for e in ends_m) <= 2 * h
        ]
        if len(stubs) >= 2 and len(exits) != len(stubs):
            continue
        if len(stubs) == 1:
            reach = float(g.nodes[stubs[0][4]].get("dist", 0.0))
            if len(exits) < 2 or reach < WIDE_RATIO * min(h for _, h in exits):
                continue
        _reaim(g, j, q, stubs, [p for p, _ in exits], scale)


def _reaim(
    g: nx.MultiGraph, j: object, q: np.ndarray, stubs: list, exits: list, scale: np.ndarray
) -> None:
    """Replace the border ``stubs`` of junction ``j`` by straight edges to ``exits``."""
    exits = sorted(exits, key=lambda p: tuple(p.tolist()))
    stubs = sorted(stubs, key=lambda s: tuple(g.nodes[s[4]]["xy"].tolist()))
    first = stubs[0]
    for u, v, k, _, _ in stubs:
        g.remove_edge(u, v, k)
    for i, p in enumerate(exits):
        _, _, _, d, n = stubs[min(i, len(stubs) - 1)]
        key = n if i < len(stubs) else (*first[4], i)
        if key in g:
            g.nodes[key]["xy"] = p / scale
        else:
            g.add_node(key, **{**g.nodes[first[4]], "xy": p / scale})
        g.add_edge(j, key, path=np.vstack([q, p]) / scale, src=j, prob=d["prob"], dist=d["dist"])
