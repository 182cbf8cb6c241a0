"""APLS, the Average Path Length Similarity of SpaceNet 3, between two road networks.

The definition follows CosmiQ Works' ``apls`` package (the SpaceNet 3 metric), written
anew here. For a truth network G and a proposal G':

1. Both are projected to the local UTM zone when their CRS is geographic (one zone,
   from the truth's mean longitude), so snapping distances are metres.
2. **Control points.** Every node is a control point; in addition points are inserted
   along an edge every ``linestring_delta_m`` (evenly: ``ceil(L / delta) - 1`` points, or
   one midpoint when ``0.75 delta <= L <= delta``; none on edges shorter than
   ``0.75 delta``), only on edges the reference calls curved: ``|D - L| / L >=
   is_curved_eps`` where L is the edge length and D the diagonal of its bounding box (the
   end-to-end distance for a straight edge); ``-1`` inserts on every edge.
3. **Snapping.** The control points of G are inserted, one by one in node order, into
   G' *without* its own inserted points: each goes onto the nearest edge of G' if it is
   within ``max_snap_dist_m``, splitting that edge (lengths shared in proportion). When
   the nearest location is an existing node (an edge end, or an earlier inserted point),
   that node is *renamed* to the new control point, as the reference does: so when two
   truth points snap onto one proposal node, the first loses its place, and all its routes
   count as missing. Points farther than the snap distance are not inserted.
4. **Paths.** For each ordered pair (a, b) of control points of G joined by a path of
   length L >= ``min_path_length_m`` in G (with its inserted points), the cost is
   ``min(1, |L - L'| / L)`` with L' the shortest path between a and b in G' with the
   snapped points; 1 when a or b found no place in G' or no path joins them (for a
   start point without a place every reachable b counts, whatever L). The score is
   ``1 - mean(cost)`` (0 when there are no pairs): ``gt_onto_prop``. The same with the
   roles swapped gives ``prop_onto_gt``; APLS is their harmonic mean (0 if either is 0).
5. **Weight.** Path lengths are ``length_m`` (true metres), or travel time (edge
   ``travel_time_s``, else ``length_m / speed_mps``) with ``Weight.TRAVEL_TIME``.
6. **Large graphs.** When the truth has ``large_graph_nodes`` nodes or more (the
   reference: 500), no points are inserted along edges, and the control points of each
   graph are a random sample of ``max_nodes`` of its nodes (all when fewer), drawn with
   ``numpy.random.default_rng(seed)`` (truth first, then proposal, each sorted): the
   score is then a seeded estimate.

Edge cases: an empty proposal scores 0; an empty truth with an empty proposal scores 1
(nothing to find and nothing invented); an empty truth with a non-empty proposal 0.
Identical networks score 1. Node ids of the two graphs never collide here (the
reference, reading GeoJSON, numbers truth points from 1 and proposal points from 501:
a truth control point whose id names a proposal node is not snapped, and takes that
node's routes; none of the seven reference pairs has such a collision).

Lengths: every edge weighs its ``length_m`` (true metres), split in proportion when a
point is inserted. The reference weighs an unsplit edge by its great-circle length and
each piece of a split edge by its planar UTM length; on the reference pairs that moves
scores by at most 3e-4 (1e-5 when mimicked).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point

from basiss.errors import BasissError

_TINY = 1e-12  # stands in for a zero edge weight (sparse graphs drop zeros)


class Weight(enum.StrEnum):
    """What a path's length is measured in."""

    LENGTH = "length"
    TRAVEL_TIME = "travel_time"


@dataclass(frozen=True)
class AplsParams:
    """APLS settings (metres). See the module docstring for what each does.

    Attributes:
        linestring_delta_m: spacing of control points inserted along edges.
        is_curved_eps: insert only on edges with ``|D - L| / L >= eps``; -1: every edge.
        max_nodes: control points per graph sampled on large graphs.
        max_snap_dist_m: farthest a control point may be snapped onto the other graph.
        min_path_length_m: shorter truth paths are not scored.
        large_graph_nodes: truth node count from which the large-graph sample is used.
        weight: path length in metres or travel time.
    """

    linestring_delta_m: float = 50.0
    is_curved_eps: float = -1.0
    max_nodes: int = 1000
    max_snap_dist_m: float = 4.0
    min_path_length_m: float = 0.001
    large_graph_nodes: int = 500
    weight: Weight = Weight.LENGTH

    @classmethod
    def preset(cls, name: str) -> AplsParams:
        """A named parameter set: ``"spacenet3"`` or ``"apls_head"`` (see :data:`PRESETS`)."""
        try:
            return PRESETS[name]
        except KeyError:
            raise BasissError(
                f"unknown APLS preset {name!r}; choose one of {', '.join(PRESETS)}"
            ) from None


