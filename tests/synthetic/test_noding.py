"""The sample's labels are noded as SpaceNet's: roads cut where they meet, sharing that point."""

from __future__ import annotations

import numpy as np
from shapely.geometry import LineString

from basiss.synthetic.labels import junction_points, noded_lines


def _pieces(lines, tol=0.5):
    return [p for _, p in noded_lines(np.array(lines, dtype=object), tol)]


def test_a_crossing_cuts_both_roads_at_one_shared_point():
    pieces = _pieces([LineString([(0, 0), (10, 0)]), LineString([(5, -5), (5, 5)])])
    assert len(pieces) == 4
    ends = [p.coords[0] for p in pieces] + [p.coords[-1] for p in pieces]
    assert ends.count((5.0, 0.0)) == 4
    assert sum(p.length for p in pieces) == 20.0


def test_a_side_street_stopping_short_is_joined_to_the_main_street():
    main = LineString([(0, 0), (4, 0.01), (10, 0)])  # a polyline of a gentle curve
    side = LineString([(6, 5), (6, 0.2)])  # stops 0.2 short of the centerline
    pieces = _pieces([main, side])
    assert len(pieces) == 3
    (joint,) = junction_points(np.array([main, side], dtype=object), 0.5)
    ends = [p.coords[0] for p in pieces] + [p.coords[-1] for p in pieces]
    assert ends.count(joint) == 3  # two main pieces and the side street share it exactly
    assert main.distance(LineString([joint, joint]).centroid) < 1e-9


def test_roads_far_apart_are_left_whole_and_shared_ends_stay():
    a, b = LineString([(0, 0), (10, 0)]), LineString([(0, 3), (10, 3)])
    assert [p.coords[:] for p in _pieces([a, b])] == [a.coords[:], b.coords[:]]
    c, d = LineString([(0, 0), (5, 0)]), LineString([(5, 0), (5, 5)])  # already noded
    assert [p.coords[:] for p in _pieces([c, d])] == [c.coords[:], d.coords[:]]
