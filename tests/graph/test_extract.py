"""Road networks from masks: band-by-band == whole scene, lengths, geometry, bad input."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from basiss.errors import BasissError
from basiss.geo import line_length_m
from basiss.graph import GraphOptions, extract_network, network_from_array
from basiss.graph.extract import GraphWarning
from basiss.labels.centerlines import road_mask_on_grid

UTM = "EPSG:32611"
X0, Y0, GSD = 500000.0, 4000300.0, 0.3
DEG = 2.7e-6  # SpaceNet's 0.3 m pixel in degrees
LON0, LAT0 = -115.3, 36.2


def utm_grid(h: int, w: int) -> rasterio.Affine:
    """A 0.3 m UTM grid."""
    return from_origin(X0, Y0, GSD, GSD)


def px(c: float, r: float) -> tuple[float, float]:
    """UTM coordinates of pixel position (col, row)."""
    return (X0 + c * GSD, Y0 - r * GSD)


def mask_of(lines: list[shapely.LineString], crs: str, transform, h: int, w: int) -> np.ndarray:
    """The 4 m wide (2 m buffer) road mask of ``lines`` on the grid."""
    gdf = gpd.GeoDataFrame(geometry=lines, crs=crs)
    return road_mask_on_grid(gdf, crs, transform, w, h, buffer_meters=2.0)


def star_scene(h: int = 700, w: int = 600) -> tuple[np.ndarray, list[shapely.LineString]]:
    """Roads crossing band edges at many angles: a star of 9 spokes, near-horizontal roads
    lying along row 64 and 128 (band edges of 16/32/64-row bands), a curve and a loop."""
    cx, cy = 300.0, 360.0
    lines = []
    for k in range(9):
        a = math.radians(3 + k * 20)
        lines.append(
            shapely.LineString([px(cx, cy), px(cx + 420 * math.cos(a), cy - 420 * math.sin(a))])
        )
    lines.append(shapely.LineString([px(-20, 64), px(620, 66)]))
    lines.append(shapely.LineString([px(-20, 127), px(620, 129.5)]))
    t = np.linspace(0, math.pi, 40)
    lines.append(shapely.LineString([px(100 + 80 * np.cos(a), 560 + 60 * np.sin(a)) for a in t]))
    ring = [px(480 + 50 * np.cos(a), 600 + 50 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 60)]
    lines.append(shapely.LineString(ring))
    return mask_of(lines, UTM, utm_grid(h, w), h, w), lines


def same_network(a: nx.MultiGraph, b: nx.MultiGraph) -> None:
    """Assert: same node ids, kinds and places; same edges with equal geometry (1e-6)."""
    assert list(a.nodes) == list(b.nodes)
    for n in a.nodes:
        da, db = a.nodes[n], b.nodes[n]
        assert da["kind"] == db["kind"]
        assert abs(da["x"] - db["x"]) < 1e-6 and abs(da["y"] - db["y"]) < 1e-6
    ea = sorted(a.edges(keys=True, data=True), key=lambda e: e[:3])
    eb = sorted(b.edges(keys=True, data=True), key=lambda e: e[:3])
    assert [e[:3] for e in ea] == [e[:3] for e in eb]
    for (*_, da), (*_, db) in zip(ea, eb, strict=True):
        assert da["geometry"].equals_exact(db["geometry"], 1e-6)
        assert da["length_m"] == pytest.approx(db["length_m"], abs=1e-6)
        assert da["prob_mean"] == pytest.approx(db["prob_mean"], abs=1e-9)
        assert da["width_m"] == pytest.approx(db["width_m"], abs=1e-6)


@pytest.fixture(scope="module")
def star() -> tuple[np.ndarray, list[shapely.LineString]]:
    return star_scene()


def test_bands_equal_whole_scene_at_many_angles(star) -> None:
    mask, _ = star
    prob = (mask * 200).astype(np.uint8)  # a probability raster, not a 0/1 mask
    transform = utm_grid(*mask.shape)
    whole = network_from_array(prob, transform, UTM, band_rows=10**6)
    assert whole.number_of_nodes() > 20 and whole.number_of_edges() > 20
    for rows in (16, 32, 64, 97):
        same_network(whole, network_from_array(prob, transform, UTM, band_rows=rows))


def test_file_streamed_equals_array_and_keeps_the_contract(star, make_raster) -> None:
    mask, _ = star
    prob = (mask * 230).astype(np.uint8)
    path = make_raster(prob, crs=32611, transform=utm_grid(*mask.shape), name="scene_prob.tif")
    whole = network_from_array(prob, utm_grid(*mask.shape), UTM, image_id="scene_prob")
    streamed = extract_network(path, band_rows=40)
    same_network(whole, streamed)
    assert streamed.graph["image_id"] == "scene_prob"
    assert streamed.graph["units"] == "m"
    assert rasterio.crs.CRS.from_wkt(streamed.graph["crs"]).to_epsg() == 32611
    assert streamed.graph["transform"] == tuple(utm_grid(1, 1))[:6]
    for u, v, d in streamed.edges(data=True):
        g = d["geometry"]
        start, end = g.coords[0], g.coords[-1]
        assert start == pytest.approx((streamed.nodes[u]["x"], streamed.nodes[u]["y"]))
        assert end == pytest.approx((streamed.nodes[v]["x"], streamed.nodes[v]["y"]))
        assert d["prob_mean"] == pytest.approx(230 / 255, abs=1e-3)
        if d["length_m"] > 30:  # away from the star's centre, where the blob is wide
            assert 3.5 < d["width_m"] < 4.5
    kinds = {n: d["kind"] for n, d in streamed.nodes(data=True)}
    for n, deg in streamed.degree():
        assert kinds[n] == ("end" if deg == 1 else "junction" if deg >= 3 else "node")


def test_band_rows_auto_and_nodata_mask(star, tmp_path: Path) -> None:
    mask, _ = star
    prob = (mask * 255).astype(np.uint8)
    prob[:, 500:] = 255  # nodata region: all "road" but masked out
    path = tmp_path / "p_prob.tif"
    profile = dict(
        driver="GTiff",
        width=prob.shape[1],
        height=prob.shape[0],
        count=1,
        dtype="uint8",
        crs=UTM,
        transform=utm_grid(*prob.shape),
    )
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(prob, 1)
        valid = np.full(prob.shape, 255, np.uint8)
        valid[:, 500:] = 0
        dst.write_mask(valid)
    clean = mask.copy()
    clean[:, 500:] = 0
    expected = network_from_array(clean * 255, utm_grid(*mask.shape), UTM, image_id="p_prob")
    same_network(expected, extract_network(path))


def straight_and_curved(crs: str) -> tuple[list[shapely.LineString], rasterio.Affine]:
    """Separate roads (no junctions) in ``crs`` on a 600 x 600 grid of ~0.3 m."""
    utm = crs == UTM
    transform = from_origin(X0, Y0, GSD, GSD) if utm else from_origin(LON0, LAT0, DEG, DEG)

    def at(c: float, r: float) -> tuple[float, float]:
        return transform * (c, r)

    t = np.linspace(0.2, 2.6, 50)
    lines = [
        shapely.LineString([at(40, 60), at(560, 140)]),
        shapely.LineString([at(60, 560), at(300, 250)]),
        shapely.LineString([at(380 + 150 * np.cos(a), 560 - 150 * np.sin(a)) for a in t]),
    ]
    return lines, transform


@pytest.mark.parametrize("crs", [UTM, "EPSG:4326"])
def test_lengths_within_one_percent_of_geodesic(crs: str) -> None:
    lines, transform = straight_and_curved(crs)
    mask = mask_of(lines, crs, transform, 600, 600)
    g = network_from_array(mask, transform, crs)
    assert g.number_of_edges() == 3
    got = sorted(d["length_m"] for *_, d in g.edges(data=True))
    want = sorted(line_length_m(list(ln.coords), crs) for ln in lines)
    for a, b in zip(got, want, strict=True):
        assert a == pytest.approx(b, rel=0.01)


def grid_truth() -> tuple[list[shapely.LineString], int, int]:
    """A street grid with a diagonal: 3 x 3 avenues crossing the whole 660 x 660 image."""
    lines = []
    for k in (120, 330, 540):
        lines.append(shapely.LineString([px(k, 0), px(k, 660)]))
        lines.append(shapely.LineString([px(0, k), px(660, k)]))
    lines.append(shapely.LineString([px(120, 120), px(330, 330)]))
    return lines, 660, 660


def test_truth_mask_gives_back_its_centerlines() -> None:
    lines, h, w = grid_truth()
    mask = mask_of(lines, UTM, utm_grid(h, w), h, w)
    g = network_from_array(mask, utm_grid(h, w), UTM, band_rows=50)
    got = shapely.union_all([d["geometry"] for *_, d in g.edges(data=True)])
    truth = shapely.union_all(lines).intersection(shapely.box(X0, Y0 - h * GSD, X0 + w * GSD, Y0))
    assert shapely.hausdorff_distance(got, truth) < 2.5  # metres (UTM)
    junctions = [n for n, d in g.nodes(data=True) if d["kind"] == "junction"]
    assert len(junctions) == 9  # the diagonal joins two existing crossings
    ends = [n for n, d in g.nodes(data=True) if d["kind"] == "end"]
    assert len(ends) == 12  # every avenue runs to the border at both ends
    for n in junctions:
        x, y = g.nodes[n]["x"], g.nodes[n]["y"]
        nearest = min(
            math.hypot(x - px(c, r)[0], y - px(c, r)[1])
            for c in (120, 330, 540)
            for r in (120, 330, 540)
        )
        assert nearest < 1.0
    total = sum(d["length_m"] for *_, d in g.edges(data=True))
    assert total == pytest.approx(truth.length, rel=0.01)


def test_acute_junction_stays_where_the_roads_meet() -> None:
    h, w = 400, 500
    meet = px(150, 300)
    lines = [
        shapely.LineString([px(-10, 300), px(510, 300)]),
        shapely.LineString([meet, px(500, 300 - 350 * math.tan(math.radians(25)))]),
    ]
    mask = mask_of(lines, UTM, utm_grid(h, w), h, w)

    def junction_error(options: GraphOptions) -> float:
        g = network_from_array(mask, utm_grid(h, w), UTM, options)
        (n,) = [n for n, d in g.nodes(data=True) if d["kind"] == "junction"]
        return math.hypot(g.nodes[n]["x"] - meet[0], g.nodes[n]["y"] - meet[1])

    raw = junction_error(GraphOptions(junction_shift_m=0))
    assert raw > 4.0  # the skeleton's junction slid along the road
    assert junction_error(GraphOptions()) < 1.0


def test_border_stub_is_kept() -> None:
    h, w = 300, 400
    lines = [
        shapely.LineString([px(-10, 20), px(410, 20)]),  # 6 m from the top border
        shapely.LineString([px(200, 20), px(200, -10)]),  # 6 m stub to the top
        shapely.LineString([px(100, 20), px(100, 250)]),
    ]
    mask = mask_of(lines, UTM, utm_grid(h, w), h, w)
    g = network_from_array(mask, utm_grid(h, w), UTM)
    tops = [n for n, d in g.nodes(data=True) if d["kind"] == "end" and d["y"] > Y0 - 1.0]
    assert len(tops) == 1 and abs(g.nodes[tops[0]]["x"] - px(200, 0)[0]) < 1.0
    assert sum(1 for _, d in g.nodes(data=True) if d["kind"] == "junction") == 2


def test_raster_without_crs_is_in_pixels_with_a_warning(make_raster) -> None:
    lines, h, w = grid_truth()
    mask = mask_of(lines, UTM, utm_grid(h, w), h, w)
    path = make_raster(mask, crs=None, transform=rasterio.Affine.identity(), name="m.tif")
    with pytest.warns(GraphWarning, match="m.tif: no CRS"):
        g = extract_network(path)
    assert g.graph["crs"] is None and g.graph["units"] == "px"
    total = sum(d["length_m"] for *_, d in g.edges(data=True))
    assert total == pytest.approx(6 * 660 + 210 * math.sqrt(2), rel=0.02)
    xs = [d["x"] for _, d in g.nodes(data=True)]
    assert min(xs) >= 0 and max(xs) <= w


def test_empty_mask_gives_an_empty_network() -> None:
    g = network_from_array(np.zeros((64, 80), np.uint8), utm_grid(64, 80), UTM, band_rows=16)
    assert g.number_of_nodes() == 0 and g.number_of_edges() == 0
    assert g.graph["units"] == "m" and g.graph["crs"]


def test_bad_inputs_are_one_line_errors(tmp_path: Path, make_raster) -> None:
    three = make_raster(np.zeros((3, 8, 8), np.uint8), name="rgb.tif")
    with pytest.raises(BasissError, match=r"rgb.tif: has 3 bands"):
        extract_network(three)
    with pytest.raises(BasissError, match="nope.tif: no such file"):
        extract_network(tmp_path / "nope.tif")
    junk = tmp_path / "junk.tif"
    junk.write_text("not a tiff")
    with pytest.raises(BasissError, match="junk.tif: not a readable raster") as err:
        extract_network(junk)
    assert "\n" not in str(err.value)
    with pytest.raises(BasissError, match="threshold"):
        GraphOptions(threshold=0)


def test_no_warning_with_a_crs(star) -> None:
    mask, _ = star
    transform = utm_grid(*mask.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        network_from_array(mask, transform, UTM)


def test_vegas_truth_mask_scores_apls_above_097(shared_data: Path) -> None:
    from basiss.evaluation.apls import AplsParams, apls
    from basiss.graph.from_lines import read_line_network

    folder = shared_data / "spacenet" / "vegas_solaris_pan"
    if not folder.is_dir():
        pytest.skip("no SpaceNet Vegas sample")
    with rasterio.open(folder / "PAN_AOI_2_Vegas_sample.tif") as ds:
        grid = (ds.crs, ds.transform, ds.width, ds.height)
    mask = road_mask_on_grid(folder / "roads.geojson", *grid, buffer_meters=2.0)
    proposal = network_from_array(mask, grid[1], grid[0], band_rows=200)
    same_network(network_from_array(mask, grid[1], grid[0]), proposal)
    truth = read_line_network(folder / "roads.geojson")
    for preset in ("spacenet3", "apls_head"):
        score = apls(truth, proposal, AplsParams.preset(preset))
        assert score.apls >= 0.97, (preset, score)
    length = sum(d["length_m"] for *_, d in proposal.edges(data=True))
    truth_length = sum(d["length_m"] for *_, d in truth.edges(data=True))
    assert length == pytest.approx(truth_length, rel=0.01)


def test_bands_equal_whole_scene_on_the_sample_suburb() -> None:
    from rasterio.features import rasterize

    from basiss.synthetic.network import end_bulb, road_network

    side_px = 1500
    side = side_px * GSD
    plan = road_network(np.random.default_rng([0, 2]), (0.0, 0.0, side, side))
    polys = [r.line.buffer(r.half_width) for r in plan.roads]
    polys += [end_bulb(r) for r in plan.roads if r.bulb > 0]
    transform = from_origin(0.0, side, GSD, GSD)
    mask = rasterize([(p, 1) for p in polys], (side_px, side_px), transform=transform)
    whole = network_from_array(mask, transform, "EPSG:32614")
    assert whole.number_of_nodes() > 20
    same_network(whole, network_from_array(mask, transform, "EPSG:32614", band_rows=111))
