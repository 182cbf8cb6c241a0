"""Streamed evaluation: band by band (tiny bands) gives exactly the whole-image results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from basiss.evaluation import layers, metrics
from basiss.evaluation.bands import band_rows, row_bands
from basiss.evaluation.layers import Grid
from basiss.evaluation.overview import OverviewTally
from basiss.evaluation.score import ScoreOptions, evaluate_with
from basiss.evaluation.stream import BandReading
from basiss.labels.centerlines import road_mask_on_grid
from basiss.viz.plots import evaluation_overview

ORIGIN = (500000.0, 4000000.0)
THRESHOLDS = tuple(sorted(set(metrics.DEFAULT_THRESHOLDS) | {0.5}))


def _write(path: Path, arr: np.ndarray, transform=None, crs=32611, mask=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = arr[None] if arr.ndim == 2 else arr
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype=arr.dtype,
        crs=crs,
        transform=transform if transform is not None else from_origin(*ORIGIN, 0.3, 0.3),
    ) as dst:
        dst.write(arr)
        if mask is not None:
            dst.write_mask(mask)
    return path


def _roads(h: int, w: int) -> np.ndarray:
    """Roads crossing 7-row band edges: a diagonal, a steep line, rows 6-8 and 20-21."""
    rr, cc = np.mgrid[:h, :w]
    road = (np.abs(rr - cc) < 2) | (np.abs(3 * cc - rr - 30) < 3)
    road[6:9] = True
    road[20:22, 5:] = True
    return road.astype(np.uint8)


def _prob(road: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(road.astype(np.float32), 1.2)
    f = np.clip(f / f.max() + rng.normal(0, 0.2, f.shape), 0, 1)
    return np.rint(f * 255).astype(np.uint8)


def _run(pred: Path, truth: Path, rows: int | None, tmp: Path, **kw) -> tuple[str, bytes]:
    """The JSON report text and the figure's bytes of one evaluation with ``rows`` per band."""
    image = kw.pop("image", None)
    opts = ScoreOptions(sweep_thresholds=THRESHOLDS, band_rows=rows, **kw)
    out = tmp / f"rows{rows}"
    evaluate_with(pred, truth, opts, out / "r.json", plots_dir=out / "fig", image=image)
    (fig,) = sorted((out / "fig").iterdir())
    return (out / "r.json").read_text(), fig.read_bytes()


def _assert_bands_equal_whole(pred: Path, truth: Path, tmp: Path, **kw) -> dict:
    """7-row and 1-row bands give the JSON and figure of one band of all rows, byte for byte."""
    with rasterio.open(pred) as ds:
        height = ds.height
    whole = _run(pred, truth, 10 * height, tmp, **kw)
    for rows in (7, 1):
        doc, fig = _run(pred, truth, rows, tmp, **kw)
        assert doc == whole[0], rows
        assert fig == whole[1], rows
    return json.loads(whole[0])


def test_row_bands_tile_the_scene_with_clipped_halos():
    bands = row_bands(20, 7, halo=3)
    assert [(b.start, b.stop, b.top, b.bottom) for b in bands] == [
        (0, 7, 0, 10),
        (7, 14, 4, 17),
        (14, 20, 11, 20),
    ]
    assert bands[1].core == slice(3, 10)
    assert band_rows(4000) == 262 and band_rows(10**7) == 1
    with pytest.raises(ValueError):
        row_bands(10, 0)


def test_bands_equal_whole_image_with_nodata_imagery_and_relaxed(tmp_path):
    road = _roads(47, 41)
    msk = np.full(road.shape, 255, np.uint8)
    msk[10:16, 3:30] = 0  # prediction nodata across a band edge
    pred = _write(tmp_path / "s_prob.tif", _prob(road), mask=msk)
    truth = _write(tmp_path / "s.tif", np.roll(road, 1, axis=1))  # off by one column
    img = np.full((3, *road.shape), 90, np.uint8)
    img[:, 30:36, :] = 0  # outside the scene
    image = _write(tmp_path / "s_sat.tif", img)
    doc = _assert_bands_equal_whole(pred, truth, tmp_path, relax_px=3, image=image)
    # and those are the counts of whole arrays, computed independently
    p = layers.read_prediction(pred)
    t = layers.read_truth_raster(truth).data
    v = p.valid & layers.image_valid(image, *road.shape)
    c = metrics.confusion(p.data >= 0.5, t, v)
    rc = metrics.relaxed_counts(p.data >= 0.5, t, 3, v)
    (entry,) = doc["images"]
    assert (entry["tp"], entry["fp"], entry["fn"]) == (c.tp, c.fp, c.fn) and c.fn > 0
    assert entry["valid_pixels"] == int(v.sum()) < road.size
    assert entry["relaxed_f1"] == rc.f1 > entry["f1"]
    best, _ = metrics.best_threshold(metrics.threshold_sweep(p.data, t, THRESHOLDS, v), THRESHOLDS)
    assert entry["best_threshold"] == best


