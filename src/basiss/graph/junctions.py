"""Moving each skeleton junction to where its roads actually meet.

Thinning puts a junction where the road blobs' medial axes branch, which is not where
the centerlines meet: at an acute junction of two roads of width ``w`` meeting at angle
``a`` it slides about ``w / 2 / sin(a / 2)`` along the bisector (~8 m for 4 m roads at
30 degrees), and a crossing at a shallow angle splits into two junctions. Away from the
junction (beyond ~1.5 road widths) each road's skeleton is on its centerline again.

:func:`refine_junctions` fits a straight line to each incident edge over the stretch
``[r1, r2]`` of arc length from the junction (``r1`` = 1.5 x the widest incident road,
at least 3 m; ``r2`` = ``r1`` + 10 m), moves the junction to the point nearest to all
those lines (least squares), and replaces each edge's first ``r1`` metres by a straight
run from the new junction. It does so only when at least two lines are fitted, they are
not all parallel, and the move is at most ``max_shift_m``. Pure vector work on the
assembled graph, so band-independent.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from basiss.graph.clean import oriented

#: Fitted stretch length beyond ``r1`` (metres).
FIT_M = 10.0
#: Smallest eigenvalue of the normal matrix per line (1 = perpendicular lines, 0 parallel):
#: below this the lines are too close to parallel to intersect reliably (~ sin^2 10 deg).
MIN_SPREAD = 0.03


def _arc_point(path_m: np.ndarray, s: float) -> tuple[np.ndarray, int]:
    """Point at arc length ``s`` along a metric path, and the index of the next vertex."""
    steps = np.hypot(*np.diff(path_m, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    i = int(np.searchsorted(cum, s, side="right"))
    i = min(max(i, 1), len(path_m) - 1)
    t = (s - cum[i - 1]) / steps[i - 1] if steps[i - 1] > 0 else 0.0
    return path_m[i - 1] + t * (path_m[i] - path_m[i - 1]), i


def _incident(g: nx.MultiGraph, n: object) -> list[tuple[object, object, int, dict]]:
    """The non-loop edges at ``n``."""
    return [(u, v, k, d) for u, v, k, d in g.edges(n, keys=True, data=True) if u != v]


def _junction_point(
    g: nx.MultiGraph, n: object, scale: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """The least-squares meeting point (metres frame) of the roads at ``n``, and ``r1``."""
    edges = _incident(g, n)
    widths = [2.0 * float(np.median(d["dist"])) for *_, d in edges if len(d["dist"])]
    r1 = max(3.0, 1.5 * max(widths, default=0.0))
    a = np.zeros((2, 2))
    b = np.zeros(2)
    lines = 0
    for *_, d in edges:
        path = oriented(d, n)[0] * scale
        if float(np.hypot(*np.diff(path, axis=0).T).sum()) < r1 + FIT_M:
            continue
        p1, _ = _arc_point(path, r1)
        p2, _ = _arc_point(path, r1 + FIT_M)
        u = (p2 - p1) / max(float(np.hypot(*(p2 - p1))), 1e-12)
        proj = np.eye(2) - np.outer(u, u)
        a += proj
        b += proj @ p1
        lines += 1
    if lines < 2 or float(np.linalg.eigvalsh(a)[0]) < MIN_SPREAD * lines:
        return None
    return np.linalg.solve(a, b), r1


def refine_junctions(g: nx.MultiGraph, max_shift_m: float, scale: np.ndarray) -> None:
    """Move junctions to their roads' meeting point (in place; see the module docstring).

    Args:
        g: a cleaned pixel graph (``xy`` on nodes, ``path`` and ``src`` on edges).
        max_shift_m: the largest move (metres); 0 turns refinement off.
        scale: ``(sx, sy)`` metres per pixel.
    """
    if max_shift_m <= 0:
        return
    for n in list(g.nodes):
        if g.degree(n) < 3:
            continue
        found = _junction_point(g, n, scale)
        if found is None:
            continue
        q, r1 = found
        if float(np.hypot(*(q - g.nodes[n]["xy"] * scale))) > max_shift_m:
            continue
        g.nodes[n]["xy"] = q / scale
        for u, v, k, d in _incident(g, n):
            path = oriented(d, n)[0] * scale
            length = float(np.hypot(*np.diff(path, axis=0).T).sum())
            if length > r1:
                p1, i = _arc_point(path, r1)
                new = np.vstack([q, p1, path[i:]])
            else:
                new = np.vstack([q, path[1:]])
            new = new / scale
            data = g.edges[u, v, k]
            data["path"] = new if d["src"] == n else new[::-1].copy()
