"""Cleaning the raw pixel graph, in metres, once for the whole scene.

The raw graph (:mod:`basiss.graph.stitch`) is small (vector data), so the cleaning runs
once on the assembled scene, never per band: that keeps it seam-free by construction.
Every step is deterministic given the graph (nodes and edges are visited in their
sorted insertion order), so a band-by-band run and a whole-scene run clean alike.

Distances are measured in the raster's local metric frame: pixel coordinates scaled by
the pixel size ``(sx, sy)`` in metres (exact on a projected grid; on EPSG:4326 the
pixel size at the scene centre, within 0.1% over a SpaceNet-sized scene). The steps, in
order (:func:`clean`):

1. drop self-loops shorter than ``loop_m`` (staircase remnants, small loops where
   buffers just touch);
2. drop short cross-links through a narrow neck of the mask (where two roads' buffers
   just touch), then merge junctions joined by an edge shorter than
   ``junction_merge_m`` (the skeleton splits one crossing into two close junctions;
   merged buffers leave short cross-links), then drop the short loops that leaves;
3. prune spurs: dead ends shorter than ``spur_m`` that hang off a junction, repeated a
   few times; a dead end whose road blob touches the image border is a real road
   leaving the picture and is kept;
4. move each junction to where its roads' lines meet (:mod:`basiss.graph.junctions`),
   then merge and drop loops again (a shallow crossing's two junctions now coincide);
5. end the roads that leave the picture where they cross the border
   (:mod:`basiss.graph.borders`: a crossing next to the border gets one dead end per
   road; a border dead end follows its road's straight direction out to the border);
6. bridge gaps between dead ends closer than ``bridge_m`` when each points at the other
   within ``bridge_angle_deg`` (CRESI's rule: a broken road is straight across its gap);
7. drop connected pieces shorter than ``min_component_m`` in total;
8. join the two edges at every node of degree 2 (after each step that makes some).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree

from basiss.graph.options import GraphOptions

#: Spur pruning passes (a forked whisker needs two).
SPUR_PASSES = 3
#: A cross-link narrower than this share of the roads it joins is a neck (touching buffers).
NECK_RATIO = 0.6
#: How far back along a dead-end edge its direction is taken (metres).
DIRECTION_M = 6.0


def path_length(path: np.ndarray, scale: np.ndarray) -> float:
    """Length in metres of a pixel-coordinate path, ``scale`` = ``(sx, sy)`` m per pixel."""
    if len(path) < 2:
        return 0.0
    return float(np.hypot(*(np.diff(path, axis=0) * scale).T).sum())


def oriented(data: dict, node: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An edge's path, probabilities and distances, running from ``node``."""
    if data["src"] == node:
        return data["path"], data["prob"], data["dist"]
    return data["path"][::-1], data["prob"][::-1], data["dist"][::-1]


def merge_degree2(g: nx.MultiGraph) -> None:
    """Join the two edges at every node of degree 2 into one (in place).

    A node whose only edge is a self-loop stays (a closed road needs one node).
    """
    for n in list(g.nodes):
        if n not in g or g.degree(n) != 2:
            continue
        es = list(g.edges(n, keys=True, data=True))
        if len(es) != 2:
            continue
        (_, a, _, da), (_, b, _, db) = es
        pa, qa, wa = oriented(da, a)
        pb, qb, wb = oriented(db, n)
        g.remove_node(n)
        path = np.vstack([pa, pb[1:]])
        g.add_edge(
            a,
            b,
            path=path,
            src=a,
            prob=np.concatenate([qa, qb]),
            dist=np.concatenate([wa, wb]),
            bridge=da.get("bridge", False) and db.get("bridge", False),
        )


def drop_short_loops(g: nx.MultiGraph, loop_m: float, scale: np.ndarray) -> None:
    """Remove self-loops shorter than ``loop_m`` and the nodes left without edges."""
    loops = [
        (u, k)
        for u, _, k, d in nx.selfloop_edges(g, keys=True, data=True)
        if path_length(d["path"], scale) < loop_m
    ]
    for u, k in loops:
        g.remove_edge(u, u, k)
        if g.degree(u) == 0:
            g.remove_node(u)


