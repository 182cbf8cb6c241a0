"""The pieces of the sample generator: network, houses, trees, render, each on its own."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, box

from basiss.synthetic.houses import Houses, place_houses
from basiss.synthetic.network import Plan, Road, road_network, road_width_m
from basiss.synthetic.render import _blur, _sensor
from basiss.synthetic.trees import _clear_of

BOUNDS = (0.0, 0.0, 900.0, 700.0)


@pytest.fixture(scope="module")
def plan():
    return road_network(np.random.default_rng(5), BOUNDS)


def test_network_is_clipped_and_typed(plan):
    area = box(*BOUNDS).buffer(1e-6)
    assert len(plan.roads) > 10
    assert all(area.contains(r.line) and r.line.length >= 5.0 for r in plan.roads)
    kinds = {r.kind for r in plan.roads}
    assert "arterial" in kinds and kinds <= {
        "arterial", "local", "collector", "stub", "loop", "diagonal", "track"
    }  # fmt: skip
    for r in plan.roads:
        assert r.lanes in (2, 3, 4)
        assert r.half_width == pytest.approx(road_width_m(r.lanes) / 2)
        assert r.bulb == 0.0 or r.kind == "stub"


def test_network_is_deterministic(plan):
    again = road_network(np.random.default_rng(5), BOUNDS)
    assert [r.line.wkb for r in again.roads] == [r.line.wkb for r in plan.roads]


def test_houses_keep_off_roads_and_each_other(plan):
    roads = plan.roads
    polys = np.array([r.line.buffer(r.half_width) for r in roads], dtype=object)
    clear = shapely.STRtree(shapely.buffer(polys, 3.0))
    houses = place_houses(np.random.default_rng(2), roads, clear, plan)
    assert len(houses) > 20
    assert not shapely.intersects(houses.body[:, None], shapely.buffer(polys, 3.0)[None]).any()
    overlap = shapely.intersects(houses.body[:, None], houses.body[None])
    assert not (overlap & ~np.eye(len(houses), dtype=bool)).any()
    assert len(houses.lit) == len(houses.dim) == len(houses.parts) == len(houses.part_owner)
    assert houses.part_owner.max() < len(houses)


def test_no_houses_when_no_streets():
    arterial = Road(LineString([(0, 0), (500, 0)]), 4, True, "3", "arterial", houses=False)
    houses = place_houses(np.random.default_rng(0), [arterial], None, Plan())
    assert len(houses) == 0
    empty = Houses.empty()
    assert len(empty) == 0 and empty.part_owner.dtype.kind == "i"


def test_trees_keep_trunks_off_roads_and_crowns_off_centres():
    road = Road(LineString([(0, 0), (100, 0)]), 2, True, "5", "local")  # half width 3.3 m
    blockers = [road.line.buffer(road.half_width)]
    x = np.array([50.0, 50.0, 50.0, 50.0])
    y = np.array([0.0, 5.0, 5.0, 40.0])  # on the road, beside it, beside it, far away
    r = np.array([2.0, 2.0, 4.0, 9.0])  # the big crown beside the road would reach its centre
    keep = _clear_of(x, y, r, blockers, [road])
    assert keep.tolist() == [False, True, False, True]


def test_blur_keeps_flat_fields_and_drops_the_halo():
    flat = np.full((2, 6, 7), 3.0, dtype=np.float32)
    out = _blur(flat)
    assert out.shape == (2, 4, 5) and np.allclose(out, 3.0)
    spike = np.zeros((1, 3, 3), dtype=np.float32)
    spike[0, 1, 1] = 16.0
    assert _blur(spike)[0, 0, 0] == pytest.approx(4.0)  # the binomial kernel's centre, 4/16


def test_sensor_noise_follows_its_seed():
    radiance = np.full((3, 20, 20), 800.0, dtype=np.float32)
    a = _sensor(radiance.copy(), (4, 2, 1), (0, 3, 1))
    b = _sensor(radiance.copy(), (4, 2, 1), (0, 3, 1))
    c = _sensor(radiance.copy(), (4, 2, 1), (0, 3, 2))
    assert a.dtype == np.uint16 and np.array_equal(a, b) and not np.array_equal(a, c)
    # haze of the red band (62 DN) added, noise ~ sqrt(9 + 0.12 * 862) ~ 10.6 DN
    assert abs(a[0].mean() - 862.5) < 3 and 8 < a[0].std() < 13
