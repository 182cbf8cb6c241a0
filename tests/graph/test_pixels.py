"""The pieces of extraction: mask cleaning, corners, band pieces, stitching, loops, scales."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from rasterio.transform import from_origin
from scipy import ndimage as ndi

from basiss.graph import GraphOptions, network_from_array
from basiss.graph.bands import band_ranges, pixel_graph
from basiss.graph.extract import value_scale
from basiss.graph.options import resolve
from basiss.graph.pixels import band_pieces
from basiss.graph.raster import clean_mask, drop_corners, skeleton
from basiss.graph.stitch import assemble, junction_groups

POPT = resolve(GraphOptions(), 0.3, 0.3)


def test_resolve_converts_metres_to_pixels() -> None:
    popt = resolve(GraphOptions(fill_holes_m2=0.9, min_blob_m2=9.0, halo_m=30.0), 0.3, 0.3)
    assert (popt.hole_px, popt.blob_px, popt.halo) == (10, 100, 100)
    assert resolve(GraphOptions(halo_px=3), 0.3, 0.3).halo == 8  # never below the reach


def test_clean_mask_fills_holes_drops_blobs_but_not_at_cuts() -> None:
    road = np.zeros((60, 60), bool)
    road[10:30, 10:30] = True
    road[18:20, 18:20] = False  # 4 px hole
    road[50:52, 50:52] = True  # 4 px blob
    road[0:2, 40:42] = True  # 4 px blob touching the first row
    popt = resolve(GraphOptions(fill_holes_m2=0.5, min_blob_m2=0.5), 0.3, 0.3)  # 6 px
    out = clean_mask(road, popt)
    assert out[18:20, 18:20].all() and not out[50:52, 50:52].any() and not out[0:2, 40:42].any()
    cut = clean_mask(road, popt, cut_top=True)
    assert cut[0:2, 40:42].all()  # it may go on above the window: judged large


def test_drop_corners_removes_staircase_corners_and_keeps_connectivity() -> None:
    skel = np.zeros((7, 7), bool)
    for r, c in [(1, 1), (2, 2), (2, 3), (3, 3), (4, 4), (5, 5)]:  # (2, 3) is a corner
        skel[r, c] = True
    out = drop_corners(skel)
    assert not out[2, 3] and out.sum() == 5
    assert ndi.label(out, np.ones((3, 3)))[1] == 1


def test_skeleton_runs_to_the_image_border() -> None:
    road = np.zeros((40, 80), bool)
    road[14:27, :] = True  # a 13 px road leaving at both sides
    skel = skeleton(road, pad=20, top_border=True, bottom_border=True)
    cols = np.nonzero(skel.any(axis=0))[0]
    assert cols.min() == 0 and cols.max() == 79
    assert set(np.nonzero(skel.any(axis=1))[0]) == {20}


def plus_skeleton() -> np.ndarray:
    skel = np.zeros((21, 21), bool)
    skel[10, 2:19] = True
    skel[2:19, 10] = True
    return skel


def test_band_pieces_of_a_plus_sign() -> None:
    skel = plus_skeleton()
    ctx = np.pad(skel, ((2, 2), (0, 0)))
    band = band_pieces(ctx, 0, np.ones(skel.shape, np.float32), np.ones(skel.shape, np.float32))
    # the centre and its four 4-neighbours all have 3+ neighbours: one junction of 5 pixels
    assert sorted(band.junctions.tolist()) == [[9, 10], [10, 9], [10, 10], [10, 11], [11, 10]]
    assert sorted(band.ends.tolist()) == [[2, 10], [10, 2], [10, 18], [18, 10]]
    assert len(band.pieces) == 4 and all(p.start[0] == "n" for p in band.pieces)


def test_pieces_cut_by_a_band_edge_join_exactly() -> None:
    skel = plus_skeleton()
    padded = np.pad(skel, ((2, 2), (0, 0)))
    ones = np.ones(skel.shape, np.float32)
    bands = []
    for r0, r1 in band_ranges(21, 7):
        ctx = padded[r0 : r1 + 4]
        bands.append(band_pieces(ctx, r0, ones[r0:r1], ones[r0:r1]))
    assert any(p.end[0] == "o" for b in bands for p in b.pieces)
    g = assemble(bands)
    whole = assemble([band_pieces(padded, 0, ones, ones)])
    assert sorted(g.nodes) == sorted(whole.nodes) == [(2, 10), (9, 10), (10, 2), (10, 18), (18, 10)]
    assert g.number_of_edges() == 4
    for (u, v, d), (u2, v2, d2) in zip(g.edges(data=True), whole.edges(data=True), strict=True):
        assert (u, v) == (u2, v2) and np.array_equal(d["path"], d2["path"])


def test_junction_groups_join_adjacent_pixels() -> None:
    groups = junction_groups(np.array([[5, 5], [6, 6], [6, 4], [9, 9]]))
    assert groups == {(5, 5): (5, 5), (6, 6): (5, 5), (6, 4): (5, 5), (9, 9): (9, 9)}


def test_a_ring_road_is_one_node_and_one_loop_in_any_banding() -> None:
    yy, xx = np.mgrid[0:200, 0:200]
    radius = np.hypot(yy - 100, xx - 100)
    ring = ((radius > 60) & (radius < 73)).astype(np.uint8)
    t = from_origin(500000.0, 4000000.0, 0.3, 0.3)
    g = network_from_array(ring, t, "EPSG:32611")
    assert g.number_of_nodes() == 1 and g.number_of_edges() == 1
    ((u, v, d),) = g.edges(data=True)
    assert u == v and g.nodes[u]["kind"] == "node"
    assert d["length_m"] == pytest.approx(2 * math.pi * 66.5 * 0.3, rel=0.02)
    for rows in (16, 33):
        b = network_from_array(ring, t, "EPSG:32611", band_rows=rows)
        ((*_, d2),) = b.edges(data=True)
        assert d2["geometry"].equals_exact(d["geometry"], 1e-6)


def test_raw_graph_is_the_same_for_any_band_height() -> None:
    rng = np.random.default_rng(3)
    road = ndi.binary_dilation(rng.random((160, 120)) > 0.995, iterations=6)
    prob = road.astype(np.float32)
    whole = pixel_graph(lambda a, b: prob[a:b], 120, 160, GraphOptions(), POPT, 10**6)
    for rows in (16, 23):
        g = pixel_graph(lambda a, b: prob[a:b], 120, 160, GraphOptions(), POPT, rows)
        assert list(g.nodes) == list(whole.nodes)
        assert [e[:2] for e in g.edges] == [e[:2] for e in whole.edges]


@pytest.mark.parametrize(
    ("dtype", "top", "name", "scale"),
    [
        ("uint8", 1, "x_mask.tif", 1.0),
        ("uint8", 255, "x_mask.tif", 255.0),
        ("uint8", 1, "x_prob.tif", 255.0),
        ("float32", 0.8, "p.tif", 1.0),
        ("uint16", 1000, "p.tif", 1000.0),
    ],
)
def test_value_scale(dtype: str, top: float, name: str, scale: float) -> None:
    assert value_scale(dtype, top, name) == scale


def test_hysteresis_keeps_weak_road_joined_to_strong_road() -> None:
    prob = np.zeros((120, 300), np.float32)
    prob[40:54, :] = 0.4  # weak road ...
    prob[40:54, 100:200] = 0.9  # ... with a strong stretch
    prob[90:104, :] = 0.4  # weak road alone
    t = from_origin(500000.0, 4000000.0, 0.3, 0.3)
    plain = network_from_array(prob, t, "EPSG:32611")
    assert plain.number_of_edges() == 1  # threshold 0.5: the strong stretch only
    hyst = network_from_array(prob, t, "EPSG:32611", GraphOptions(hysteresis=(0.3, 0.8)))
    ((*_, d),) = hyst.edges(data=True)
    assert d["length_m"] == pytest.approx(300 * 0.3, rel=0.01)
    assert d["prob_mean"] == pytest.approx((200 * 0.4 + 100 * 0.9) / 300, abs=0.02)


def test_a_narrow_neck_between_two_roads_is_no_cross_link() -> None:
    road = np.zeros((120, 300), np.uint8)
    road[30:43, :] = 1  # 3.9 m roads, 1.2 m apart ...
    road[47:60, :] = 1
    road[43:47, 150:152] = 1  # ... touching through a 0.6 m neck
    t = from_origin(500000.0, 4000000.0, 0.3, 0.3)
    g = network_from_array(road, t, "EPSG:32611")
    assert g.number_of_edges() == 2 and all(d == 1 for _, d in g.degree())
    wide = road.copy()
    wide[43:47, 140:160] = 1  # a 6 m wide link is a real connection
    assert any(d >= 3 for _, d in network_from_array(wide, t, "EPSG:32611").degree())


def test_a_blob_wider_than_the_halo_at_a_band_edge_warns() -> None:
    from basiss.graph.extract import GraphWarning

    road = np.zeros((400, 200), np.uint8)
    road[:, 95:108] = 1
    road[150:250, 50:150] = 1  # a 30 m square lot on the road
    t = from_origin(500000.0, 4000000.0, 0.3, 0.3)
    small_halo = GraphOptions(halo_m=6.0)
    with pytest.warns(GraphWarning, match=r"lot: a road blob ~\d+ m wide meets a band edge"):
        network_from_array(road, t, "EPSG:32611", small_halo, band_rows=64, image_id="lot")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphWarning)
        network_from_array(road, t, "EPSG:32611", small_halo)  # one piece: no band edge
        network_from_array(road, t, "EPSG:32611", band_rows=64)  # the default halo covers it
