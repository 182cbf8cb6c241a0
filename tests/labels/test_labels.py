"""Centerlines -> buffered polygons (local UTM) -> 0/1 mask on the image grid."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString

from basiss.cli import main
from basiss.cli import masks as cli_masks
from basiss.errors import BasissError
from basiss.labels import centerlines as lab
from helpers import SPACENET_DEG

# The fixture grids: UTM 11N at 0.3 m, and SpaceNet-like EPSG:4326 near Las Vegas.
UTM_X0, UTM_Y0, UTM_GSD = 500000.0, 4000000.0, 0.3
LON0, LAT0 = -115.3, 36.2
N = 200


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float((a & b).sum() / max((a | b).sum(), 1))


def east_west_utm(row: float, col0: float = -20, col1: float = N + 20) -> dict:
    """A GeoJSON LineString (EPSG:4326) along pixel row ``row`` of the UTM fixture grid."""
    t = pyproj.Transformer.from_crs(32611, 4326, always_xy=True)
    y = UTM_Y0 - (row + 0.5) * UTM_GSD
    pts = [t.transform(UTM_X0 + c * UTM_GSD, y) for c in np.linspace(col0, col1, 9)]
    return {"type": "LineString", "coordinates": [list(p) for p in pts]}


def east_west_deg(row: float) -> dict:
    """An east-west LineString along pixel row ``row`` of the EPSG:4326 fixture grid."""
    lat = LAT0 - (row + 0.5) * SPACENET_DEG
    return {
        "type": "LineString",
        "coordinates": [[LON0 - 20 * SPACENET_DEG, lat], [LON0 + (N + 20) * SPACENET_DEG, lat]],
    }


def column_width(mask: np.ndarray, col: int | None = None) -> int:
    """Road pixels in one column (the width of an east-west road)."""
    return int(mask[:, mask.shape[1] // 2 if col is None else col].sum())


@contextlib.contextmanager
def no_label_warnings():
    """Turn any LabelWarning into an error (asserts silence)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", lab.LabelWarning)
        yield


@pytest.fixture
def utm_image(make_raster) -> Path:
    return make_raster(np.ones((3, N, N), dtype=np.uint16), crs=32611, name="utm.tif")


@pytest.fixture
def deg_image(make_raster) -> Path:
    return make_raster(np.ones((3, N, N), dtype=np.uint16), crs=4326, name="deg.tif")


# ---- the oracle and real chips ------------------------------------------------------------


def test_vegas_oracle_iou(shared_data):
    d = shared_data / "spacenet" / "vegas_solaris_pan"
    mask = lab.road_mask(d / "roads.geojson", d / "PAN_AOI_2_Vegas_sample.tif", buffer_meters=2)
    with rasterio.open(d / "expected_mask_2m.tif") as ds:
        expected = ds.read(1) > 0
    score = iou(mask, expected)
    print(f"Vegas oracle IoU = {score:.6f}")
    assert score >= 0.99
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}


def test_vegas_buffer_matters(shared_data):
    """A 1 m buffer is clearly not the 2 m oracle: the IoU test can fail."""
    d = shared_data / "spacenet" / "vegas_solaris_pan"
    mask = lab.road_mask(d / "roads.geojson", d / "PAN_AOI_2_Vegas_sample.tif", buffer_meters=1)
    with rasterio.open(d / "expected_mask_2m.tif") as ds:
        expected = ds.read(1) > 0
    assert iou(mask, expected) < 0.6


def test_paris_mask_on_exact_grid(shared_data, tmp_path):
    d = shared_data / "spacenet" / "paris_img1447"
    image = d / "RGB-PanSharpen_img1447.tif"
    out = lab.write_road_mask(d / "osm_roads.geojson", image, tmp_path / "m.tif")
    with rasterio.open(image) as src, rasterio.open(out) as dst:
        assert (dst.crs, dst.transform, dst.width, dst.height) == (
            src.crs,
            src.transform,
            src.width,
            src.height,
        )
        assert dst.count == 1 and dst.dtypes[0] == "uint8" and dst.nodata is None
        assert dst.compression is not None
        mask = dst.read(1)
    assert set(np.unique(mask)) == {0, 1}
    # 10 roads over a 195 m chip, 4 m wide: a few percent of the pixels.
    assert 0.02 < mask.mean() < 0.3


