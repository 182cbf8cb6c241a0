"""The synthetic SpaceNet-3-like sample: layout, georeference, labels, determinism, content."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from scipy.ndimage import binary_erosion
from shapely.geometry import LineString, box

from basiss.cli import main
from basiss.geo import utm_epsg
from basiss.synthetic import (
    AOI,
    DEG_PER_PX,
    RGB_FROM_MUL,
    ROAD_PROPERTIES,
    SampleLayout,
    image_ids,
    labels_path,
    mul_path,
    rgb_path,
    road_width_m,
    write_sample,
)

SMALL = {"n_train": 4, "n_test": 2, "chip_size": 256, "broad_size": 512}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> SampleLayout:
    return write_sample(tmp_path_factory.mktemp("s0"), seed=0, **SMALL)


@pytest.fixture(scope="module")
def sample_again(tmp_path_factory) -> SampleLayout:
    return write_sample(tmp_path_factory.mktemp("s0b"), seed=0, **SMALL)


@pytest.fixture(scope="module")
def sample_other(tmp_path_factory) -> SampleLayout:
    return write_sample(tmp_path_factory.mktemp("s1"), seed=1, **SMALL)


def _chips(layout: SampleLayout) -> list[tuple[Path, int]]:
    return [(d, i) for d in (layout.train_dir, layout.test_dir) for i in image_ids(d)]


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text())["features"]


def _files(layout: SampleLayout) -> dict[str, bytes]:
    return {
        str(p.relative_to(layout.root)): p.read_bytes()
        for p in sorted(layout.root.rglob("*"))
        if p.is_file()
    }


def _ndvi(mul: np.ndarray) -> np.ndarray:
    red, nir = mul[4].astype(np.float64), mul[6].astype(np.float64)
    return (nir - red) / np.maximum(nir + red, 1)


def _points_along(coords: np.ndarray, step: float) -> np.ndarray:
    line = LineString(coords)
    d = np.arange(0, line.length, step)
    return shapely.get_coordinates(shapely.line_interpolate_point(line, d))


def test_layout_and_names(sample: SampleLayout):
    root = sample.root
    assert sample.train_dir == root / f"{AOI}_Train"
    assert sample.test_dir == root / f"{AOI}_Test"
    train, test = image_ids(sample.train_dir), image_ids(sample.test_dir)
    assert len(train) == 4 and len(test) == 2
    assert not set(train) & set(test)
    for split, ids in ((sample.train_dir, train), (sample.test_dir, test)):
        for sub, ext, n in (
            ("RGB-PanSharpen", "tif", len(ids)),
            ("MUL-PanSharpen", "tif", len(ids)),
            ("geojson/spacenetroads", "geojson", len(ids)),
        ):
            assert len(list((split / sub).glob(f"*.{ext}"))) == n
        for i in ids:
            assert rgb_path(split, i).name == f"RGB-PanSharpen_{AOI}_img{i}.tif"
            assert mul_path(split, i).name == f"MUL-PanSharpen_{AOI}_img{i}.tif"
            assert labels_path(split, i).name == f"spacenetroads_{AOI}_img{i}.geojson"
            assert rgb_path(split, i).is_file() and mul_path(split, i).is_file()
            assert labels_path(split, i).is_file()
    assert sample.broad_image == root / "broad_area" / f"RGB-PanSharpen_{AOI}_broad.tif"
    assert sample.broad_labels == root / "broad_area" / f"spacenetroads_{AOI}_broad.geojson"
    assert sample.broad_image.is_file() and sample.broad_labels.is_file()
    assert not [p for p in root.rglob("*.part-*")]  # no temporaries left behind


def test_chip_rasters_are_spacenet_like(sample: SampleLayout):
    for split, i in _chips(sample):
        with rasterio.open(rgb_path(split, i)) as rgb, rasterio.open(mul_path(split, i)) as mul:
            for ds, count in ((rgb, 3), (mul, 8)):
                assert ds.count == count
                assert ds.dtypes == ("uint16",) * count
                assert ds.crs.to_epsg() == 4326
                assert ds.width == ds.height == 256
                assert ds.res == pytest.approx((DEG_PER_PX, DEG_PER_PX), rel=1e-9)
                assert ds.nodata == 0
            assert rgb.transform == mul.transform
            a_rgb, a_mul = rgb.read(), mul.read()
        assert a_mul.max() <= 2047  # 11-bit
        valid = np.any(a_mul > 0, axis=0)
        assert valid.mean() > 0.5
        assert np.all(a_mul[:, valid] >= 1)  # 0 only where every band is nodata
        np.testing.assert_array_equal(a_rgb, a_mul[list(RGB_FROM_MUL)])


def test_broad_scene_is_local_utm(sample: SampleLayout):
    with rasterio.open(sample.broad_image) as ds:
        assert ds.count == 3 and ds.dtypes == ("uint16",) * 3
        assert ds.width == ds.height == 512
        assert ds.res == pytest.approx((0.3, 0.3))
        assert ds.nodata == 0
        lon, lat = Transformer.from_crs(ds.crs, 4326, always_xy=True).transform(*ds.xy(256, 256))
        assert ds.crs.to_epsg() == utm_epsg(lon, lat) == 32614
        assert 33.0 < lat < 33.1 and -96.8 < lon < -96.7  # Plano, Texas
        arr = ds.read()
    assert arr.max() <= 2047 and arr.min() >= 1


def test_labels_inside_footprint_with_spacenet_attributes(sample: SampleLayout):
    n_lines = 0
    for split, i in _chips(sample):
        data = json.loads(labels_path(split, i).read_text())
        assert data["type"] == "FeatureCollection"
        with rasterio.open(rgb_path(split, i)) as ds:
            foot = box(*ds.bounds).buffer(1e-9)
        for f in data["features"]:
            assert f["geometry"]["type"] == "LineString"
            assert foot.contains(LineString(f["geometry"]["coordinates"]))
            props = f["properties"]
            assert tuple(props) == ROAD_PROPERTIES
            assert isinstance(props["road_id"], int)
            assert props["paved"] in ("1", "2") and props["one_way_type"] in ("1", "2")
            assert 2 <= int(props["lane_number"]) <= 4
            n_lines += 1
    assert n_lines > 10
    with rasterio.open(sample.broad_image) as ds:
        foot = box(*ds.bounds).buffer(1e-6)
        to_utm = Transformer.from_crs(4326, ds.crs, always_xy=True)
    feats = _features(sample.broad_labels)
    assert len(feats) > 5
    for f in feats:
        xy = np.array(to_utm.transform(*np.array(f["geometry"]["coordinates"]).T)).T
        assert foot.contains(LineString(xy))
        assert tuple(f["properties"]) == ROAD_PROPERTIES


def test_same_seed_same_bytes_other_seed_differs(sample, sample_again, sample_other):
    a, b, c = _files(sample), _files(sample_again), _files(sample_other)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name
    common = a.keys() & c.keys()
    assert any(name.endswith(".tif") for name in common)
    for name in common:
        assert a[name] != c[name], name


def test_vegetation_bright_in_near_infrared(sample: SampleLayout):
    for split, i in _chips(sample):
        with rasterio.open(mul_path(split, i)) as ds:
            mul = ds.read()
        valid = np.any(mul > 0, axis=0)
        red, nir1, nir2 = (mul[b][valid].astype(float).mean() for b in (4, 6, 7))
        assert nir1 > 1.5 * red and nir2 > 1.5 * red
        veg = _ndvi(mul)[valid] > 0.4
        assert veg.mean() > 0.3  # lawns and trees cover much of a suburb
        # on vegetation every NIR pixel outshines its red one
        assert np.all(mul[6][valid][veg] > mul[4][valid][veg])


def test_one_chip_has_a_nodata_margin_without_labels(sample: SampleLayout):
    margins = []
    for split, i in _chips(sample):
        with rasterio.open(mul_path(split, i)) as ds:
            empty = np.all(ds.read() == 0, axis=0)
            inv = ~ds.transform
        margins.append(empty.mean())
        # a label may end on the edge of the margin: allow the pixel it ends in
        empty = binary_erosion(empty, iterations=1, border_value=1)
        for f in _features(labels_path(split, i)):
            pts = _points_along(np.array(f["geometry"]["coordinates"]), DEG_PER_PX)
            cols, rows = inv @ (pts[:, 0], pts[:, 1])
            r = np.clip(np.floor(rows).astype(int), 0, 255)
            c = np.clip(np.floor(cols).astype(int), 0, 255)
            assert not empty[r, c].any()
    assert max(margins) > 0.05
    assert sorted(margins)[-2] == 0.0  # only one chip has a margin


def test_centerlines_run_on_painted_road(sample: SampleLayout):
    """Under every centerline the image shows road (low NDVI), in the chips and the broad scene."""
    ndvi_on_line, ndvi_all = [], []
    for split, i in _chips(sample):
        with rasterio.open(mul_path(split, i)) as ds:
            mul = ds.read()
            inv = ~ds.transform
        ndvi = _ndvi(mul)
        ndvi_all.append(ndvi[np.any(mul > 0, axis=0)])
        for f in _features(labels_path(split, i)):
            pts = _points_along(np.array(f["geometry"]["coordinates"]), DEG_PER_PX)
            cols, rows = inv @ (pts[:, 0], pts[:, 1])
            r = np.clip(np.floor(rows).astype(int), 0, 255)
            c = np.clip(np.floor(cols).astype(int), 0, 255)
            ndvi_on_line.append(ndvi[r, c])
    on_line = np.concatenate(ndvi_on_line)
    assert len(on_line) > 500
    assert np.mean(on_line < 0.15) > 0.85
    assert np.mean(np.concatenate(ndvi_all)) > 0.3


def _sample_beside(image: np.ndarray, inv, crs, features: list[dict], offset_m) -> np.ndarray:
    """Values of ``image`` along lines ``offset_m(properties)`` metres beside each centerline."""
    to_utm = Transformer.from_crs(4326, 32614, always_xy=True)
    back = Transformer.from_crs(32614, crs, always_xy=True)
    out = []
    for f in features:
        xy = np.array(to_utm.transform(*np.array(f["geometry"]["coordinates"]).T)).T
        side = shapely.offset_curve(LineString(xy), offset_m(f["properties"]))
        if side.is_empty or side.length < 1:
            continue
        pts = _points_along(shapely.get_coordinates(side), 0.25)
        cols, rows = inv @ back.transform(pts[:, 0], pts[:, 1])
        ok = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
        out.append(image[rows[ok].astype(int), cols[ok].astype(int)])
    return np.concatenate(out) if out else np.zeros(0)


def _beyond_edge(sign: float, props: dict) -> float:
    return sign * (road_width_m(int(props["lane_number"])) / 2 + 0.55)


def test_spacenet_mask_lies_inside_painted_roads(sample: SampleLayout):
    """1.9 m either side of a centerline (the 2 m SpaceNet buffer) is still road; just
    beyond the painted width given by ``lane_number`` lies the grass verge."""
    road, verge = [], []
    for split, i in _chips(sample):
        with rasterio.open(mul_path(split, i)) as ds:
            ndvi, inv, crs = _ndvi(ds.read()), ~ds.transform, ds.crs
        feats = _features(labels_path(split, i))
        paved = [f for f in feats if f["properties"]["paved"] == "1"]
        for off in (1.9, -1.9):
            road.append(_sample_beside(ndvi, inv, crs, feats, lambda p, o=off: o))
        for sign in (1.0, -1.0):
            verge.append(_sample_beside(ndvi, inv, crs, paved, partial(_beyond_edge, sign)))
    road_v, verge_v = np.concatenate(road), np.concatenate(verge)
    assert len(road_v) > 1000 and len(verge_v) > 1000
    assert np.mean(road_v < 0.15) > 0.85
    # driveways, junctions, cars and shadows cross the verge; grass dominates (0.69 measured)
    assert np.mean(verge_v > 0.3) > 0.55


def test_cli_writes_refuses_and_overwrites(tmp_path: Path, capsys):
    out = tmp_path / "sample"
    args = ["sample", str(out), "--chip-size", "64", "--broad-size", "64"]
    assert (
        main([*args, "--n-chips", "3", "--n-test", "1", "--preview", str(tmp_path / "p.png")]) == 0
    )
    text = capsys.readouterr().out
    assert "basiss masks --path-data" in text and "3 chips" in text
    assert (tmp_path / "p.png").is_file()
    assert len(image_ids(out / f"{AOI}_Train")) == 3
    assert main([*args, "--n-chips", "2"]) == 1
    err = capsys.readouterr().err
    assert "already holds files" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--n-chips", "2", "--n-test", "0", "--overwrite"]) == 0
    # the larger earlier sample's files are gone: the layout is exactly the new one
    assert len(image_ids(out / f"{AOI}_Train")) == 2
    assert image_ids(out / f"{AOI}_Test") == []
    assert not list((out / f"{AOI}_Test").rglob("*.geojson"))
