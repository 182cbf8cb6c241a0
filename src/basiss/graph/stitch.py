"""Band pieces -> the scene's pixel graph, in a canonical form (the same for any banding).

Pieces are joined where their open ends share a key (the step across a band edge),
junction pixels are grouped into junctions by 8-adjacency over the whole scene, and every
choice the banding could sway is fixed by the pixels alone: a junction is named by its
smallest pixel and placed at its pixels' mean; an edge runs from the smaller node to the
larger; a closed loop without a node starts at its smallest pixel. Nodes and edges are
inserted in sorted order, so the cleaning that follows visits them in the same order.

The raw graph (:func:`assemble`) is a :class:`networkx.MultiGraph` in pixel coordinates:
node keys are pixels ``(row, col)``; nodes carry ``xy`` (``(x, y)`` = ``(col + 0.5,
row + 0.5)``, the pixel centre), ``kind`` (``"junction"``, ``"end"`` or ``"node"``) and
``dist`` (metres to the background, at ends); edges carry ``path`` (``(k, 2)`` float
``x, y`` from node ``src`` to the other end), ``src``, ``prob`` and ``dist`` (per pixel).
Its size is that of the vector network (a few values per skeleton pixel), not the raster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import networkx as nx
import numpy as np

from basiss.graph.pixels import BandPixels, End, Piece, Pixel


def junction_groups(pixels: np.ndarray) -> dict[Pixel, Pixel]:
    """Group junction pixels by 8-adjacency: each pixel -> its group's smallest pixel.

    Args:
        pixels: ``(k, 2)`` ``(row, col)`` of every junction pixel of the scene.

    Returns:
        The group name of each pixel.
    """
    keys = [tuple(p) for p in pixels.tolist()]
    parent = {k: k for k in keys}

    def find(k: Pixel) -> Pixel:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for r, c in keys:
        for q in ((r, c + 1), (r + 1, c - 1), (r + 1, c), (r + 1, c + 1)):
            if q in parent:
                a, b = find((r, c)), find(q)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {k: find(k) for k in keys}


def _chains(pieces: Sequence[Piece]) -> list[tuple[End, End, list[tuple[Piece, bool]]]]:
    """Join pieces at their open ends into chains from node to node (or closed loops).

    Returns:
        ``(start, end, [(piece, reversed), ...])`` per chain.
    """
    by_key: dict[object, list[tuple[int, int]]] = defaultdict(list)
    for i, p in enumerate(pieces):
        for side, end in ((0, p.start), (1, p.end)):
            if end[0] == "o":
                by_key[end[1]].append((i, side))
    used = [False] * len(pieces)

    def follow(i: int, side: int) -> tuple[End, list[tuple[Piece, bool]]]:
        first, parts = (i, side), []
        while True:
            used[i] = True
            p = pieces[i]
            parts.append((p, side == 1))
            out = p.end if side == 0 else p.start
            if out[0] != "o":
                return out, parts
            j, sj = next(m for m in by_key[out[1]] if m != (i, 1 - side))
            if (j, sj) == first:
                return ("c", None), parts
            i, side = j, sj

    out = []
    for i, p in enumerate(pieces):
        for side, start in ((0, p.start), (1, p.end)):
            if not used[i] and start[0] == "n":
                end, parts = follow(i, side)
                out.append((start, end, parts))
    for i in range(len(pieces)):
        if not used[i]:
            end, parts = follow(i, 0)
            out.append((("c", None), ("c", None), parts))
    return out


def _concat(parts: list[tuple[Piece, bool]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels ``(k, 2)`` (row, col), probabilities and distances of a chain, in order."""
    rows, prob, dist = [], [], []
    for p, rev in parts:
        s = slice(None, None, -1) if rev else slice(None)
        rows.append(np.stack([p.rows[s], p.cols[s]], axis=1))
        prob.append(p.prob[s])
        dist.append(p.dist[s])
    return np.concatenate(rows), np.concatenate(prob), np.concatenate(dist)


def _loop_start(pix: np.ndarray) -> np.ndarray:
    """Rotate a closed chain (first pixel not repeated) to start at its smallest pixel,
    heading to the smaller of its two neighbours on the loop; returns the order."""
    n = len(pix)
    keys = pix[:, 0].astype(np.int64) * (1 << 32) + pix[:, 1]
    k = int(np.argmin(keys))
    order = (np.arange(n) + k) % n
    if n > 2 and keys[order[-1]] < keys[order[1]]:
        order = (k - np.arange(n)) % n
    return order