def test_relaxed_counts_of_band_cores_add_up_to_the_whole():
    rng = np.random.default_rng(1)
    pred = rng.random((53, 31)) < 0.05
    truth = rng.random((53, 31)) < 0.05
    valid = rng.random((53, 31)) < 0.9
    for relax in (0, 1, 4):
        total = metrics.RelaxedCounts()
        for b in row_bands(53, 5, relax):
            rows = slice(b.top, b.bottom)
            total += metrics.relaxed_counts(
                pred[rows], truth[rows], relax, valid[rows], core=b.core
            )
        assert total == metrics.relaxed_counts(pred, truth, relax, valid), relax


def _line_geojson(path: Path) -> Path:
    """Lines through pixel centres and corners and a polygon on pixel edges (the hard cases)."""
    feats = []
    for k in range(8):
        y = ORIGIN[1] - (7 * k + 0.5) * 0.3
        line = [[ORIGIN[0] + 0.15, y], [ORIGIN[0] + 12.0, y - k * 0.3]]
        feats.append({"type": "LineString", "coordinates": line})
    x0, y0 = ORIGIN[0] + 3.0, ORIGIN[1] - 3.0
    ring = [[x0, y0], [x0 + 6, y0], [x0 + 6, y0 - 8.4], [x0, y0 - 8.4], [x0, y0]]
    feats.append({"type": "Polygon", "coordinates": [ring]})
    fc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32611"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in feats],
    }
    path.write_text(json.dumps(fc))
    return path


def _stacked(source, height: int, rows: int) -> np.ndarray:
    parts = [source.read_rows(b.slab) for b in row_bands(height, rows)]
    return np.concatenate([p[0] if isinstance(p, tuple) else p for p in parts])


def test_geojson_truth_by_bands_is_the_whole_rasterization(tmp_path):
    geo = _line_geojson(tmp_path / "g.geojson")
    pred = _write(tmp_path / "g_prob.tif", _prob(_roads(60, 45), seed=2))
    grid = layers.read_prediction(pred).grid
    whole = road_mask_on_grid(geo, grid.crs, grid.transform, 45, 60, buffer_meters=0.45)
    lines = layers.open_truth_lines(geo, grid, pred, 0.45)
    for rows in (1, 7):
        assert np.array_equal(_stacked(lines, 60, rows), whole != 0), rows
    assert 200 < whole.sum() < 60 * 45 / 2
    _assert_bands_equal_whole(pred, geo, tmp_path, relax_px=2, buffer_meters=0.45)


def test_vegas_geojson_by_bands_is_the_whole_rasterization(shared_data, tmp_path):
    d = shared_data / "spacenet" / "vegas_solaris_pan"
    with rasterio.open(d / "expected_mask_2m.tif") as ds:
        grid = Grid.of(ds)
        oracle = ds.read(1)
    whole = road_mask_on_grid(
        d / "roads.geojson", grid.crs, grid.transform, grid.width, grid.height, 2.0
    )
    lines = layers.open_truth_lines(d / "roads.geojson", grid, d / "expected_mask_2m.tif", 2.0)
    assert np.array_equal(_stacked(lines, grid.height, 7), whole != 0)
    pred = _write(tmp_path / "vegas_mask.tif", oracle, grid.transform, grid.crs)
    doc = _assert_bands_equal_whole(pred, d / "roads.geojson", tmp_path, relax_px=2)
    assert doc["micro"]["iou"] > 0.95