#: The two parameter sets of ``../shared/data/apls/reference_scores.csv``: SpaceNet 3's
#: (200 m, curved edges only, 500 nodes) and the reference package's current defaults.
PRESETS: dict[str, AplsParams] = {
    "spacenet3": AplsParams(linestring_delta_m=200.0, is_curved_eps=0.12, max_nodes=500),
    "apls_head": AplsParams(linestring_delta_m=50.0, is_curved_eps=-1.0, max_nodes=1000),
}


@dataclass(frozen=True)
class AplsResult:
    """APLS of a proposal against a truth, with the counts behind it.

    Attributes:
        apls: harmonic mean of the two directions.
        gt_onto_prop: truth control points snapped onto the proposal.
        prop_onto_gt: proposal control points snapped onto the truth.
        n_truth_control / n_proposal_control: control points of each graph.
        n_truth_snapped / n_proposal_snapped: of those, how many kept a node on the other.
        n_pairs_gt_onto_prop / n_pairs_prop_onto_gt: paths scored in each direction.
        sampled: the large-graph sample was used (the score depends on ``seed``).
        weight: ``"length"`` or ``"travel_time"``.
    """

    apls: float
    gt_onto_prop: float
    prop_onto_gt: float
    n_truth_control: int = 0
    n_proposal_control: int = 0
    n_truth_snapped: int = 0
    n_proposal_snapped: int = 0
    n_pairs_gt_onto_prop: int = 0
    n_pairs_prop_onto_gt: int = 0
    sampled: bool = False
    weight: str = Weight.LENGTH.value

    def to_dict(self) -> dict[str, float | int | bool | str]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)


@dataclass
class _Net:
    """A network in metric coordinates as arrays: node positions and edges u -> v."""

    xy: np.ndarray  # (n, 2)
    labels: list[int]  # node label per index
    u: list[int] = field(default_factory=list)
    v: list[int] = field(default_factory=list)
    geoms: list[LineString] = field(default_factory=list)
    length_m: list[float] = field(default_factory=list)
    place_m: list[float] = field(default_factory=list)  # length deciding where points go
    weight: list[float] = field(default_factory=list)

    @property
    def u_arr(self) -> np.ndarray:
        """First node of each edge, as an array."""
        return np.asarray(self.u, dtype=np.int64)

    @property
    def v_arr(self) -> np.ndarray:
        """Second node of each edge, as an array."""
        return np.asarray(self.v, dtype=np.int64)


