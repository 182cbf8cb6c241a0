"""Raster I/O: stretch, pass-through, nodata, atomic writes, georeference kept."""

import numpy as np
import pytest
import rasterio

from basiss.errors import BasissError
from basiss.io.raster import (
    apply_stretch,
    atomic_output,
    open_raster,
    stretch_limits,
    write_8bit,
    write_geotiff,
)


def test_stretch_16bit_to_8bit_keeps_grid_and_nodata(make_raster, tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(100, 2048, size=(3, 64, 80), dtype=np.uint16)
    arr[:, :, :10] = 0  # nodata margin
    src = make_raster(arr, crs=4326)
    out = write_8bit(src, tmp_path / "out8.tif")
    with rasterio.open(src) as a, rasterio.open(out) as b:
        assert b.dtypes == ("uint8",) * 3
        assert (b.crs, b.transform, b.width, b.height) == (a.crs, a.transform, a.width, a.height)
        data = b.read()
    assert (data[:, :, :10] == 0).all()
    valid = data[:, :, 10:]
    assert valid.min() >= 1 and valid.max() == 255
    # 2nd..98th percentile: about 2% of valid pixels saturate at each end
    frac_top = (valid[0] == 255).mean()
    assert 0.01 < frac_top < 0.04


def test_stretch_limits_exclude_nodata(make_raster):
    arr = np.full((1, 50, 50), 1000, dtype=np.uint16)
    arr[0, :25] = 0
    arr[0, 25:, :] = np.linspace(1000, 2000, 50, dtype=np.uint16)[None, :]
    with open_raster(make_raster(arr)) as ds:
        lo, hi = stretch_limits(ds)[0]
    assert lo >= 1000 and hi <= 2000


def test_8bit_passes_through(make_raster, tmp_path):
    arr = np.arange(3 * 20 * 30, dtype=np.uint32).reshape(3, 20, 30).astype(np.uint8)
    out = write_8bit(make_raster(arr), tmp_path / "o.tif")
    with rasterio.open(out) as b:
        np.testing.assert_array_equal(b.read(), arr)


def test_apply_stretch_rounding_and_clip():
    arr = np.array([[[0, 10, 20, 30]]], dtype=np.uint16)
    out = apply_stretch(arr, np.array([[10.0, 20.0]]))
    assert out.tolist() == [[[1, 1, 255, 255]]]


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "x.tif"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_geotiff_roundtrip(tmp_path):
    arr = np.eye(40, dtype=np.uint8)
    out = write_geotiff(
        tmp_path / "m.tif",
        arr,
        crs="EPSG:32611",
        transform=rasterio.Affine(0.3, 0, 5e5, 0, -0.3, 4e6),
    )
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32611
        assert ds.profile["compress"] == "deflate"
        np.testing.assert_array_equal(ds.read(1), arr)


def test_unreadable_raster_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(BasissError, match="bad.tif"), open_raster(bad):
        pass
    with pytest.raises(BasissError, match="no such file"), open_raster(tmp_path / "nope.tif"):
        pass
