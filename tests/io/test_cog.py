"""Cloud-Optimized GeoTIFF outputs: valid COGs, overview levels and accuracy, band facts,
and one nodata convention (an internal mask band) on every kind of raster basiss writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from basiss.inference.stream import Rows
from basiss.inference.writer import write_rows
from basiss.io.cog import (
    PROB_SCALE,
    Layer,
    band_descriptions,
    build_overviews,
    overview_factors,
)
from basiss.io.raster import geotiff_profile, write_8bit, write_geotiff
from basiss.labels.centerlines import write_road_mask

TRANSFORM = from_origin(500000.0, 4000000.0, 0.5, 0.5)


def _assert_cog(path: Path, factors: list[int]) -> None:
    """A valid COG (rio-cogeo's validator: no error, no warning) with these overviews."""
    valid, errors, warnings = cog_validate(str(path), strict=True, quiet=True)
    assert valid and errors == [] and warnings == [], (errors, warnings)
    with rasterio.open(path) as ds:
        assert ds.overviews(1) == factors
        assert ds.profile["blockxsize"] == ds.profile["blockysize"] == 256
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"


def _assert_nodata_convention(path: Path, valid: np.ndarray, zero_under: bool = True) -> None:
    """Nodata is the internal per-dataset mask band (no nodata value), 0 under it (not on
    training masks: they keep their labels)."""
    with rasterio.open(path) as ds:
        assert ds.nodata is None
        assert all(flags == [MaskFlags.per_dataset] for flags in ds.mask_flag_enums)
        assert np.array_equal(ds.dataset_mask() > 0, valid)
        assert (ds.read()[:, ~valid] == 0).all() or not zero_under


def _block_means(arr: np.ndarray, valid: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the valid pixels of each ``f x f`` block, and the blocks' valid counts."""
    h, w = arr.shape[0] // f, arr.shape[1] // f
    a = arr[: h * f, : w * f].astype(np.float64) * valid[: h * f, : w * f]
    n = valid[: h * f, : w * f].reshape(h, f, w, f).sum((1, 3))
    return a.reshape(h, f, w, f).sum((1, 3)) / np.maximum(n, 1), n


def _overview_error(path: Path, arr: np.ndarray, valid: np.ndarray) -> dict[int, float]:
    """Per factor: the largest |overview pixel - mean of the valid pixels it covers|."""
    out = {}
    with rasterio.open(path) as ds:
        factors = ds.overviews(1)
    for level, f in enumerate(factors):
        with rasterio.open(path, overview_level=level) as ov:
            got = ov.read(1).astype(np.float64)
        mean, n = _block_means(arr, valid, f)
        got = got[: mean.shape[0], : mean.shape[1]]
        out[f] = float(np.abs(got - mean)[n > 0].max())
    return out


def _prob_rows(prob: np.ndarray, valid: np.ndarray, step: int = 300) -> list[Rows]:
    """``prob`` (rows, cols) as bands of finished rows, with a 0/1 mask at 128."""
    return [
        Rows(
            row=r,
            prob=prob[np.newaxis, r : r + step],
            mask=(prob[r : r + step] >= 128).astype(np.uint8),
            valid=valid[r : r + step],
            chips=1,
        )
        for r in range(0, prob.shape[0], step)
    ]


@pytest.fixture(scope="module")
def prediction(tmp_path_factory) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A 4096 x 1024 prediction pair (random probability, nodata strips) via the writer."""
    rng = np.random.default_rng(7)
    h, w = 1024, 4096
    prob = rng.integers(0, 256, (h, w)).astype(np.uint8)
    valid = np.ones((h, w), bool)
    valid[:, :100] = False
    valid[1000:, 3000:] = False
    prob[~valid] = 0
    out = tmp_path_factory.mktemp("pred")
    profile = geotiff_profile(w, h, 1, "uint8", "EPSG:32611", TRANSFORM, None, 256)
    paths = out / "s_prob.tif", out / "s_mask.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        assert write_rows(_prob_rows(prob, valid), *paths, profile) == 4
    return *paths, prob, valid


def test_overview_factors_stop_at_512_px() -> None:
    assert overview_factors(4096, 1024) == [2, 4, 8]
    assert overview_factors(4097, 100) == [2, 4, 8, 16]  # 4097/8 = 513 px > 512
    assert overview_factors(1024, 513) == [2]
    assert overview_factors(512, 512) == []
    assert overview_factors(32000, 4000) == [2, 4, 8, 16, 32, 64]  # 32000/64 = 500


def test_prediction_is_a_cog_with_exact_average_overviews(prediction) -> None:
    prob_path, mask_path, prob, valid = prediction
    _assert_cog(prob_path, [2, 4, 8])
    _assert_cog(mask_path, [2, 4, 8])
    err = _overview_error(prob_path, prob, valid)
    assert set(err) == {2, 4, 8}
    assert max(err.values()) <= 0.5 + 1e-9, err  # one level per call: rounding only


def test_cascaded_overviews_would_drift(prediction, tmp_path) -> None:
    """Why one level per call: GDAL's single multi-level call drifts past 1 grey level."""
    _, _, prob, valid = prediction
    path = tmp_path / "cascade.tif"
    profile = geotiff_profile(4096, 1024, 1, "uint8", "EPSG:32611", TRANSFORM, None, 256)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as ds:
        ds.write(prob, 1)
        ds.write_mask(valid.astype(np.uint8) * 255)
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4, 8], Resampling.average)
    assert _overview_error(path, prob, valid)[8] > 1.0