class _Cut:
    """A :class:`_Net` with points inserted on its edges and nodes renamed.

    Internal node indices never change; labels move (a renamed node drops its old label).
    """

    def __init__(self, net: _Net) -> None:
        self.net = net
        self.n_nodes = len(net.labels)
        self.label_of: dict[int, int] = dict(enumerate(net.labels))
        self.node_of: dict[int, int] = {lab: i for i, lab in enumerate(net.labels)}
        self.cuts: list[dict[float, int]] = [{} for _ in net.u]
        self.inserted_xy: dict[int, tuple[float, float]] = {}
        self._tree: shapely.STRtree | None = None

    def insert(self, edge: int, t: float, label: int) -> None:
        """Put a node labelled ``label`` at ``t`` along ``edge``; rename the node already there."""
        ell = self.net.geoms[edge].length
        if t <= 0.0:
            node = self.net.u[edge]
        elif t >= ell:
            node = self.net.v[edge]
        else:
            node = self.cuts[edge].get(t, -1)
            if node < 0:
                node = self.n_nodes
                self.n_nodes += 1
                self.cuts[edge][t] = node
                p = self.net.geoms[edge].interpolate(t)
                self.inserted_xy[node] = (p.x, p.y)
        old = self.label_of.get(node)
        if old is not None:
            del self.node_of[old]
        self.label_of[node] = label
        self.node_of[label] = node

    def snap(self, label: int, x: float, y: float, max_dist: float) -> None:
        """Insert a control point on the nearest edge within ``max_dist`` (else nothing)."""
        if not self.net.geoms:
            return
        if self._tree is None:
            self._tree = shapely.STRtree(self.net.geoms)
        point = Point(x, y)
        hits = self._tree.query_nearest(point, max_distance=max_dist, all_matches=True)
        if len(hits) == 0:
            return
        edge = int(np.min(hits))
        line = self.net.geoms[edge]
        if line.distance(point) > max_dist:
            return
        self.insert(edge, float(line.project(point)), label)

    def csgraph(self) -> csr_matrix:
        """The pieces as a symmetric sparse matrix of weights (shortest parallel piece)."""
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for e, (u, v) in enumerate(zip(self.net.u, self.net.v, strict=True)):
            ell = self.net.geoms[e].length
            ts = sorted(self.cuts[e])
            bounds = [0.0, *ts, ell]
            nodes = [u, *(self.cuts[e][t] for t in ts), v]
            for k in range(len(nodes) - 1):
                frac = (bounds[k + 1] - bounds[k]) / ell if ell > 0 else 1.0
                if nodes[k] != nodes[k + 1]:
                    rows.append(nodes[k])
                    cols.append(nodes[k + 1])
                    vals.append(max(self.net.weight[e] * frac, _TINY))
        return _symmetric_min(rows, cols, vals, self.n_nodes)


def _symmetric_min(rows: list[int], cols: list[int], vals: list[float], n: int) -> csr_matrix:
    """A symmetric CSR matrix keeping the smallest value of repeated (i, j) entries."""
    r = np.array(rows + cols, dtype=np.int64)
    c = np.array(cols + rows, dtype=np.int64)
    w = np.array(vals + vals, dtype=float)
    order = np.lexsort((w, c, r))
    r, c, w = r[order], c[order], w[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return csr_matrix((w[first], (r[first], c[first])), shape=(n, n))


def _metric_transformers(
    truth: nx.MultiGraph, proposal: nx.MultiGraph
) -> tuple[Transformer | None, Transformer | None]:
    """Transformers from each graph's CRS to one metric CRS (None: keep coordinates)."""
    crs_t, crs_p = truth.graph.get("crs"), proposal.graph.get("crs")
    if (crs_t is None) != (crs_p is None):
        raise BasissError("APLS: one network has a CRS and the other has none")
    if crs_t is None:
        return None, None
    src_t, src_p = CRS.from_user_input(crs_t), CRS.from_user_input(crs_p)
    ref = truth if truth.number_of_nodes() else proposal
    ref_crs = src_t if truth.number_of_nodes() else src_p
    if ref_crs.is_geographic:
        lon = float(np.mean([d["x"] for _, d in ref.nodes(data=True)]))
        lat = float(np.mean([d["y"] for _, d in ref.nodes(data=True)]))
        zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
        dst = CRS.from_epsg((32700 if lat < 0 else 32600) + zone)
    else:
        dst = ref_crs

    def make(src: CRS) -> Transformer | None:
        return None if src == dst else Transformer.from_crs(src, dst, always_xy=True)

    return make(src_t), make(src_p)


def _edge_weight(data: dict, length: float, weight: Weight) -> float:
    """An edge's weight: its length in metres, or its travel time in seconds."""
    if weight is Weight.LENGTH:
        return length
    if "travel_time_s" in data:
        return float(data["travel_time_s"])
    if "speed_mps" in data and float(data["speed_mps"]) > 0:
        return length / float(data["speed_mps"])
    raise BasissError("APLS by travel time: an edge has neither travel_time_s nor speed_mps")


def _to_net(graph: nx.MultiGraph, tr: Transformer | None, weight: Weight, first: int) -> _Net:
    """Project ``graph`` and lay it out as a :class:`_Net`, labels ``first, first + 1, ...``."""
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in nodes], dtype=float)
    xy = xy.reshape(-1, 2)
    if tr is not None and len(xy):
        xy = np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
    net = _Net(xy=xy, labels=list(range(first, first + len(nodes))))
    geographic = tr is not None and tr.source_crs is not None and tr.source_crs.is_geographic
    for a, b, data in graph.edges(data=True):
        geom = data.get("geometry")
        place = _great_circle_m(geom) if geographic and geom is not None else None
        if geom is None:
            geom = LineString([xy[index[a]], xy[index[b]]])
        elif tr is not None:
            geom = shapely.transform(
                geom, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1]))
            )
        coords = np.asarray(geom.coords)
        u, v = index[a], index[b]
        if np.hypot(*(coords[0] - xy[u])) > np.hypot(*(coords[0] - xy[v])):
            geom = LineString(coords[::-1])  # make the geometry run u -> v
        length = float(data.get("length_m", geom.length))
        net.u.append(u)
        net.v.append(v)
        net.geoms.append(geom)
        net.length_m.append(length)
        net.place_m.append(length if place is None else place)
        net.weight.append(_edge_weight(data, length, weight))
    return net