def _aligned_pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Truth on a 0.3 m grid; a probability on a shifted 0.15 m grid with nodata; a mask in
    EPSG:4326."""
    road = _roads(50, 44)
    truth = _write(tmp_path / "t" / "a.tif", road)
    fine = np.pad(np.kron(road, np.ones((2, 2), np.uint8)), ((3, 0), (5, 0)))[:104, :80]
    prob = _prob(fine, seed=3)
    msk = np.full(prob.shape, 255, np.uint8)
    msk[30:45, 10:70] = 0
    shifted = from_origin(ORIGIN[0] - 0.77, ORIGIN[1] + 0.41, 0.15, 0.15)
    prob_path = _write(tmp_path / "p" / "a_prob.tif", prob, shifted, mask=msk)
    deg = from_origin(-117.0, 36.14, 3.3e-6, 2.7e-6)
    mask_path = _write(tmp_path / "m" / "a_mask.tif", _roads(60, 50), deg, crs=4326)
    return truth, prob_path, mask_path


def test_align_by_bands_is_the_whole_warp(tmp_path):
    truth, prob_path, _ = _aligned_pair(tmp_path)
    t_layer = layers.read_truth_raster(truth)
    p_layer = layers.read_prediction(prob_path)
    whole = layers.align_to(p_layer, t_layer)
    with layers.open_prediction(prob_path) as src:
        aligned = layers.AlignedPrediction(src, t_layer.grid, truth)
        for rows in (1, 7):
            parts = [aligned.read_rows(b.slab) for b in row_bands(50, rows)]
            assert np.array_equal(np.concatenate([v for _, v in parts]), whole.valid), rows
            # GDAL's bilinear weights round differently from a shifted window origin: a few
            # pixels may differ by one float32 ulp (a count changes only if a value sits
            # within an ulp of a threshold; the reports below are byte-identical)
            diff = np.abs(np.concatenate([d for d, _ in parts]) - whole.data)
            assert diff.max() <= np.spacing(np.float32(1.0)) and (diff > 0).mean() < 0.01, rows
    assert 0 < whole.valid.sum() < whole.valid.size  # nodata and the uncovered edge
    doc = _assert_bands_equal_whole(prob_path, truth, tmp_path, relax_px=2, align=True)
    assert doc["micro"]["f1"] > 0.8


def test_align_mask_from_another_crs_by_bands(tmp_path):
    truth, _, mask_path = _aligned_pair(tmp_path)
    # the degree grid lies elsewhere: place it on the truth's corner first
    with rasterio.open(truth) as ds:
        bounds = rasterio.warp.transform_bounds(ds.crs, 4326, *ds.bounds)
    deg = from_origin(bounds[0] - 1e-6, bounds[3] + 1e-6, 3.3e-6, 2.7e-6)
    with rasterio.open(mask_path) as ds:
        arr = ds.read(1)
    mask_path = _write(mask_path, arr, deg, crs=4326)
    doc = _assert_bands_equal_whole(mask_path, truth, tmp_path, relax_px=1, align=True)
    assert doc["images"][0]["valid_pixels"] > 1000


def test_overview_folded_by_bands_is_the_whole_pooling():
    rng = np.random.default_rng(4)
    truth, pred = rng.random((23, 17)) < 0.1, rng.random((23, 17)) < 0.1
    prob = rng.random((23, 17)).astype(np.float32)
    valid = rng.random((23, 17)) < 0.8
    whole = evaluation_overview(truth, pred, prob, valid, 3)
    tally = OverviewTally((23, 17), 3, is_prob=True)
    for b in row_bands(23, 4, halo=1):  # bands straddle the 3-row pooling blocks
        rows = slice(b.top, b.bottom)
        tally.add(BandReading(b, prob[rows], pred[rows], truth[rows], valid[rows], None))
    folded = tally.overview()
    for name in ("truth", "middle", "tp", "fp", "fn"):
        a, w = getattr(folded, name), getattr(whole, name)
        assert a.dtype == w.dtype and np.array_equal(a, w), name


def test_skipped_images_keep_their_reason_with_tiny_bands(tmp_path):
    z = np.zeros((9, 9), np.uint8)
    _write(tmp_path / "t.tif", z)
    far = from_origin(ORIGIN[0] + 100, ORIGIN[1], 0.3, 0.3)
    _write(tmp_path / "p_mask.tif", z, transform=far)
    opts = ScoreOptions(align=True, band_rows=2)
    with pytest.raises(Exception, match="does not overlap the truth grid"):
        evaluate_with(tmp_path / "p_mask.tif", tmp_path / "t.tif", opts)
    _write(tmp_path / "n_prob.tif", np.full((9, 9), 9, np.uint8), mask=np.zeros((9, 9), np.uint8))
    with pytest.raises(Exception, match="prediction is nodata everywhere"):
        evaluate_with(tmp_path / "n_prob.tif", tmp_path / "t.tif", opts)