# ---- widths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("buffer", [1.0, 2.0, 3.5])
def test_east_west_width_utm_grid(utm_image, make_geojson, buffer):
    labels = make_geojson([(east_west_utm(100), {})])
    mask = lab.road_mask(labels, utm_image, buffer_meters=buffer)
    assert abs(column_width(mask) - 2 * buffer / UTM_GSD) <= 1
    rows = np.flatnonzero(mask[:, N // 2])
    assert abs(rows.mean() - 100) <= 0.5  # centred on the line


@pytest.mark.parametrize("buffer", [1.0, 2.0])
def test_east_west_width_degree_grid(deg_image, make_geojson, buffer):
    labels = make_geojson([(east_west_deg(100), {})])
    mask = lab.road_mask(labels, deg_image, buffer_meters=buffer)
    gsd_y = SPACENET_DEG * 111_000  # metres per degree of latitude near 36 N (~110.95 km)
    assert abs(column_width(mask) - 2 * buffer / gsd_y) <= 1


def test_round_caps_extend_past_the_end(utm_image, make_geojson):
    """SpaceNet/solaris buffer with round caps: the road extends ~buffer past its end."""
    labels = make_geojson([(east_west_utm(100, col0=50, col1=150), {})])
    mask = lab.road_mask(labels, utm_image, buffer_meters=3.0)
    cols = np.flatnonzero(mask[100])
    assert abs(cols.min() - (50 - 10)) <= 1 and abs(cols.max() - (150 + 10)) <= 1
    # round, not square: the corner region beyond the end is empty
    assert mask[100 - 9, 50 - 9] == 0


def test_width_from_lanes(utm_image, make_geojson):
    labels = make_geojson(
        [
            (east_west_utm(40), {"lane_number": "1"}),
            (east_west_utm(100), {"lane_number": 4}),
            (east_west_utm(160), {"lane_number": None}),
        ]
    )
    mask = lab.road_mask(labels, utm_image, width_from_lanes=True, meters_per_lane=3.0)
    col = mask[:, N // 2]
    assert abs(col[:70].sum() - 3.0 / UTM_GSD) <= 1  # 1 lane: 3 m
    assert abs(col[70:135].sum() - 12.0 / UTM_GSD) <= 1  # 4 lanes: 12 m
    assert abs(col[135:].sum() - lab.DEFAULT_LANES * 3.0 / UTM_GSD) <= 1  # default


def test_lane_buffers_pure():
    gdf = gpd.GeoDataFrame(
        {"lane_number": ["2", "x", None, "0"], "lane_numbe": ["9", "3", "1", "5"]},
        geometry=[LineString([(0, 0), (1, 0)])] * 4,
        crs=4326,
    )
    got = lab.lane_buffers(gdf, meters_per_lane=4.0, default_lanes=2)
    # lane_number wins; falls back to lane_numbe; "0" is invalid -> default.
    assert got.tolist() == [4.0, 6.0, 2.0, 4.0]


# ---- geometry variants give the same mask as plain lines -------------------------------------


def _line_pair():
    return east_west_utm(60), east_west_utm(140)


def test_multilinestring_equals_two_lines(utm_image, make_geojson):
    a, b = _line_pair()
    two = lab.road_mask(make_geojson([(a, {}), (b, {})], name="two.geojson"), utm_image)
    multi = {"type": "MultiLineString", "coordinates": [a["coordinates"], b["coordinates"]]}
    one = lab.road_mask(make_geojson([(multi, {})], name="multi.geojson"), utm_image)
    assert two.sum() > 0 and np.array_equal(one, two)


def test_3d_coordinates_equal_2d(utm_image, make_geojson):
    a, _ = _line_pair()
    flat = lab.road_mask(make_geojson([(a, {})], name="2d.geojson"), utm_image)
    z = {"type": "LineString", "coordinates": [[x, y, 612.5] for x, y in a["coordinates"]]}
    with no_label_warnings():
        deep = lab.road_mask(make_geojson([(z, {})], name="3d.geojson"), utm_image)
    assert flat.sum() > 0 and np.array_equal(flat, deep)


def test_geodataframe_equals_path(utm_image, make_geojson):
    path = make_geojson([(g, {}) for g in _line_pair()])
    gdf = gpd.read_file(path).to_crs(3857)  # any CRS
    assert np.array_equal(lab.road_mask(path, utm_image), lab.road_mask(gdf, utm_image))


def test_polygons_are_rasterized_as_given(utm_image, make_geojson):
    t = pyproj.Transformer.from_crs(32611, 4326, always_xy=True)
    # a 30 x 60 pixel rectangle, pixel edges aligned
    x0, x1 = UTM_X0 + 20 * UTM_GSD, UTM_X0 + 80 * UTM_GSD
    y0, y1 = UTM_Y0 - 50 * UTM_GSD, UTM_Y0 - 20 * UTM_GSD
    ring = [list(t.transform(x, y)) for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]
    labels = make_geojson([({"type": "Polygon", "coordinates": [ring]}, {})])
    mask = lab.road_mask(labels, utm_image, buffer_meters=5.0)  # buffer does not apply
    assert abs(int(mask.sum()) - 30 * 60) <= 60 + 30  # one pixel of slack on each edge
    assert mask[35, 50] == 1 and mask[10, 50] == 0


def test_points_skipped_with_warning(utm_image, make_geojson):
    a, _ = _line_pair()
    point = {"type": "Point", "coordinates": a["coordinates"][4]}
    labels = make_geojson([(a, {}), (point, {})])
    with pytest.warns(lab.LabelWarning, match=r"labels.geojson: 1 point geometries skipped"):
        mask = lab.road_mask(labels, utm_image)
    only_line = lab.road_mask(make_geojson([(a, {})], name="line.geojson"), utm_image)
    assert np.array_equal(mask, only_line)


def test_null_and_empty_geometries_warn(utm_image, make_geojson):
    a, _ = _line_pair()
    empty = {"type": "LineString", "coordinates": []}
    labels = make_geojson([(a, {}), (None, {}), (empty, {})])
    with pytest.warns(lab.LabelWarning, match="2 null or empty geometries ignored"):
        mask = lab.road_mask(labels, utm_image)
    assert column_width(mask) > 0


def test_geometry_collection_parts(utm_image, make_geojson):
    a, b = _line_pair()
    coll = {"type": "GeometryCollection", "geometries": [a, b]}
    got = lab.road_mask(make_geojson([(coll, {})], name="c.geojson"), utm_image)
    two = lab.road_mask(make_geojson([(a, {}), (b, {})], name="two.geojson"), utm_image)
    assert np.array_equal(got, two)


# ---- bad input ------------------------------------------------------------------------------


def test_zero_features_gives_empty_mask_silently(utm_image, make_geojson):
    with no_label_warnings():
        mask = lab.road_mask(make_geojson([]), utm_image)
    assert mask.shape == (N, N) and mask.dtype == np.uint8 and not mask.any()


def test_labels_off_the_image_warn(utm_image, make_geojson):
    far = {"type": "LineString", "coordinates": [[2.0, 48.0], [2.01, 48.0]]}  # Paris, not Vegas
    with pytest.warns(lab.LabelWarning, match="do not intersect .*utm.tif.*CRS mistake"):
        mask = lab.road_mask(make_geojson([(far, {})]), utm_image)
    assert not mask.any()


def test_projected_coordinates_declared_as_degrees(utm_image, make_geojson):
    """The classic CRS mistake: UTM metres in a GeoJSON read as EPSG:4326.

    Projecting them gives infinite coordinates, which crash GEOS's buffer
    (a segfault) unless they are dropped first.
    """
    a, _ = _line_pair()
    utm = {"type": "LineString", "coordinates": [[500010.0, 3999990.0], [500050.0, 3999990.0]]}
    labels = make_geojson([(utm, {}), (a, {})])
    with pytest.warns(lab.LabelWarning, match="1 geometries skipped.*out of range.*CRS mistake"):
        mask = lab.road_mask(labels, utm_image)
    assert np.array_equal(mask, lab.road_mask(make_geojson([(a, {})], name="a.geojson"), utm_image))


def test_unparseable_geojson(utm_image, tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(BasissError, match=r"bad.geojson: not a readable vector file"):
        lab.road_mask(bad, utm_image)


def test_missing_label_file(utm_image, tmp_path):
    with pytest.raises(BasissError, match="nope.geojson: no such label file"):
        lab.road_mask(tmp_path / "nope.geojson", utm_image)


def test_image_without_crs(make_raster, make_geojson):
    image = make_raster(np.ones((1, 20, 20), dtype=np.uint8), crs=None, name="nocrs.tif")
    with pytest.raises(BasissError, match="nocrs.tif: has no CRS"):
        lab.road_mask(make_geojson([(east_west_utm(5), {})]), image)


def test_geodataframe_without_crs(utm_image):
    gdf = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])])
    with pytest.raises(BasissError, match="labels have no CRS"):
        lab.road_mask(gdf, utm_image)