def _great_circle_m(line: LineString) -> float:
    """Length of a lon/lat line on the sphere of radius 6371009 m, each segment rounded to 1 mm.

    The reference decides where control points go with this length (osmnx's
    ``great_circle_vec``); using it here puts them exactly where it does.
    """
    c = np.radians(np.asarray(line.coords)[:, :2])
    lon1, lat1, lon2, lat2 = c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1]
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return float(np.round(2 * 6371009.0 * np.arcsin(np.minimum(1.0, np.sqrt(h))), 3).sum())


def _insert_distances(line: LineString, length: float, params: AplsParams) -> np.ndarray:
    """Distances (metres of ``length``) along an edge where control points go."""
    delta = params.linestring_delta_m
    if length <= 0:
        return np.empty(0)
    minx, miny, maxx, maxy = line.bounds
    diagonal = math.hypot(maxx - minx, maxy - miny)
    if abs(diagonal - length) / length < params.is_curved_eps or length < 0.75 * delta:
        return np.empty(0)
    if length <= delta:
        return np.array([0.5 * length])
    n_points = len(np.arange(0.0, length, delta)) + 1
    return np.linspace(0.0, length, n_points)[1:-1]


def _midpoints(cut: _Cut, params: AplsParams, labels: Iterator[int]) -> None:
    """Insert the control points along the edges of ``cut`` (labels drawn from ``labels``)."""
    net = cut.net
    for e, line in enumerate(net.geoms):
        length = net.place_m[e]
        for d in _insert_distances(line, length, params):
            cut.insert(e, float(d / length * line.length), next(labels))


def _control_points(cut: _Cut) -> list[tuple[int, float, float]]:
    """(label, x, y) of every labelled node of ``cut``: original nodes, then inserted ones."""
    out = []
    for node in sorted(cut.label_of):
        if node < len(cut.net.labels):
            x, y = cut.net.xy[node]
        else:
            x, y = cut.inserted_xy[node]
        out.append((cut.label_of[node], float(x), float(y)))
    return out


