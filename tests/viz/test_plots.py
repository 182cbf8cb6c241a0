"""Shared figure helpers: overview reads, nearest shrinking, map -> overview pixel coordinates."""

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from basiss.viz.plots import read_overview, shrink_nearest, world_to_pixels


@pytest.mark.parametrize(("rows", "cols", "max_pixels"), [(7, 5, 12), (40, 30, 300), (9, 9, 81)])
def test_shrink_nearest_picks_the_pixels_gdal_picks(make_raster, rows, cols, max_pixels):
    """A mask shrunk in memory lines up pixel for pixel with its image read decimated."""
    values = np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols)
    with rasterio.open(make_raster(values)) as ds:
        small, scale = read_overview(ds, [1], max_pixels)
    assert small.shape[1] * small.shape[2] <= max_pixels
    assert np.array_equal(shrink_nearest(values, small.shape[1:]), small[0])
    assert scale == (small.shape[2] / cols, small.shape[1] / rows)


def test_shrink_nearest_at_full_size_is_identity():
    arr = np.arange(12).reshape(3, 4)
    assert np.array_equal(shrink_nearest(arr, (3, 4)), arr)


def test_world_to_pixels_puts_pixel_centres_where_imshow_draws_them():
    t = from_origin(500000.0, 4000000.0, 0.5, 0.5)
    centres = np.array([t @ (0.5, 0.5), t @ (3.5, 1.5)])  # pixels (row 0, col 0), (1, 3)
    assert np.allclose(world_to_pixels(centres, ~t), [[0.0, 0.0], [3.0, 1.0]])
    # at half size, overview pixel (0, 0) covers full pixels 0..1, centred on full coord 1.0
    corner = np.array([t @ (1.0, 1.0), t @ (4.0, 2.0)])
    assert np.allclose(world_to_pixels(corner, ~t, (0.5, 0.5)), [[0.0, 0.0], [1.5, 0.5]])
