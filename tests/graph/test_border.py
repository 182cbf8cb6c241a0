"""Roads leaving the image: the extracted dead end lies where the centerline crosses the border."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import shapely
from rasterio.transform import from_origin
from test_extract import GSD, UTM, X0, Y0, mask_of, px, same_network

from basiss.graph import GraphOptions, network_from_array
from basiss.graph.borders import ray_exit

SIDE = 600  # pixels (180 m)
ROAD_M = 40.0  # each road's length inside the image


def crossings(angle_deg: float) -> tuple[list[shapely.LineString], dict[str, tuple]]:
    """One straight road per border, crossing it at its middle at ``angle_deg`` to it.

    Each starts 6 m outside the image and ends ``ROAD_M`` inside (a dead end there);
    the four never meet. Returns the lines and, per border, the crossing in UTM.
    """
    a = math.radians(angle_deg)
    c, s, m = math.cos(a), math.sin(a), SIDE / 2
    heads = {  # crossing (col, row) and the inward direction
        "top": ((m, 0.0), (c, s)),
        "right": ((SIDE, m), (-s, c)),
        "bottom": ((m, SIDE), (-c, -s)),
        "left": ((0.0, m), (s, -c)),
    }
    lines, where = [], {}
    for name, ((x, y), (dx, dy)) in heads.items():
        out, inner = 6.0 / GSD, ROAD_M / GSD
        start, stop = px(x - out * dx, y - out * dy), px(x + inner * dx, y + inner * dy)
        lines.append(shapely.LineString([start, stop]))
        where[name] = px(x, y)
    return lines, where


def nearest_node(g: nx.MultiGraph, xy: tuple[float, float]) -> tuple[int, float]:
    """The node of ``g`` nearest to ``xy`` and its distance (metres, UTM)."""
    return min(
        ((n, math.hypot(d["x"] - xy[0], d["y"] - xy[1])) for n, d in g.nodes(data=True)),
        key=lambda t: t[1],
    )


@pytest.mark.parametrize("angle", [15, 30, 45, 60, 90])
def test_end_lies_where_the_road_crosses_each_border(angle: float) -> None:
    lines, where = crossings(angle)
    transform = from_origin(X0, Y0, GSD, GSD)
    mask = mask_of(lines, UTM, transform, SIDE, SIDE)
    g = network_from_array(mask, transform, UTM)
    assert g.number_of_edges() == 4 and g.number_of_nodes() == 8
    for border, xy in where.items():
        n, off = nearest_node(g, xy)
        assert g.degree(n) == 1, border
        assert off < 1.0, (border, angle, off)
    same_network(g, network_from_array(mask, transform, UTM, band_rows=37))


@pytest.mark.parametrize("angle", [15, 30])
def test_with_the_edge_pad_the_end_is_moved_onto_the_crossing_too(angle: float) -> None:
    lines, where = crossings(angle)
    transform = from_origin(X0, Y0, GSD, GSD)
    mask = mask_of(lines, UTM, transform, SIDE, SIDE)
    options = GraphOptions(border_pad_m=6.0)
    g = network_from_array(mask, transform, UTM, options)
    for border, xy in where.items():
        _, off = nearest_node(g, xy)
        assert off < 1.0, (border, angle, off)
    same_network(g, network_from_array(mask, transform, UTM, options, band_rows=41))


def test_a_road_along_the_border_stays_in_the_network() -> None:
    # a road whose centerline runs 0.6 m inside the left border (its mask cut lengthwise)
    # turns into the image; edge replication would push its skeleton out of the picture
    h, w = 400, 400
    lines = [shapely.LineString([px(2.0, -10.0), px(2.0, 300.0), px(390.0, 300.0)])]
    transform = from_origin(X0, Y0, GSD, GSD)
    mask = mask_of(lines, UTM, transform, h, w)
    truth = lines[0].intersection(shapely.box(X0, Y0 - h * GSD, X0 + w * GSD, Y0))
    got = {}
    for pad in (0.0, 6.0):
        g = network_from_array(mask, transform, UTM, GraphOptions(border_pad_m=pad))
        got[pad] = shapely.union_all([d["geometry"] for *_, d in g.edges(data=True)])
    assert got[0.0].length == pytest.approx(truth.length, rel=0.03)
    assert shapely.hausdorff_distance(got[0.0], truth) < 1.5
    assert got[6.0].length < 0.9 * truth.length  # why the pad is off by default


def test_a_crossing_next_to_the_border_keeps_both_dead_ends() -> None:
    # two roads crossing 4 m inside the left border, 45 degrees apart: their buffers
    # overlap all the way to the border, where the truth has two ends 3.7 m apart
    h, w = 400, 400
    meet = (4.0 / GSD, 200.0)
    lines, ends = [], []
    for a in (math.radians(22.0), math.radians(-23.0)):
        d = (math.cos(a), -math.sin(a))
        far = (meet[0] + 300 * d[0], meet[1] + 300 * d[1])
        t = meet[0] / d[0]  # back along the road to the border x = 0
        ends.append(px(0.0, meet[1] - t * d[1]))
        lines.append(
            shapely.LineString([px(meet[0] - 1.2 * t * d[0], meet[1] - 1.2 * t * d[1]), px(*far)])
        )
    transform = from_origin(X0, Y0, GSD, GSD)
    mask = mask_of(lines, UTM, transform, h, w)
    g = network_from_array(mask, transform, UTM)
    found = [nearest_node(g, xy) for xy in ends]
    assert found[0][0] != found[1][0]
    for n, off in found:
        assert g.degree(n) == 1 and off < 1.0
    same_network(g, network_from_array(mask, transform, UTM, band_rows=50))


def test_a_fork_next_to_the_border_keeps_one_dead_end() -> None:
    # one road enters through the left border and forks 4 m inside at a narrow angle: one
    # road at the border, so one dead end there
    h, w = 400, 400
    fork = px(4.0 / GSD, 200.0)
    lines = [shapely.LineString([px(-20.0, 200.0), fork])]
    for a in (math.radians(12.0), math.radians(-12.0)):
        lines.append(
            shapely.LineString([fork, px(4.0 / GSD + 300 * math.cos(a), 200 - 300 * math.sin(a))])
        )
    transform = from_origin(X0, Y0, GSD, GSD)
    mask = mask_of(lines, UTM, transform, h, w)
    g = network_from_array(mask, transform, UTM)
    left = [n for n, d in g.nodes(data=True) if g.degree(n) == 1 and d["x"] < X0 + 1.0]
    assert len(left) == 1
    assert nearest_node(g, px(0.0, 200.0))[1] < 1.0


def test_ray_exit_meets_the_box_edge() -> None:
    size = np.array([10.0, 5.0])
    assert ray_exit(np.array([2.0, 1.0]), np.array([-1.0, 0.0]), size) == pytest.approx([0, 1])
    assert ray_exit(np.array([2.0, 1.0]), np.array([1.0, 1.0]), size) == pytest.approx([6, 5])
    assert ray_exit(np.array([9.0, 4.0]), np.array([3.0, 0.1]), size) == pytest.approx(
        [10, 4 + 0.1 / 3]
    )
    assert ray_exit(np.array([-1.0, 1.0]), np.array([1.0, 0.0]), size) is None
