"""TOPO: identity, a proposal missing half the roads, a shifted proposal, edge cases."""

from __future__ import annotations

import networkx as nx
import pytest
from shapely import affinity
from shapely.geometry import LineString

from basiss.evaluation.topo import TopoParams, topo
from basiss.graph.from_lines import network_from_lines

UTM = "EPSG:32611"


def _segments(n: int = 4, step: float = 100.0, keep_vertical: bool = True) -> list[LineString]:
    """A street grid cut at its crossings (so it connects), optionally without N-S roads."""
    segs = []
    for i in range(n):
        for j in range(n - 1):
            segs.append(LineString([(j * step, i * step), ((j + 1) * step, i * step)]))
            if keep_vertical:
                segs.append(LineString([(i * step, j * step), (i * step, (j + 1) * step)]))
    return segs


def test_identical_networks_score_one() -> None:
    g = network_from_lines(_segments(), UTM)
    res = topo(g, g, TopoParams(), seed=0)
    assert res.precision == res.recall == res.f1 == 1.0
    assert res.tp > 0 and res.fp == res.fn == 0 and res.n_starts == g.number_of_nodes()


def test_half_the_roads_lowers_recall_not_precision() -> None:
    truth = network_from_lines(_segments(), UTM)
    half = network_from_lines(_segments(keep_vertical=False), UTM)
    res = topo(truth, half, TopoParams(), seed=0)
    assert res.precision == pytest.approx(1.0)
    assert res.recall < 0.75


def test_shift_beyond_the_hole_radius_misses() -> None:
    truth = network_from_lines(_segments(), UTM)
    near = network_from_lines([affinity.translate(s, 1.0, 1.0) for s in _segments()], UTM)
    far = network_from_lines([affinity.translate(s, 9.0, 9.0) for s in _segments()], UTM)
    assert topo(truth, near).f1 > 0.9
    assert topo(truth, far).f1 == 0.0


def test_empty_and_seeded() -> None:
    g = network_from_lines(_segments(), UTM)
    empty = nx.MultiGraph(crs=g.graph["crs"])
    assert topo(empty, empty).f1 == 1.0
    assert topo(g, empty).f1 == 0.0
    few = TopoParams(n_start_nodes=3)
    half = network_from_lines(_segments(keep_vertical=False), UTM)
    assert topo(g, half, few, seed=4) == topo(g, half, few, seed=4)
    assert topo(g, half, few, seed=4).n_starts == 3