def test_prediction_bands_say_what_they_are(prediction) -> None:
    prob_path, mask_path, prob, valid = prediction
    with rasterio.open(prob_path) as p, rasterio.open(mask_path) as m:
        assert p.descriptions == ("road probability",) and m.descriptions == ("road mask",)
        assert p.scales == (pytest.approx(PROB_SCALE),) and p.offsets == (0.0,)
        assert m.scales == (1.0,) and m.offsets == (0.0,)
        assert np.array_equal(p.read(1), prob)
    for level in range(3):
        with rasterio.open(mask_path, overview_level=level) as ov:
            values = set(np.unique(ov.read(1)).tolist())
            masks = set(np.unique(ov.dataset_mask()).tolist())
        assert values <= {0, 1} and 1 in values, (level, values)
        assert masks == {0, 255}


def test_prediction_nodata_convention(prediction) -> None:
    prob_path, mask_path, _, valid = prediction
    _assert_nodata_convention(prob_path, valid)
    _assert_nodata_convention(mask_path, valid)


def test_write_geotiff_mask_and_image_kinds(tmp_path) -> None:
    rng = np.random.default_rng(1)
    valid = np.ones((700, 1100), bool)
    valid[:50] = False
    mask = (rng.random((700, 1100)) < 0.3).astype(np.uint8)
    out = write_geotiff(tmp_path / "m.tif", mask, "EPSG:32611", TRANSFORM, Layer.MASK, valid)
    _assert_cog(out, [2, 4])
    _assert_nodata_convention(out, valid, zero_under=False)
    with rasterio.open(out) as ds, rasterio.open(out, overview_level=1) as ov:
        assert ds.descriptions == ("road mask",)
        assert np.array_equal(ds.read(1), mask)  # labels kept under the nodata mask
        assert set(np.unique(ov.read(1)).tolist()) == {0, 1}  # nearest, never averaged
    img = rng.integers(1, 256, (3, 700, 1100)).astype(np.uint8)
    out = write_geotiff(tmp_path / "i.tif", img, "EPSG:32611", TRANSFORM)  # all valid
    _assert_cog(out, [2, 4])
    _assert_nodata_convention(out, np.ones((700, 1100), bool))
    for b in range(3):
        assert max(_overview_error_band(out, img[b], b + 1).values()) <= 0.5 + 1e-9


