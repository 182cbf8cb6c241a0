"""The road-mask figure: drawn from a decimated read, lines on the overview's pixels."""

import numpy as np
import rasterio
from PIL import Image

from basiss.viz import masks


def _east_west_road(make_raster, make_geojson, rows: int, cols: int, row: int):
    """An 8-bit image of ``rows x cols`` (EPSG:32611, 0.3 m) and a road along ``row``."""
    image = make_raster(np.full((3, rows, cols), 90, dtype=np.uint8))
    with rasterio.open(image) as ds:
        t = ds.transform
    (x0, y), (x1, _) = t @ (0, row + 0.5), t @ (cols, row + 0.5)
    line = {"type": "LineString", "coordinates": [[x0, y], [x1, y]]}
    labels = make_geojson([(line, {"lane_number": "2"})], crs=32611)
    mask = np.zeros((rows, cols), dtype=np.uint8)
    mask[row - 3 : row + 4] = 1
    return image, labels, mask


def test_lines_land_on_the_overview_row(make_raster, make_geojson):
    image, labels, _ = _east_west_road(make_raster, make_geojson, 400, 600, row=100)
    with rasterio.open(image) as ds:
        small, scale = masks.read_overview(ds, [1], 300 * 200)
        lines = masks._pixel_lines(labels, ds.crs, ~ds.transform, scale)
    assert small.shape[1:] == (200, 300) and scale == (0.5, 0.5)
    (xy,) = lines
    assert np.allclose(xy[:, 1], 100.5 * 0.5 - 0.5)  # full row 100 -> overview row 49.75
    assert np.allclose(xy[:, 0], [-0.5, 299.5])


def test_figure_of_a_large_image_is_decimated(make_raster, make_geojson, tmp_path, monkeypatch):
    image, labels, mask = _east_west_road(make_raster, make_geojson, 400, 600, row=100)
    monkeypatch.setattr(masks, "PLOT_MAX_PIXELS", 60 * 40)
    small_png = masks.plot_road_mask(labels, image, mask, tmp_path / "small.png", title="img1")
    monkeypatch.setattr(masks, "PLOT_MAX_PIXELS", 600 * 400)
    full_png = masks.plot_road_mask(labels, image, mask, tmp_path / "full.png", title="img1")
    with Image.open(small_png) as a, Image.open(full_png) as b:
        assert a.format == b.format == "PNG"
        assert a.width > 3 * a.height  # four panels side by side
        assert a.size == b.size  # same layout; only the panels' resolution differs
    assert small_png.stat().st_size < full_png.stat().st_size


def test_figure_without_labels(make_raster, tmp_path):
    image = make_raster(np.full((1, 50, 80), 40, dtype=np.uint8))
    mask = np.zeros((50, 80), dtype=np.uint8)
    png = masks.plot_road_mask(None, image, mask, tmp_path / "f.png")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 3 * im.height
