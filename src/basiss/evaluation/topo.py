"""TOPO (holes and marbles) precision, recall and F1 between two road networks.

After Biagioni & Eriksson (2012) and the TOPO of CosmiQ's ``apls`` package, written anew:

1. Both networks are projected as for APLS (:mod:`basiss.evaluation.apls`).
2. ``n_start_nodes`` truth nodes are drawn (without replacement, all when fewer) with
   ``numpy.random.default_rng(seed)``. For each, the **holes** are the points of the
   truth at network distance 0, ``interval_m``, 2 ``interval_m``, ... up to
   ``subgraph_radius_m`` from it (propagated along the network, as Biagioni & Eriksson
   do, so that equal geometry gives equal points whatever the node structure); the
   proposal start is the nearest proposal location within ``hole_radius_m`` of the truth
   node (none: every hole is a miss), and the **marbles** are placed the same way on the
   proposal from there. (The reference places them every ``interval`` from each edge's
   first node instead, which makes a proposal that merely splits edges differently lose.)
3. Marbles, nearest to the start first, each fill the nearest empty hole within
   ``hole_radius_m`` (true positive) or count as a false positive; holes left empty are
   false negatives. Counts are summed over the starts: precision = TP / (TP + FP),
   recall = TP / (TP + FN), F1 their harmonic mean (0 when undefined).

Two empty networks score 1; an empty truth or proposal alone scores 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import Point

from basiss.evaluation.apls import Weight, _metric_transformers, _Net, _symmetric_min, _to_net


@dataclass(frozen=True)
class TopoParams:
    """TOPO settings (metres).

    Attributes:
        hole_radius_m: a marble fills a hole this close (the reference: 4 m in SpaceNet runs).
        interval_m: spacing of holes and marbles along edges (the reference: 30 m).
        subgraph_radius_m: network distance from a start within which points count (150 m).
        n_start_nodes: truth nodes used as starts (the reference: as many as APLS nodes).
    """

    hole_radius_m: float = 4.0
    interval_m: float = 30.0
    subgraph_radius_m: float = 150.0
    n_start_nodes: int = 500


@dataclass(frozen=True)
class TopoResult:
    """TOPO counts and scores, summed over the start nodes."""

    precision: float
    recall: float
    f1: float
    tp: int = 0
    fp: int = 0
    fn: int = 0
    n_starts: int = 0

    def to_dict(self) -> dict[str, float | int]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)


def _csgraph(net: _Net) -> csr_matrix:
    """The network as a sparse matrix of planar edge lengths."""
    lengths = [g.length for g in net.geoms]
    return _symmetric_min(list(net.u), list(net.v), lengths, len(net.labels))


def _edge_offsets(du: float, dv: float, ell: float, interval: float, radius: float) -> np.ndarray:
    """Offsets along an edge (from u) where the network distance from the start, the tent
    ``min(du + s, dv + ell - s)``, is a positive multiple of ``interval`` within ``radius``."""
    ks = np.arange(1, int(radius // interval) + 1) * interval
    peak = (dv + ell - du) / 2  # where the two ways round are equally long
    rising = ks - du
    falling = ell - (ks - dv)
    return np.concatenate(
        [
            rising[(rising >= 0) & (rising <= min(ell, peak))],
            falling[(falling >= max(0.0, peak)) & (falling <= ell)],
        ]
    )


def _points(
    net: _Net, node_dist: np.ndarray, params: TopoParams, start: tuple[int, float] | None
) -> np.ndarray:
    """Points at every ``interval`` of network distance from a start, within the radius.

    Args:
        net: the network.
        node_dist: network distance of each node from the start (inf: unreachable).
        params: interval and radius.
        start: ``(edge, offset)`` when the start lies inside an edge (the proposal's);
            ``None`` when it is the node at distance 0 (the truth's).

    Returns:
        (k, 2) coordinates, nearest first, the start itself included, duplicates removed.
    """
    interval, radius = params.interval_m, params.subgraph_radius_m
    found: dict[tuple[float, float], float] = {}
    near = np.minimum(node_dist[net.u_arr], node_dist[net.v_arr]) <= radius
    candidates = set(np.flatnonzero(near).tolist()) | ({start[0]} if start else set())
    for e in sorted(candidates):
        line = net.geoms[e]
        du, dv, ell = node_dist[net.u[e]], node_dist[net.v[e]], line.length
        if start is not None and start[0] == e:  # distances along the start's own edge
            ks = np.arange(0, int(radius // interval) + 1) * interval
            offs = np.concatenate([start[1] - ks, start[1] + ks[1:]])
            offs = offs[(offs >= 0) & (offs <= ell)]
            dists = np.abs(offs - start[1])
        elif not np.isfinite(du) or min(du, dv) > radius:
            continue
        else:
            offs = _edge_offsets(du, dv, ell, interval, radius)
            dists = np.minimum(du + offs, dv + ell - offs)
        for off, d in zip(offs, dists, strict=True):
            p = line.interpolate(float(off))
            found.setdefault((round(p.x, 6), round(p.y, 6)), float(d))
    if start is None:
        x, y = net.xy[int(np.argmin(node_dist))]
        found.setdefault((round(x, 6), round(y, 6)), 0.0)
    items = sorted(found.items(), key=lambda kv: kv[1])
    return np.array([k for k, _ in items], dtype=float).reshape(-1, 2)


def _match(holes: np.ndarray, marbles: np.ndarray, radius: float) -> int:
    """Marbles in order fill the nearest empty hole within ``radius``; the number filled."""
    if len(holes) == 0 or len(marbles) == 0:
        return 0
    tree = cKDTree(holes)
    filled = np.zeros(len(holes), dtype=bool)
    tp = 0
    for m in marbles:
        idx = tree.query_ball_point(m, r=radius)
        free = [i for i in idx if not filled[i]]
        if free:
            best = free[int(np.argmin(np.hypot(*(holes[free] - m).T)))]
            filled[best] = True
            tp += 1
    return tp


def _marbles(
    net_p: _Net,
    graph: csr_matrix,
    tree: shapely.STRtree,
    xy: tuple[float, float],
    params: TopoParams,
) -> np.ndarray:
    """Proposal points around the proposal location nearest ``xy``, nearest first (none
    when no proposal edge is within the hole radius)."""
    point = Point(*xy)
    hits = tree.query_nearest(point, max_distance=params.hole_radius_m, all_matches=True)
    if len(hits) == 0 or not net_p.geoms:
        return np.empty((0, 2))
    e = int(np.min(hits))
    line = net_p.geoms[e]
    s = float(line.project(point))
    d = dijkstra(graph, directed=False, indices=[net_p.u[e], net_p.v[e]])
    node_dist = np.minimum(d[0] + s, d[1] + line.length - s)
    return _points(net_p, node_dist, params, start=(e, s))


def topo(
    truth: nx.MultiGraph,
    proposal: nx.MultiGraph,
    params: TopoParams | None = None,
    seed: int = 0,
) -> TopoResult:
    """TOPO of ``proposal`` against ``truth`` (contract networks); see the module docstring.

    Args:
        truth: the reference network.
        proposal: the network to score.
        params: settings (default :class:`TopoParams`).
        seed: seeds the choice of start nodes.

    Returns:
        The :class:`TopoResult`.
    """
    params = params or TopoParams()
    n_t, n_p = truth.number_of_nodes(), proposal.number_of_nodes()
    if n_t == 0 or n_p == 0:
        score = 1.0 if n_t == n_p == 0 else 0.0
        return TopoResult(score, score, score)
    tr_t, tr_p = _metric_transformers(truth, proposal)
    net_t = _to_net(truth, tr_t, Weight.LENGTH, first=0)
    net_p = _to_net(proposal, tr_p, Weight.LENGTH, first=n_t)
    g_t, g_p = _csgraph(net_t), _csgraph(net_p)
    rng = np.random.default_rng(seed)
    k = min(params.n_start_nodes, n_t)
    starts = np.sort(rng.choice(n_t, size=k, replace=False))
    tree = shapely.STRtree(net_p.geoms)
    tp = fp = fn = 0
    for o in starts:
        node_dist = dijkstra(g_t, directed=False, indices=int(o))
        holes = _points(net_t, node_dist, params, start=None)
        start = (float(net_t.xy[o][0]), float(net_t.xy[o][1]))
        marbles = _marbles(net_p, g_p, tree, start, params)
        hit = _match(holes, marbles, params.hole_radius_m)
        tp, fp, fn = tp + hit, fp + len(marbles) - hit, fn + len(holes) - hit
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TopoResult(precision, recall, f1, tp, fp, fn, int(k))