def _distances(cut: _Cut, labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Shortest-path matrix between ``labels`` in ``cut`` (inf: no path or label absent).

    Returns:
        ``(dist, present)``: a (k, k) array and which labels have a node in ``cut``.
    """
    k = len(labels)
    present = np.array([lab in cut.node_of for lab in labels], dtype=bool)
    dist = np.full((k, k), np.inf)
    if not present.any():
        return dist, present
    nodes = np.array([cut.node_of[lab] for lab, ok in zip(labels, present, strict=True) if ok])
    rows = dijkstra(cut.csgraph(), directed=False, indices=nodes)
    where = np.flatnonzero(present)
    dist[np.ix_(where, where)] = rows[:, nodes]
    return dist, present


def _score(native: np.ndarray, prime: np.ndarray, present: np.ndarray, min_len: float):
    """One direction of APLS: ``(1 - mean cost, number of paths)``; ``(0, 0)`` without paths."""
    reach = np.isfinite(native)
    np.fill_diagonal(reach, False)
    n_lost = int(reach[~present].sum())  # routes from points that found no place
    scored = np.isfinite(native) & (native >= min_len) & present[:, None]
    length, other = native[scored], prime[scored]
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = np.where(np.isfinite(other), np.minimum(1.0, np.abs(length - other) / length), 1.0)
    n_paths = n_lost + int(scored.sum())
    if n_paths == 0:
        return 0.0, 0
    return 1.0 - (n_lost + float(cost.sum())) / n_paths, n_paths


def _hmean(a: float, b: float) -> float:
    """Harmonic mean, 0 when either is not positive."""
    return 0.0 if a <= 0 or b <= 0 else 2.0 * a * b / (a + b)


def _sample(cut: _Cut, k: int, rng: np.random.Generator) -> list[tuple[int, float, float]]:
    """``k`` nodes of ``cut`` drawn without replacement (all when fewer), as control points."""
    points = _control_points(cut)
    if len(points) <= k:
        return points
    pick = np.sort(rng.choice(len(points), size=k, replace=False))
    return [points[i] for i in pick]


def _one_way(
    native: _Cut, ctrl: list[tuple[int, float, float]], other: _Net, params: AplsParams
) -> tuple[float, int, int]:
    """Score ``ctrl`` (control points of ``native``) snapped onto ``other``.

    Returns:
        ``(score, n_paths, n_snapped)``.
    """
    labels = [lab for lab, _, _ in ctrl]
    dist_native, _ = _distances(native, labels)
    prime = _Cut(other)
    for lab, x, y in ctrl:
        prime.snap(lab, x, y, params.max_snap_dist_m)
    dist_prime, present = _distances(prime, labels)
    score, n_paths = _score(dist_native, dist_prime, present, params.min_path_length_m)
    return score, n_paths, int(present.sum())


def apls(
    truth: nx.MultiGraph, proposal: nx.MultiGraph, params: AplsParams, seed: int = 0
) -> AplsResult:
    """APLS of ``proposal`` against ``truth`` (contract networks, see :mod:`basiss.graph`).

    Args:
        truth: the reference network.
        proposal: the network to score.
        params: settings, e.g. ``AplsParams.preset("spacenet3")``.
        seed: seeds the node sample on large graphs (unused otherwise).

    Returns:
        The :class:`AplsResult`; see the module docstring for the definition.

    Raises:
        BasissError: only one graph has a CRS, or travel time is asked without speeds.
    """
    weight = Weight(params.weight)
    if truth.number_of_nodes() == 0 or proposal.number_of_nodes() == 0:
        both_empty = truth.number_of_nodes() == 0 and proposal.number_of_nodes() == 0
        score = 1.0 if both_empty else 0.0
        return AplsResult(score, score, score, weight=weight.value)
    tr_t, tr_p = _metric_transformers(truth, proposal)
    net_t = _to_net(truth, tr_t, weight, first=0)
    labels = itertools.count(len(net_t.labels))
    cut_t = _Cut(net_t)
    sampled = len(net_t.labels) >= params.large_graph_nodes
    rng = np.random.default_rng(seed)
    if not sampled:
        _midpoints(cut_t, params, labels)
    net_p = _to_net(proposal, tr_p, weight, first=next(labels))
    labels = itertools.count(net_p.labels[-1] + 1 if net_p.labels else 0)
    cut_p = _Cut(net_p)
    if sampled:
        ctrl_t = _sample(cut_t, params.max_nodes, rng)
        ctrl_p = _sample(cut_p, params.max_nodes, rng)
    else:
        _midpoints(cut_p, params, labels)
        ctrl_t, ctrl_p = _control_points(cut_t), _control_points(cut_p)
    gt_on, pairs_gt, snapped_t = _one_way(cut_t, ctrl_t, net_p, params)
    pr_on, pairs_pr, snapped_p = _one_way(cut_p, ctrl_p, net_t, params)
    return AplsResult(
        apls=_hmean(gt_on, pr_on),
        gt_onto_prop=gt_on,
        prop_onto_gt=pr_on,
        n_truth_control=len(ctrl_t),
        n_proposal_control=len(ctrl_p),
        n_truth_snapped=snapped_t,
        n_proposal_snapped=snapped_p,
        n_pairs_gt_onto_prop=pairs_gt,
        n_pairs_prop_onto_gt=pairs_pr,
        sampled=sampled,
        weight=weight.value,
    )