def _overview_error_band(path: Path, arr: np.ndarray, band: int) -> dict[int, float]:
    out = {}
    with rasterio.open(path) as ds:
        factors = ds.overviews(band)
    for level, f in enumerate(factors):
        with rasterio.open(path, overview_level=level) as ov:
            got = ov.read(band).astype(np.float64)
        mean, _ = _block_means(arr, np.ones(arr.shape, bool), f)
        out[f] = float(np.abs(got[: mean.shape[0], : mean.shape[1]] - mean).max())
    return out


def test_write_8bit_and_road_mask_follow_the_convention(make_raster, make_geojson, tmp_path):
    rng = np.random.default_rng(2)
    arr = rng.integers(100, 2048, (3, 600, 640)).astype(np.uint16)
    arr[:, :, :40] = 0  # the scene's nodata cut
    src = make_raster(arr)
    valid = np.ones((600, 640), bool)
    valid[:, :40] = False
    eight = write_8bit(src, tmp_path / "eight.tif")
    _assert_cog(eight, [2])
    _assert_nodata_convention(eight, valid)
    again = write_8bit(eight, tmp_path / "again.tif")  # a basiss 8-bit image passes through
    _assert_nodata_convention(again, valid)
    with rasterio.open(eight) as a, rasterio.open(again) as b:
        assert np.array_equal(a.read(), b.read())
    with rasterio.open(src) as ds:
        x0, y0 = ds.transform @ (100, 300)
        x1, y1 = ds.transform @ (600, 300)
    line = {"type": "LineString", "coordinates": [[x0, y0], [x1, y1]]}
    labels = make_geojson([(line, {})], crs=32611)
    mask = write_road_mask(labels, src, tmp_path / "truth.tif", buffer_meters=2.0)
    _assert_cog(mask, [2])
    _assert_nodata_convention(mask, valid, zero_under=False)  # the image's valid area
    with rasterio.open(mask) as ds:
        assert ds.descriptions == ("road mask",)
        assert ds.read(1)[300, 200:600].all() and ds.read(1).max() == 1


def test_small_raster_is_a_cog_without_overviews(tmp_path) -> None:
    out = write_geotiff(tmp_path / "s.tif", np.eye(300, dtype=np.uint8), "EPSG:32611", TRANSFORM)
    _assert_cog(out, [])
    assert build_overviews(out, Layer.IMAGE) == []


def test_band_descriptions_of_many_classes() -> None:
    assert band_descriptions(Layer.PROBABILITY, 2) == ["class 1 probability", "class 2 probability"]
    assert band_descriptions(Layer.MASK, 2) == ["class index"]
    assert band_descriptions(Layer.IMAGE, 2) == [None, None]


def test_threaded_finish_writes_the_same_bytes(prediction, tmp_path, monkeypatch) -> None:
    """GDAL threads compress the overviews and the COG copy: the files do not change."""
    _, _, prob, valid = prediction
    profile = geotiff_profile(4096, 1024, 1, "uint8", "EPSG:32611", TRANSFORM, None, 256)
    digests = []
    for threads in (1, 2):
        monkeypatch.setattr("basiss.io.cog.FINISH_THREADS", threads)
        paths = tmp_path / f"t{threads}_prob.tif", tmp_path / f"t{threads}_mask.tif"
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            write_rows(_prob_rows(prob, valid), *paths, profile)
        digests.append([p.read_bytes() for p in paths])
    assert digests[0] == digests[1]


def test_temporary_compression_does_not_change_the_cog(prediction, tmp_path, monkeypatch) -> None:
    """Streamed files are zstd (deflate where GDAL lacks zstd): the final COG is the same."""
    from basiss.io import cog

    _, _, prob, valid = prediction
    profile = geotiff_profile(4096, 1024, 1, "uint8", "EPSG:32611", TRANSFORM, None, 256)
    assert cog.temporary_profile(profile)["compress"] == "zstd"
    digests = []
    for zstd in (True, False):
        monkeypatch.setattr(cog, "_has_zstd", lambda z=zstd: z)
        paths = tmp_path / f"z{zstd}_prob.tif", tmp_path / f"z{zstd}_mask.tif"
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            write_rows(_prob_rows(prob, valid), *paths, profile)
        digests.append([p.read_bytes() for p in paths])
    assert digests[0] == digests[1]