def test_road_mask_on_grid_matches_road_mask(utm_image, make_geojson):
    labels = make_geojson([(g, {}) for g in _line_pair()])
    with rasterio.open(utm_image) as ds:
        grid = lab.road_mask_on_grid(labels, ds.crs, ds.transform, ds.width, ds.height)
    assert np.array_equal(grid, lab.road_mask(labels, utm_image))
    # a sub-grid (a window of the image) sees the same pixels
    sub_t = from_origin(UTM_X0 + 10 * UTM_GSD, UTM_Y0 - 30 * UTM_GSD, UTM_GSD, UTM_GSD)
    sub = lab.road_mask_on_grid(labels, "EPSG:32611", sub_t, 150, 160)
    assert np.array_equal(sub, grid[30:190, 10:160])


def test_write_failure_leaves_no_file(utm_image, tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text("not json")
    out = tmp_path / "out" / "mask.tif"
    with pytest.raises(BasissError):
        lab.write_road_mask(bad, utm_image, out)
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


# ---- CLI (single pair) ----------------------------------------------------------------------


def test_cli_single_pair(utm_image, make_geojson, tmp_path, capsys):
    a, _ = _line_pair()
    point = {"type": "Point", "coordinates": a["coordinates"][0]}
    labels = make_geojson([(a, {}), (point, {})])
    out = tmp_path / "mask.tif"
    code = main(
        ["masks", "--image", str(utm_image), "--labels", str(labels), "--out", str(out)]
        + ["--buffer_meters", "1.5"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0
    assert len(err) == 1 and "warning:" in err[0] and "point geometries skipped" in err[0]
    with rasterio.open(out) as ds:
        assert abs(column_width(ds.read(1)) - 3.0 / UTM_GSD) <= 1


def test_cli_single_pair_bad_labels(utm_image, tmp_path, capsys):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{")
    out = tmp_path / "mask.tif"
    code = main(["masks", "--image", str(utm_image), "--labels", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "bad.geojson" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_cli_needs_a_mode(capsys):
    assert main(["masks"]) == 2
    assert "--path-data" in capsys.readouterr().err


def test_cli_defaults_match_library():
    assert cli_masks.METERS_PER_LANE == lab.METERS_PER_LANE
    assert cli_masks.DEFAULT_LANES == lab.DEFAULT_LANES


def test_polygons_output_crs(utm_image, make_geojson):
    labels = make_geojson([(east_west_utm(100), {})])
    polys = lab.road_polygons(labels, "EPSG:32611", (UTM_X0, UTM_Y0 - 60, UTM_X0 + 60, UTM_Y0))
    assert polys.crs.to_epsg() == 32611
    # 2 m each side of a ~72 m line with round caps: area = 4 * L + pi * 4
    length = (N + 40) * UTM_GSD
    assert polys.area.sum() == pytest.approx(4 * length + np.pi * 4, rel=0.01)
    assert shapely.get_num_geometries(polys.values[0]) == 1