def mark_border(g: nx.MultiGraph, width: int, height: int, scale: np.ndarray) -> None:
    """Flag the dead ends whose road blob touches the image border (``border=True``).

    An end pixel is at the border when it lies within its distance to the background
    (plus one pixel) of an image edge.
    """
    for _, data in g.nodes(data=True):
        if data["kind"] != "end":
            continue
        x, y = data["xy"]
        reach = data.get("dist", 0.0) / float(scale.min()) + 1.0
        data["border"] = min(x, y, width - x, height - y) <= reach


def drop_necks(g: nx.MultiGraph, max_m: float, scale: np.ndarray) -> None:
    """Remove short cross-links through a narrow neck of the mask.

    Two roads whose buffers just touch leave a short junction-to-junction edge across
    the touching point, where the mask is much narrower than either road. Such an edge
    (shorter than ``max_m``, its least distance to the background under
    :data:`NECK_RATIO` of the roads' median at both its ends) is dropped.
    """
    necks = []
    for u, v, k, d in g.edges(keys=True, data=True):
        if u == v or g.degree(u) < 3 or g.degree(v) < 3 or not len(d["dist"]):
            continue
        if path_length(d["path"], scale) >= max_m:
            continue
        own = float(np.min(d["dist"]))
        sides = []
        for n in (u, v):
            other = [
                float(np.median(e["dist"]))
                for a, b, kk, e in g.edges(n, keys=True, data=True)
                if (min(a, b), max(a, b), kk) != (min(u, v), max(u, v), k) and len(e["dist"])
            ]
            sides.append(min(other, default=0.0))
        if own < NECK_RATIO * min(sides):
            necks.append((u, v, k))
    g.remove_edges_from(necks)


def merge_junctions(g: nx.MultiGraph, merge_m: float, scale: np.ndarray) -> None:
    """Contract junctions joined by an edge shorter than ``merge_m`` into one node.

    Also contracted: junctions closer than ``merge_m / 2`` joined by an edge shorter than
    ``3 merge_m`` (after :func:`basiss.graph.junctions.refine_junctions` moves the two
    junctions of a shallow crossing together, the edge between them is a short detour).
    The merged node sits at the mean of its junctions, is named by the smallest, and
    the edges that led to any of them now end there.
    """
    parent: dict = {}

    def find(k: object) -> object:
        while parent.get(k, k) != k:
            k = parent[k]
        return k

    for u, v, d in g.edges(data=True):
        if u == v or g.degree(u) < 3 or g.degree(v) < 3:
            continue
        length = path_length(d["path"], scale)
        gap = float(np.hypot(*((g.nodes[u]["xy"] - g.nodes[v]["xy"]) * scale)))
        if length < merge_m or (gap < merge_m / 2 and length < 3 * merge_m):
            a, b = find(u), find(v)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict = {}
    for k in parent:
        groups.setdefault(find(k), set()).add(k)
    for keep, members in sorted(groups.items()):
        members.add(keep)
        _contract(g, keep, sorted(members))


def _contract(g: nx.MultiGraph, keep: object, members: list) -> None:
    """Replace the nodes ``members`` by one node ``keep`` at their mean."""
    xy = np.mean([g.nodes[m]["xy"] for m in members], axis=0)
    inside = set(members)
    edges, seen = [], set()
    for m in members:
        for u, v, k, d in g.edges(m, keys=True, data=True):
            key = (min(u, v), max(u, v), k)
            if key in seen:
                continue
            seen.add(key)
            a, b = (u, v) if d["src"] == u else (v, u)
            path = d["path"].copy()
            if a in inside:
                path[0] = xy
            if b in inside:
                path[-1] = xy
            a2, b2 = (keep if a in inside else a), (keep if b in inside else b)
            edges.append((a2, b2, {**d, "path": path, "src": a2}))
    g.remove_nodes_from(members)
    g.add_node(keep, xy=xy, kind="junction")
    for a, b, d in edges:
        g.add_edge(a, b, **d)


def prune_spurs(g: nx.MultiGraph, spur_m: float, loop_m: float, scale: np.ndarray) -> None:
    """Remove dead ends shorter than ``spur_m`` hanging off a junction (not at the border)."""
    for _ in range(SPUR_PASSES):
        spurs = []
        for n, data in g.nodes(data=True):
            if g.degree(n) != 1 or data.get("border", False):
                continue
            _, m, k, d = next(iter(g.edges(n, keys=True, data=True)))
            if g.degree(m) >= 3 and path_length(d["path"], scale) < spur_m:
                spurs.append(n)
        if not spurs:
            return
        g.remove_nodes_from(spurs)
        drop_short_loops(g, loop_m, scale)
        merge_degree2(g)