def assemble(bands: Sequence[BandPixels]) -> nx.MultiGraph:
    """The scene's raw pixel graph from its bands' pieces (see the module docstring)."""
    pieces = [p for b in bands for p in b.pieces]
    junctions = np.concatenate([b.junctions for b in bands] + [np.zeros((0, 2), np.int64)])
    group = junction_groups(junctions)
    members: dict[Pixel, list[Pixel]] = defaultdict(list)
    for px, g in group.items():
        members[g].append(px)
    nodes: dict[Pixel, dict] = {}
    for g, pxs in members.items():
        mean = np.asarray(sorted(pxs), dtype=np.float64).mean(axis=0)
        nodes[g] = {"xy": np.array([mean[1] + 0.5, mean[0] + 0.5]), "kind": "junction"}
    for b in bands:
        for (r, c), d in zip(b.ends.tolist(), b.end_dist.tolist(), strict=True):
            nodes[(r, c)] = {"xy": np.array([c + 0.5, r + 0.5]), "kind": "end", "dist": d}
    edges = []
    for start, end, parts in _chains(pieces):
        pix, prob, dist = _concat(parts)
        if start[0] == "c":
            order = _loop_start(pix)
            pix, prob, dist = pix[order], prob[order], dist[order]
            u = v = (int(pix[0, 0]), int(pix[0, 1]))
            nodes[u] = {"xy": np.array([pix[0, 1] + 0.5, pix[0, 0] + 0.5]), "kind": "node"}
            edges.append(_edge(u, v, pix, prob, dist, nodes, closed=True))
            continue
        u = group.get(start[1], start[1])
        v = group.get(end[1], end[1])
        edges.append(_edge(u, v, pix, prob, dist, nodes, closed=False))
    return _canonical_graph(nodes, edges)


def _edge(
    u: Pixel,
    v: Pixel,
    pix: np.ndarray,
    prob: np.ndarray,
    dist: np.ndarray,
    nodes: dict[Pixel, dict],
    closed: bool,
) -> tuple[Pixel, Pixel, dict]:
    """One raw edge: junction pixels at its ends are replaced by their junction's centre."""
    keep = np.ones(len(pix), dtype=bool)
    if not closed:
        keep[0] = nodes[u]["kind"] != "junction"
        keep[-1] = nodes[v]["kind"] != "junction"
    if not keep.any():  # only junction pixels: keep the values of one
        keep[0] = True
    xy = pix[keep][:, ::-1].astype(np.float64) + 0.5
    path = _dedupe(np.vstack([nodes[u]["xy"], xy, nodes[v]["xy"]]))
    p, d = prob[keep], dist[keep]
    if u > v or (u == v and _reverse_smaller(path)):
        u, v, path, p, d = v, u, path[::-1].copy(), p[::-1].copy(), d[::-1].copy()
    return u, v, {"path": path, "src": u, "prob": p, "dist": d}


def _dedupe(path: np.ndarray) -> np.ndarray:
    """Drop consecutive repeated vertices (a node pixel is both node and path pixel)."""
    if len(path) < 2:
        return path
    step = np.any(np.diff(path, axis=0) != 0, axis=1)
    out = path[np.concatenate([[True], step])]
    return out if len(out) >= 2 else np.vstack([out, out])


def _reverse_smaller(path: np.ndarray) -> bool:
    """True when the reversed path sorts before the path (canonical loop direction)."""
    return tuple(map(tuple, path[::-1].tolist())) < tuple(map(tuple, path.tolist()))


def _canonical_graph(nodes: dict[Pixel, dict], edges: list) -> nx.MultiGraph:
    """Build the MultiGraph with nodes and edges inserted in sorted order."""
    g = nx.MultiGraph()
    for k in sorted(nodes):
        g.add_node(k, **nodes[k])
    edges.sort(key=lambda e: (e[0], e[1], tuple(map(tuple, e[2]["path"].tolist()))))
    for u, v, data in edges:
        g.add_edge(u, v, **data)
    return g
