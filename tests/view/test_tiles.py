"""Tiles cut from GeoTIFFs: values match the full-resolution mean, colours, point values."""

from __future__ import annotations

import io
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from basiss.errors import BasissError
from basiss.view import style
from basiss.view.tiles import TileSource, open_layer, tiles_covering

TMS = morecantile.tms.get("WebMercatorQuad")
Z, X0, Y0 = 18, 45000, 100000  # the raster's top-left tile at its native zoom
N = 1024  # 4 x 4 native tiles


def _aligned_prob(path: Path) -> np.ndarray:
    """A uint8 probability in EPSG:3857 on the zoom-Z tile grid, with average overviews.

    Overviews are built one level per call: GDAL builds a list of levels in cascade (8
    from 4 from 2), which adds one rounding per level (up to 1.3 grey levels at 8 here).
    """
    b = TMS.xy_bounds(X0, Y0, Z)
    res = (b.right - b.left) / 256
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, (N, N), dtype=np.uint8)
    profile = dict(
        driver="GTiff", width=N, height=N, count=1, dtype="uint8", crs="EPSG:3857",
        transform=from_origin(b.left, b.top, res, res), tiled=True,
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    for factor in (2, 4, 8):
        with rasterio.open(path, "r+") as ds:
            ds.build_overviews([factor], Resampling.average)
    return data


@pytest.mark.parametrize("levels", [0, 1, 2, 3])
def test_tile_is_the_mean_of_the_pixels_it_covers(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "s_prob.tif"
    data = _aligned_prob(path)
    layer = open_layer("prob-0", "prob", path, "s")
    source = TileSource([layer])
    f = 2**levels
    got = source.read("prob-0", Z - levels, X0 >> levels, Y0 >> levels)
    source.close()
    assert got is not None
    values, valid = got
    n = min(256, N // f)  # tile pixels the raster covers (from the tile's top-left corner)
    expected = data[: n * f, : n * f].reshape(n, f, n, f).mean(axis=(1, 3))
    diff = np.abs(values[0, :n, :n].astype(float) - expected)
    assert diff.max() <= 1.0
    assert valid[:n, :n].all()  # and nothing past the raster but a 1-pixel warp seam
    assert not valid[n + 1 :, :].any() and not valid[:, n + 1 :].any()


def test_tile_equals_the_overview(tmp_path: Path) -> None:
    """At an overview's own resolution the tiler adds nothing: same numbers as the file."""
    path = tmp_path / "s_prob.tif"
    _aligned_prob(path)
    source = TileSource([open_layer("prob-0", "prob", path, "s")])
    values, _ = source.read("prob-0", Z - 2, X0 >> 2, Y0 >> 2)
    source.close()
    with rasterio.open(path, overview_level=1) as ov:
        assert np.array_equal(values[0, :256, :256], ov.read(1))


def test_layer_zooms_and_bounds(view_page) -> None:
    prob = next(r for r in view_page.rasters if r.kind == "prob")
    assert prob.maxzoom == 18  # 0.5 m at 36 N: zoom 18 is 0.48 m
    assert prob.minzoom == 16  # no overviews: two levels above native
    west, south, east, north = prob.bounds
    assert west == pytest.approx(-117.0) and east - west == pytest.approx(0.002846, abs=1e-5)
    assert 36.142 < south < north < 36.145


def test_tiles_outside_or_below_min_zoom_are_empty(view_page) -> None:
    source = TileSource(list(view_page.rasters))
    assert source.read("prob-0", 18, 0, 0) is None
    assert source.read("prob-0", 10, *tiles_covering(view_page.bounds(), 10)[0]) is None
    source.close()


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_mask_tile_is_road_coloured_on_roads(view_scene, view_page) -> None:
    source = TileSource(list(view_page.rasters))
    lon, lat = view_scene.lonlat(256, 300)  # on the east-west road
    t = TMS.tile(lon, lat, 18)
    rgba = _decode(source.tile_png("mask-0", 18, t.x, t.y))
    b = TMS.xy_bounds(t)
    px, py = TMS.xy(lon, lat)
    col = int((px - b.left) / (b.right - b.left) * 256)
    row = int((b.top - py) / (b.top - b.bottom) * 256)
    assert tuple(rgba[row, col]) == (*style.MASK_RGB, 255)
    lon2, lat2 = view_scene.lonlat(400, 400)  # background
    t2 = TMS.tile(lon2, lat2, 18)
    px, py = TMS.xy(lon2, lat2)
    b = TMS.xy_bounds(t2)
    rgba2 = _decode(source.tile_png("mask-0", 18, t2.x, t2.y))
    col = int((px - b.left) / (b.right - b.left) * 256)
    row = int((b.top - py) / (b.top - b.bottom) * 256)
    assert rgba2[row, col, 3] == 0
    source.close()


def test_point_values(view_scene, view_page) -> None:
    source = TileSource(list(view_page.rasters))
    road = source.point(*view_scene.lonlat(250, 300))
    assert road == [{"scene": "scene", "probability": round(230 / 255, 4), "road": True}]
    background = source.point(*view_scene.lonlat(400, 400))
    assert background == [{"scene": "scene", "probability": round(10 / 255, 4), "road": False}]
    assert source.point(*view_scene.lonlat(10, 500)) == []  # nodata corner
    assert source.point(0.0, 0.0) == []  # elsewhere on Earth
    source.close()


def test_probability_ramp_fades_low_values() -> None:
    cmap = style.probability_colormap()
    assert cmap[0][3] == 0 and cmap[style.RAMP_FLOOR - 1][3] == 0
    assert cmap[128][3] == 255 and cmap[255] == (255, 255, 0, 255)
    assert all(cmap[v][3] <= cmap[v + 1][3] for v in range(255))


def test_bad_rasters_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x_prob.tif"
    bad.write_text("not a tiff")
    with pytest.raises(BasissError, match="x_prob.tif: cannot read raster"):
        open_layer("prob-0", "prob", bad, "x")
    nocrs = tmp_path / "y_prob.tif"
    with rasterio.open(nocrs, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8") as d:
        d.write(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(BasissError, match="no CRS"):
        open_layer("prob-0", "prob", nocrs, "y")
    f32 = tmp_path / "z_prob.tif"
    with rasterio.open(
        f32, "w", driver="GTiff", width=8, height=8, count=1, dtype="float32",
        crs="EPSG:32611", transform=from_origin(0, 0, 1, 1),
    ) as d:  # fmt: skip
        d.write(np.zeros((1, 8, 8), np.float32))
    with pytest.raises(BasissError, match="must be uint8"):
        open_layer("prob-0", "prob", f32, "z")


def test_uint16_imagery_is_stretched(tmp_path: Path) -> None:
    path = tmp_path / "img.tif"
    rng = np.random.default_rng(0)
    arr = rng.integers(200, 1800, (3, 64, 64), dtype=np.uint16)
    with rasterio.open(
        path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint16",
        crs="EPSG:32611", transform=from_origin(500000, 4000000, 0.5, 0.5),
    ) as d:  # fmt: skip
        d.write(arr)
    layer = open_layer("image-0", "image", path, "img")
    assert layer.stretch is not None
    lo, hi = layer.stretch[0]
    assert 200 <= lo < 300 and 1700 < hi <= 1800