def _end_direction(g: nx.MultiGraph, n: object, scale: np.ndarray) -> np.ndarray:
    """Unit vector (metres frame) along a dead end's edge, pointing out of the end."""
    _, _, _, d = next(iter(g.edges(n, keys=True, data=True)))
    path = oriented(d, n)[0] * scale
    steps = np.hypot(*np.diff(path, axis=0).T)
    back = np.searchsorted(np.cumsum(steps), DIRECTION_M)
    vec = path[0] - path[min(back + 1, len(path) - 1)]
    norm = float(np.hypot(*vec))
    return vec / norm if norm > 0 else vec


def bridge_gaps(g: nx.MultiGraph, bridge_m: float, angle_deg: float, scale: np.ndarray) -> None:
    """Join pairs of dead ends closer than ``bridge_m`` that point at each other.

    Pairs are taken closest first; each end is bridged at most once. A bridge is a
    straight edge (``bridge=True``) with no road pixels of its own.
    """
    ends = [n for n, d in g.nodes(data=True) if g.degree(n) == 1 and not d.get("border")]
    if bridge_m <= 0 or len(ends) < 2:
        return
    pos = np.array([g.nodes[n]["xy"] * scale for n in ends])
    dirs = [_end_direction(g, n, scale) for n in ends]
    cos_max = math.cos(math.radians(angle_deg))
    pairs = sorted(
        cKDTree(pos).query_pairs(bridge_m),
        key=lambda p: (float(np.hypot(*(pos[p[0]] - pos[p[1]]))), p),
    )
    used: set[int] = set()
    for i, j in pairs:
        if i in used or j in used or ends[j] in g[ends[i]]:
            continue
        c = pos[j] - pos[i]
        dist = float(np.hypot(*c))
        if dist == 0 or dirs[i] @ c < cos_max * dist or dirs[j] @ -c < cos_max * dist:
            continue
        used.update((i, j))
        a, b = ends[i], ends[j]
        w = np.array([g.nodes[a].get("dist", 0.0), g.nodes[b].get("dist", 0.0)], np.float32)
        path = np.vstack([g.nodes[a]["xy"], g.nodes[b]["xy"]])
        g.add_edge(a, b, path=path, src=a, prob=np.zeros(0, np.float32), dist=w, bridge=True)


def drop_small_components(g: nx.MultiGraph, min_m: float, scale: np.ndarray) -> None:
    """Remove connected pieces whose edges total less than ``min_m`` metres."""
    for comp in list(nx.connected_components(g)):
        total = sum(path_length(d["path"], scale) for _, _, d in g.subgraph(comp).edges(data=True))
        if total < min_m:
            g.remove_nodes_from(comp)


def clean(
    g: nx.MultiGraph, options: GraphOptions, sx: float, sy: float, width: int, height: int
) -> nx.MultiGraph:
    """Clean a raw pixel graph in place, in the order of the module docstring.

    Args:
        g: the raw graph of :func:`basiss.graph.stitch.assemble`.
        options: the metric options.
        sx: metres per pixel along x.
        sy: metres per pixel along y.
        width: scene columns (for the border test).
        height: scene rows.

    Returns:
        ``g``, cleaned.
    """
    from basiss.graph.borders import aim_border_stubs, extend_border_ends  # build on this
    from basiss.graph.junctions import refine_junctions

    scale = np.array([sx, sy], dtype=np.float64)
    mark_border(g, width, height, scale)
    drop_short_loops(g, options.loop_m, scale)
    drop_necks(g, 2 * options.junction_merge_m, scale)
    merge_junctions(g, options.junction_merge_m, scale)
    drop_short_loops(g, options.loop_m, scale)
    merge_degree2(g)
    prune_spurs(g, options.spur_m, options.loop_m, scale)
    refine_junctions(g, options.junction_shift_m, scale)
    merge_junctions(g, options.junction_merge_m, scale)
    drop_short_loops(g, options.loop_m, scale)
    merge_degree2(g)
    aim_border_stubs(g, width, height, scale)
    extend_border_ends(g, width, height, scale)
    bridge_gaps(g, options.bridge_m, options.bridge_angle_deg, scale)
    merge_degree2(g)
    drop_small_components(g, options.min_component_m, scale)
    g.remove_nodes_from([n for n in list(g.nodes) if g.degree(n) == 0])
    merge_degree2(g)
    return g
