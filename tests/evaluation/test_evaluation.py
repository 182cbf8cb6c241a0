"""`basiss evaluate`: file matching, reading rules, grids, reports, figures, CLI, real data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from basiss.cli import main
from basiss.errors import BasissError
from basiss.evaluation import layers, matching
from basiss.evaluation.layers import read_prediction
from basiss.evaluation.matching import image_id, match_files
from basiss.evaluation.report import ImageStatus, format_table
from basiss.evaluation.score import evaluate
from basiss.viz.plots import max_pool, overview_factor

ORIGIN = (500000.0, 4000000.0)


def _write(path: Path, arr: np.ndarray, transform=None, crs=32611, nodata=None, mask=None):
    """A one-band GeoTIFF on a 0.3 m UTM grid (optionally with an internal mask band)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if transform is None:
        transform = from_origin(*ORIGIN, 0.3, 0.3)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[1],
        height=arr.shape[0],
        count=1,
        dtype=arr.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(arr, 1)
        if mask is not None:
            dst.write_mask(mask)
    return path


# ---------------------------------------------------------------- ids and matching


@pytest.mark.parametrize(
    ("name", "ident"),
    [
        ("RGB-PanSharpen_AOI_2_Vegas_img123_prob.tif", "AOI_2_Vegas_img123"),
        ("RGB-PanSharpen_AOI_2_Vegas_img123_mask.tif", "AOI_2_Vegas_img123"),
        ("spacenetroads_AOI_2_Vegas_img123.geojson", "AOI_2_Vegas_img123"),
        ("AOI_2_Vegas_img123_mask.tif", "AOI_2_Vegas_img123"),
        ("satImage_001.png", "001"),
        ("104_sat.jpg", "104"),
        ("104_mask.png", "104"),
        ("RGB-PanSharpen_img1447_prob.tif", "img1447"),
    ],
)
def test_image_id(name, ident):
    assert image_id(name) == ident


def test_match_prefers_probability_and_reports_unmatched(tmp_path):
    z = np.zeros((4, 4), np.uint8)
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    for stem in ("RGB-PanSharpen_AOI_2_Vegas_img1", "RGB-PanSharpen_AOI_2_Vegas_img2"):
        _write(pred / f"{stem}_prob.tif", z)
        _write(pred / f"{stem}_mask.tif", z)
    _write(pred / "RGB-PanSharpen_AOI_2_Vegas_img9_prob.tif", z)
    _write(truth / "AOI_2_Vegas_img1_mask.tif", z)
    (truth / "spacenetroads_AOI_2_Vegas_img2.geojson").write_text("{}")
    _write(truth / "AOI_2_Vegas_img5_mask.tif", z)
    m = match_files(pred, truth)
    pairs, up, ut = m.pairs, m.unmatched_pred, m.unmatched_truth
    assert [(p.ident, p.pred.name, p.truth.name) for p in pairs] == [
        (
            "AOI_2_Vegas_img1",
            "RGB-PanSharpen_AOI_2_Vegas_img1_prob.tif",
            "AOI_2_Vegas_img1_mask.tif",
        ),
        (
            "AOI_2_Vegas_img2",
            "RGB-PanSharpen_AOI_2_Vegas_img2_prob.tif",
            "spacenetroads_AOI_2_Vegas_img2.geojson",
        ),
    ]
    assert [p.name for p in up] == ["RGB-PanSharpen_AOI_2_Vegas_img9_prob.tif"]
    assert [p.name for p in ut] == ["AOI_2_Vegas_img5_mask.tif"]


def test_match_falls_back_on_img_token(tmp_path):
    z = np.zeros((4, 4), np.uint8)
    _write(tmp_path / "p" / "RGB-PanSharpen_AOI_2_Vegas_img7_prob.tif", z)
    _write(tmp_path / "t" / "SN3_roads_train_AOI_2_Vegas_geojson_roads_img7.tif", z)
    m = match_files(tmp_path / "p", tmp_path / "t")
    assert len(m.pairs) == 1 and not m.unmatched_pred and not m.unmatched_truth


def test_no_match_is_one_line_error_listing_files(tmp_path):
    z = np.zeros((4, 4), np.uint8)
    _write(tmp_path / "p" / "a_prob.tif", z)
    _write(tmp_path / "t" / "b_mask.tif", z)
    with pytest.raises(BasissError) as exc:
        match_files(tmp_path / "p", tmp_path / "t")
    msg = str(exc.value)
    assert "\n" not in msg and "a_prob.tif (id a)" in msg and "b_mask.tif (id b)" in msg


# ---------------------------------------------------------------- reading rules


def test_prediction_kinds(tmp_path):
    m = read_prediction(_write(tmp_path / "x.tif", np.array([[0, 1], [1, 0]], np.uint8)))
    assert not m.is_prob and m.data.dtype == bool and m.data.sum() == 2
    p = read_prediction(_write(tmp_path / "y.tif", np.array([[0, 255], [128, 0]], np.uint8)))
    assert p.is_prob and p.data[0, 1] == 1.0 and p.data[1, 0] == pytest.approx(128 / 255)
    f = read_prediction(_write(tmp_path / "z.tif", np.array([[0, 0.25]], np.float32)))
    assert f.is_prob and f.data[0, 1] == pytest.approx(0.25)
    # a name ending in _prob is a probability even when its max is 1
    q = read_prediction(_write(tmp_path / "w_prob.tif", np.array([[0, 1]], np.uint8)))
    assert q.is_prob and q.data[0, 1] == pytest.approx(1 / 255)
    with pytest.raises(BasissError, match="outside 0..1"):
        read_prediction(_write(tmp_path / "bad.tif", np.array([[0, 3.0]], np.float32)))


def test_internal_mask_marks_nodata(tmp_path):
    prob = np.full((4, 4), 200, np.uint8)
    msk = np.full((4, 4), 255, np.uint8)
    msk[:, :2] = 0
    layer = read_prediction(_write(tmp_path / "a_prob.tif", prob, mask=msk))
    assert layer.valid is not None and layer.valid.sum() == 8
    # nodata=0 is not used as a nodata marker (0 means "no road")
    layer0 = read_prediction(_write(tmp_path / "b.tif", np.array([[0, 1]], np.uint8), nodata=0))
    assert layer0.valid is None


# ---------------------------------------------------------------- evaluate


def _two_images(tmp_path: Path) -> tuple[Path, Path]:
    """Image a: tp 3 fp 1 fn 0; image b: tp 1 fp 0 fn 3 (6x6 each)."""
    pa, ta = np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8)
    ta[0, :3] = 1
    pa[0, :4] = 1
    pb, tb = np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8)
    tb[2, :4] = 1
    pb[2, 0] = 1
    _write(tmp_path / "pred" / "a_mask.tif", pa)
    _write(tmp_path / "pred" / "b_mask.tif", pb)
    _write(tmp_path / "truth" / "a.tif", ta)
    _write(tmp_path / "truth" / "b.tif", tb)
    return tmp_path / "pred", tmp_path / "truth"


def test_micro_vs_macro_and_report_files(tmp_path):
    pred, truth = _two_images(tmp_path)
    out = tmp_path / "rep" / "report.json"
    rep = evaluate(pred, truth, out_json=out, relax_px=1)
    assert rep.micro.tp == 4 and rep.micro.fp == 1 and rep.micro.fn == 3
    assert rep.micro.precision == pytest.approx(0.8)
    assert rep.micro.recall == pytest.approx(4 / 7)
    assert rep.micro.f1 == pytest.approx(8 / 12)
    assert rep.micro.iou == pytest.approx(0.5)
    assert rep.macro.precision == pytest.approx((0.75 + 1.0) / 2)
    assert rep.macro.recall == pytest.approx((1.0 + 0.25) / 2)
    assert rep.macro.f1 == pytest.approx((6 / 7 + 0.4) / 2)
    assert rep.best_threshold is None  # masks only: nothing to sweep
    # relaxed, 1 px: image a all near; image b: pred near (1/1), truth near 2/4
    assert rep.relaxed.precision == pytest.approx(1.0)
    assert rep.relaxed.recall == pytest.approx(5 / 7)
    on_disk = json.loads(out.read_text())
    assert on_disk == rep.to_json() and on_disk["micro"]["tp"] == 4 and len(on_disk["images"]) == 2
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [r["id"] for r in rows] == ["a", "b"]
    assert (rows[0]["tp"], rows[0]["fp"], rows[0]["fn"]) == ("3", "1", "0")
    assert float(rows[1]["recall"]) == pytest.approx(0.25)
    assert float(rows[1]["relaxed_recall"]) == pytest.approx(0.5)
    assert not list(out.parent.glob(".*part*"))  # no temporaries left


def test_probability_sweep_and_threshold(tmp_path):
    truth = np.zeros((10, 10), np.uint8)
    truth[:, 3] = 1
    prob = np.where(truth == 1, 180, 20).astype(np.uint8)
    prob[0, 0] = 150  # a background pixel more confident than 0.5, less than 180/255
    _write(tmp_path / "x_prob.tif", prob)
    _write(tmp_path / "x_truth.tif", truth)
    rep = evaluate(tmp_path / "x_prob.tif", tmp_path / "x_truth.tif", threshold=0.5)
    assert (rep.micro.tp, rep.micro.fp, rep.micro.fn) == (10, 1, 0)
    best = rep.best_threshold
    assert best.counts.f1 == 1.0 and 150 / 255 < best.threshold <= 180 / 255
    assert best.n_images == 1 and rep.images[0].best_threshold == best.threshold
    rep_hi = evaluate(tmp_path / "x_prob.tif", tmp_path / "x_truth.tif", threshold=0.65)
    assert rep_hi.micro.f1 == 1.0


def test_empty_images_are_defined(tmp_path):
    z = np.zeros((5, 5), np.uint8)
    _write(tmp_path / "p" / "e_mask.tif", z)
    _write(tmp_path / "t" / "e.tif", z)
    one = z.copy()
    one[2, 2] = 1
    _write(tmp_path / "p" / "f_mask.tif", z)
    _write(tmp_path / "t" / "f.tif", one)
    rep = evaluate(tmp_path / "p", tmp_path / "t", relax_px=2)
    by_id = {e.ident: e for e in rep.images}
    assert by_id["e"].counts.f1 == 1.0 and by_id["e"].counts.iou == 1.0
    assert by_id["f"].counts.f1 == 0.0 and by_id["f"].counts.precision == 0.0
    assert by_id["e"].relaxed.f1 == 1.0 and by_id["f"].relaxed.f1 == 0.0


def test_png_truth_matches_by_size(tmp_path):
    truth = np.zeros((8, 8), np.uint8)
    truth[4, :] = 255
    truth[5, :] = 100  # anti-aliased edge: below 127, background
    Image.fromarray(truth).save(tmp_path / "satImage_001.png")
    pred = (truth > 127).astype(np.uint8)
    _write(tmp_path / "satImage_001_mask.tif", pred)
    rep = evaluate(tmp_path / "satImage_001_mask.tif", tmp_path / "satImage_001.png")
    assert rep.micro.f1 == 1.0 and rep.micro.tp == 8


def test_grid_mismatch_is_one_line_error_naming_both(tmp_path):
    _write(tmp_path / "p_mask.tif", np.zeros((6, 6), np.uint8))
    _write(tmp_path / "t.tif", np.zeros((6, 7), np.uint8))
    with pytest.raises(BasissError) as exc:
        evaluate(tmp_path / "p_mask.tif", tmp_path / "t.tif")
    msg = str(exc.value)
    assert "\n" not in msg and "p_mask.tif" in msg and "t.tif" in msg and "--align" in msg
    shifted = from_origin(ORIGIN[0] + 0.6, ORIGIN[1], 0.3, 0.3)
    _write(tmp_path / "q_mask.tif", np.zeros((6, 7), np.uint8), transform=shifted)
    with pytest.raises(BasissError, match="transform"):
        evaluate(tmp_path / "q_mask.tif", tmp_path / "t.tif")
    _write(tmp_path / "r_mask.tif", np.zeros((6, 7), np.uint8), crs=32631)
    with pytest.raises(BasissError, match="CRS"):
        evaluate(tmp_path / "r_mask.tif", tmp_path / "t.tif")


def test_align_resamples_prediction_onto_truth_grid(tmp_path):
    truth = np.zeros((20, 20), np.uint8)
    truth[:, 8] = 1
    truth[10, :] = 1
    _write(tmp_path / "t.tif", truth)
    # the prediction's grid starts 2 px east: its column c is the truth's column c + 2
    pred = np.zeros((20, 20), np.uint8)
    pred[:, :18] = truth[:, 2:]
    shifted = from_origin(ORIGIN[0] + 0.6, ORIGIN[1], 0.3, 0.3)
    _write(tmp_path / "p_mask.tif", pred, transform=shifted)
    rep = evaluate(tmp_path / "p_mask.tif", tmp_path / "t.tif", align=True)
    e = rep.images[0]
    assert e.valid_pixels == 20 * 18  # the 2 westmost truth columns lie outside the prediction
    assert (e.counts.fp, e.counts.fn) == (0, 0) and e.counts.tp == 20 + 17
    # a probability on a 2x finer grid, bilinear: still exact on a constant-valued road
    fine = np.kron(truth, np.ones((2, 2), np.uint8)) * 255
    _write(tmp_path / "f_prob.tif", fine, transform=from_origin(*ORIGIN, 0.15, 0.15))
    rep2 = evaluate(tmp_path / "f_prob.tif", tmp_path / "t.tif", align=True)
    assert rep2.micro.f1 == 1.0 and rep2.images[0].valid_pixels == 400


def test_image_zero_pixels_are_not_counted(tmp_path, make_raster):
    truth = np.zeros((6, 6), np.uint8)
    truth[:, 1] = 1
    pred = np.zeros((6, 6), np.uint8)
    pred[:, 4] = 1
    _write(tmp_path / "x_mask.tif", pred)
    _write(tmp_path / "x.tif", truth)
    img = np.full((3, 6, 6), 90, np.uint8)
    img[:, :, 3:] = 0  # the eastern half is outside the scene
    image = make_raster(img, name="RGB-PanSharpen_x.tif")
    rep = evaluate(tmp_path / "x_mask.tif", tmp_path / "x.tif", image=image)
    e = rep.images[0]
    assert (e.counts.tp, e.counts.fp, e.counts.fn, e.valid_pixels) == (0, 0, 6, 18)


def test_plots_written_and_thin_roads_survive_pooling(tmp_path, make_raster):
    truth = np.zeros((30, 40), np.uint8)
    truth[:, 5] = 1
    pred = np.zeros((30, 40), np.uint8)
    pred[:, 6] = 1
    pred[3, 20:30] = 1
    _write(tmp_path / "k_mask.tif", pred)
    _write(tmp_path / "k.tif", truth)
    image = make_raster(np.full((3, 30, 40), 120, np.uint8), name="k_sat.tif")
    evaluate(tmp_path / "k_mask.tif", tmp_path / "k.tif", plots_dir=tmp_path / "fig", image=image)
    fig = tmp_path / "fig" / "k_eval.png"
    assert fig.stat().st_size > 5000
    assert Image.open(fig).size[0] > Image.open(fig).size[1]  # three panels side by side
    # max pooling keeps a 1 px line at 1/7 scale; striding would lose it
    line = np.zeros((70, 70), bool)
    line[:, 10] = True
    assert overview_factor(line.shape, 10) == 7
    assert max_pool(line, 7)[:, 1].all() and max_pool(line, 7).sum() == 10
    assert not line[::7, ::7].any()


def test_geojson_truth_is_rasterized_on_prediction_grid(tmp_path, shared_data):
    labels = pytest.importorskip("basiss.labels.centerlines")
    if not hasattr(labels, "road_mask_on_grid"):
        pytest.skip("basiss.labels.centerlines.road_mask_on_grid not available yet")
    d = shared_data / "spacenet" / "vegas_solaris_pan"
    with rasterio.open(d / "expected_mask_2m.tif") as ds:
        oracle = ds.read(1)
    _write(tmp_path / "vegas_mask.tif", oracle, transform=ds.transform, crs=ds.crs)
    rep = evaluate(tmp_path / "vegas_mask.tif", d / "roads.geojson", buffer_meters=2.0)
    # our rasterization against solaris's oracle mask
    assert rep.micro.iou > 0.95


# ---------------------------------------------------------------- real data: the OSM offset


def _paris_shifted(shared_data: Path, tmp_path: Path, east_m: float) -> tuple[Path, Path, Path]:
    labels = pytest.importorskip("basiss.labels.centerlines")
    if not hasattr(labels, "road_mask_on_grid"):
        pytest.skip("basiss.labels.centerlines.road_mask_on_grid not available yet")
    import geopandas as gpd
    from shapely.affinity import translate

    d = shared_data / "spacenet" / "paris_img1447"
    img = d / "RGB-PanSharpen_img1447.tif"
    gdf = gpd.read_file(d / "osm_roads.geojson")
    utm = gdf.estimate_utm_crs()
    moved = gdf.to_crs(utm)
    moved["geometry"] = moved.geometry.apply(lambda g: translate(g, xoff=east_m))
    with rasterio.open(img) as ds:
        mask = labels.road_mask_on_grid(
            moved.to_crs(gdf.crs), ds.crs, ds.transform, ds.width, ds.height, buffer_meters=2.0
        )
        pred = _write(tmp_path / "img1447_mask.tif", mask.astype(np.uint8), ds.transform, ds.crs)
    return pred, d / "osm_roads.geojson", img


def test_paris_relaxed_metric_forgives_the_offset(shared_data, tmp_path):
    pred, truth, img = _paris_shifted(shared_data, tmp_path, east_m=5.0)
    strict = evaluate(pred, truth, relax_px=15, image=img, plots_dir=tmp_path / "fig")
    # pixels are 2.7e-6 deg: ~0.20 m east-west at 49 N, so 5 m east is ~25 px
    wide = evaluate(pred, truth, relax_px=27)
    print(
        f"paris 5 m east: strict F1 {strict.micro.f1:.3f}, "
        f"relaxed F1 @15px {strict.relaxed.f1:.3f}, @27px {wide.relaxed.f1:.3f}"
    )
    assert strict.micro.f1 < 0.3
    assert strict.relaxed.f1 > 0.8
    assert wide.relaxed.f1 > 0.98
    assert (tmp_path / "fig" / "img1447_eval.png").is_file()


# ---------------------------------------------------------------- CLI


def test_cli_writes_report_and_prints_table(tmp_path, capsys):
    pred, truth = _two_images(tmp_path)
    _write(pred / "lonely_mask.tif", np.zeros((6, 6), np.uint8))
    out = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--pred",
            str(pred),
            "--truth",
            str(truth),
            "--out",
            str(out),
            "--relax-px",
            "2",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "micro (all px)" in text and "relaxed (2 px)" in text
    assert "1 pred file(s) without a match" in captured.err and "lonely_mask.tif" in captured.err
    assert json.loads(out.read_text())["relaxed"]["relax_px"] == 2
    assert out.with_suffix(".csv").is_file()


def test_cli_errors_are_one_line(tmp_path, capsys):
    _write(tmp_path / "p_mask.tif", np.zeros((6, 6), np.uint8))
    _write(tmp_path / "t.tif", np.zeros((5, 6), np.uint8))
    code = main(
        ["evaluate", "--pred", str(tmp_path / "p_mask.tif"), "--truth", str(tmp_path / "t.tif")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("basiss evaluate: error: ")
    code = main(
        ["evaluate", "--pred", str(tmp_path / "nope.tif"), "--truth", str(tmp_path / "t.tif")]
    )
    err = capsys.readouterr().err
    assert code == 1 and "nope.tif: no such file" in err and err.count("\n") == 1
    code = main(
        [
            "evaluate",
            "--pred",
            str(tmp_path / "p_mask.tif"),
            "--truth",
            str(tmp_path / "t.tif"),
            "--align",
        ]
    )
    assert code == 0  # same CRS, resampled: the row outside the truth grid is dropped
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--pred", "a", "--truth", "b", "--threshold", "1.5"])
    assert exc.value.code == 2


def test_modules_document_their_rules():
    for module, rules in (
        (matching, ("Image id", "Scene key", "Truth candidates", "Several predictions")),
        (layers, ("What a truth raster", "Prediction values", "Truth values", "Valid pixels")),
        (layers, ("Grids",)),
    ):
        for rule in rules:
            assert rule in (module.__doc__ or "")


# ---------------------------------------------------------------- pairing only when sure


def _multiband(path: Path, arr: np.ndarray) -> Path:
    """A (bands, rows, cols) GeoTIFF on the test grid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype=arr.dtype,
        crs=32611,
        transform=from_origin(*ORIGIN, 0.3, 0.3),
    ) as dst:
        dst.write(arr)
    return path


def _road_geojson(path: Path) -> Path:
    """One east-west centerline along row 10 of the 20x20 test grid, in EPSG:32611."""
    y = ORIGIN[1] - 10.5 * 0.3
    fc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32611"}},
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[ORIGIN[0], y], [ORIGIN[0] + 6, y]],
                },
            }
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fc))
    return path


def _scene_image(rng: np.random.Generator) -> np.ndarray:
    """A 3-band uint16 11-bit 'image' of 20x20 pixels."""
    return rng.integers(1, 2048, (3, 20, 20)).astype(np.uint16)


def test_readme_case_image_beside_geojson_is_refused_and_the_geojson_scores(tmp_path):
    """`--truth data/broad_area` holds the scene image and its centerlines: the image is
    refused (with the reason) and the prediction is scored against the GeoJSON."""
    stem = "AOI_9_Sample_broad"
    area = tmp_path / "broad_area"
    _multiband(area / f"RGB-PanSharpen_{stem}.tif", _scene_image(np.random.default_rng(0)))
    geo = _road_geojson(area / f"spacenetroads_{stem}.geojson")
    grid = read_prediction(_write(tmp_path / "g.tif", np.zeros((20, 20), np.uint8)))
    road = layers.rasterize_truth(geo, grid, buffer_meters=1.0).data
    _write(tmp_path / "pred" / f"RGB-PanSharpen_{stem}_mask.tif", road.astype(np.uint8))
    rep = evaluate(tmp_path / "pred", area, buffer_meters=1.0)
    assert [r.truth.name for r in rep.images] == [geo.name]
    assert rep.micro.f1 == 1.0 and rep.micro.tp == int(road.sum()) > 20
    (refused,) = rep.refused
    assert refused.path.name == f"RGB-PanSharpen_{stem}.tif"
    assert "not a truth mask: 3 bands that differ" in refused.reason
    assert rep.to_json()["refused"] == [{"path": str(refused.path), "reason": refused.reason}]
    # without the GeoJSON, nothing pairs: a one-line error that says why
    geo.unlink()
    with pytest.raises(BasissError) as exc:
        evaluate(tmp_path / "pred", area)
    msg = str(exc.value)
    assert "\n" not in msg and "refused" in msg and "3 bands that differ" in msg


@pytest.mark.parametrize(
    ("arr", "reason"),
    [
        (_scene_image(np.random.default_rng(1)), "3 bands that differ"),
        (_scene_image(np.random.default_rng(2))[:1], "values up to"),
        (np.random.default_rng(3).integers(0, 256, (1, 20, 20)).astype(np.uint8), "only 1%"),
        (np.zeros((1, 20, 20), np.float32), "float32 values"),
    ],
)
def test_truth_file_that_is_no_mask_is_a_one_line_error(tmp_path, arr, reason):
    _write(tmp_path / "x_mask.tif", np.zeros((20, 20), np.uint8))
    truth = _multiband(tmp_path / "x.tif", arr)
    with pytest.raises(BasissError) as exc:
        evaluate(tmp_path / "x_mask.tif", truth)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{truth}: not a truth mask: ") and reason in msg


def test_mask_like_truths_are_accepted(tmp_path):
    road = np.zeros((20, 20), np.uint8)
    road[10] = 1
    pred = _write(tmp_path / "x_mask.tif", road)
    grey = np.where(road, 255, 0).astype(np.uint8)
    grey[9] = 100  # an anti-aliased edge row (5% of the pixels)
    for name, arr in (
        ("01.tif", road[None]),
        ("0255_rgb.tif", np.repeat(grey[None], 3, axis=0)),  # a grey mask saved as RGB
        ("u16.tif", road[None].astype(np.uint16)),
        ("empty.tif", np.zeros((1, 20, 20), np.uint8)),
    ):
        rep = evaluate(pred, _multiband(tmp_path / name, arr))
        assert rep.micro.tp == (0 if name == "empty.tif" else 20), name
        assert rep.micro.fp == (20 if name == "empty.tif" else 0), name


def test_real_masks_pass_and_real_images_fail_the_mask_check(shared_data):
    for d in ("cil2016", "cil2022_train"):
        masks = sorted((shared_data / d / "groundtruth").iterdir())[:5]
        images = sorted((shared_data / d / "images").iterdir())[:5]
        assert [layers.truth_raster_problem(m) for m in masks] == [None] * 5, d
        assert all(layers.truth_raster_problem(i) is not None for i in images), d
    for f in sorted((shared_data / "deepglobe").iterdir()):
        problem = layers.truth_raster_problem(f)
        assert (problem is None) == f.name.endswith("_mask.png"), (f.name, problem)
    sn = shared_data / "spacenet"
    assert layers.truth_raster_problem(sn / "vegas_solaris_pan" / "expected_mask_2m.tif") is None
    pan = layers.truth_raster_problem(sn / "vegas_solaris_pan" / "PAN_AOI_2_Vegas_sample.tif")
    assert pan is not None and "values up to 2047" in pan
    assert layers.truth_raster_problem(sn / "paris_img1447" / "RGB-PanSharpen_img1447.tif")


def test_deepglobe_folder_pairs_masks_not_images(shared_data, tmp_path):
    """`--truth deepglobe/` holds X_sat.jpg and X_mask.png (one id): only the mask is truth."""
    src = shared_data / "deepglobe" / "104_mask.png"
    with rasterio.open(src) as ds:
        mask = (ds.read(1) > 127).astype(np.uint8)
    Image.fromarray(mask).save(tmp_path / "104_mask.png")
    rep = evaluate(tmp_path / "104_mask.png", shared_data / "deepglobe")
    assert [r.truth.name for r in rep.images] == ["104_mask.png"]
    assert rep.micro.f1 == 1.0
    assert sorted(r.path.name for r in rep.refused) == [
        "104_sat.jpg",
        "113_sat.jpg",
        "343_sat.jpg",
        "388_sat.jpg",
    ]


def test_two_truth_candidates_for_one_id_is_an_error_naming_both(tmp_path):
    _write(tmp_path / "p" / "AOI_2_Vegas_img1_mask.tif", np.zeros((20, 20), np.uint8))
    _write(tmp_path / "t" / "AOI_2_Vegas_img1_mask.tif", np.zeros((20, 20), np.uint8))
    _road_geojson(tmp_path / "t" / "spacenetroads_AOI_2_Vegas_img1.geojson")
    with pytest.raises(BasissError) as exc:
        evaluate(tmp_path / "p", tmp_path / "t")
    msg = str(exc.value)
    assert "\n" not in msg and "several truth files for image id AOI_2_Vegas_img1" in msg
    assert "AOI_2_Vegas_img1_mask.tif" in msg and "spacenetroads_AOI_2_Vegas_img1.geojson" in msg


def test_pairing_uses_the_whole_id(tmp_path):
    z = np.zeros((6, 6), np.uint8)
    _write(tmp_path / "p" / "RGB-PanSharpen_AOI_2_Vegas_img5_prob.tif", z)
    _write(tmp_path / "p" / "RGB-PanSharpen_AOI_2_Vegas_img6_prob.tif", z)
    _write(tmp_path / "t" / "SN3_roads_train_AOI_3_Paris_geojson_roads_img5.tif", z)
    _write(tmp_path / "t" / "SN3_roads_train_AOI_2_Vegas_geojson_roads_img6.tif", z)
    _write(tmp_path / "t" / "img5.tif", z)  # no AOI: not sure either
    m = match_files(tmp_path / "p", tmp_path / "t")
    assert [(p.ident, p.truth.name) for p in m.pairs] == [
        ("AOI_2_Vegas_img6", "SN3_roads_train_AOI_2_Vegas_geojson_roads_img6.tif")
    ]
    assert len(m.unmatched_pred) == 1 and len(m.unmatched_truth) == 2
    (tmp_path / "t" / "img5.tif").unlink()  # Vegas img5 and Paris img5 alone: still no pair
    m = match_files(tmp_path / "p", tmp_path / "t")
    assert [p.ident for p in m.pairs] == ["AOI_2_Vegas_img6"]
    # single files naming different AOIs (or images) are refused, with --align too
    shifted = from_origin(ORIGIN[0] + 1000, ORIGIN[1], 0.3, 0.3)
    pred = _write(tmp_path / "AOI_2_Vegas_img5_mask.tif", z)
    for truth_name in ("AOI_3_Paris_img5_mask.tif", "AOI_2_Vegas_img7_mask.tif"):
        truth = _write(tmp_path / truth_name, z, transform=shifted)
        with pytest.raises(BasissError) as exc:
            evaluate(pred, truth, align=True)
        msg = str(exc.value)
        assert "\n" not in msg and "names image AOI_2_Vegas_img5" in msg and truth_name in msg
    # names without a scene key still pair alone
    other = _write(tmp_path / "roads.tif", z)
    assert [r.truth for r in evaluate(pred, other).scored] == [other]


def _pair_with_nodata(tmp_path: Path) -> tuple[Path, Path]:
    """Image a scores 0.75 precision; image b's prediction is nodata everywhere."""
    truth = np.zeros((6, 6), np.uint8)
    truth[0, :3] = 1
    pred = np.zeros((6, 6), np.uint8)
    pred[0, :4] = 1
    _write(tmp_path / "p" / "a_mask.tif", pred)
    _write(tmp_path / "t" / "a.tif", truth)
    _write(
        tmp_path / "p" / "b_prob.tif",
        np.full((6, 6), 200, np.uint8),
        mask=np.zeros((6, 6), np.uint8),
    )
    _write(tmp_path / "t" / "b.tif", truth)
    return tmp_path / "p", tmp_path / "t"


def test_image_without_valid_pixel_is_skipped_not_scored_one(tmp_path):
    pred, truth = _pair_with_nodata(tmp_path)
    rep = evaluate(pred, truth, out_json=tmp_path / "r.json", relax_px=1)
    assert [r.ident for r in rep.scored] == ["a"]
    (skipped,) = rep.skipped
    assert skipped.ident == "b" and skipped.status is ImageStatus.NO_VALID_PIXELS
    assert "prediction is nodata everywhere" in skipped.reason
    # the averages are image a's alone; b's probabilities enter no sweep
    assert rep.macro.precision == pytest.approx(0.75) and rep.macro.f1 == pytest.approx(6 / 7)
    assert rep.micro.tp == 3 and rep.best_threshold is None and rep.relaxed.precision == 1.0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["n_images"] == 1 and [e["id"] for e in doc["images"]] == ["a"]
    assert doc["skipped"] == [
        {
            "id": "b",
            "pred": str(pred / "b_prob.tif"),
            "truth": str(truth / "b.tif"),
            "status": "no_valid_pixels",
            "reason": skipped.reason,
        }
    ]
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["id"] for r in rows] == ["a"]
    assert "skipped b: no valid pixel" in format_table(rep)
    # nothing left to score: an error, never a 1.0
    with pytest.raises(BasissError, match="no image has a valid pixel"):
        evaluate(pred / "b_prob.tif", truth / "b.tif")


def test_align_without_overlap_is_skipped(tmp_path):
    truth = np.zeros((6, 6), np.uint8)
    _write(tmp_path / "t.tif", truth)
    far = from_origin(ORIGIN[0] + 100, ORIGIN[1], 0.3, 0.3)
    _write(tmp_path / "p_mask.tif", truth, transform=far)
    with pytest.raises(BasissError) as exc:
        evaluate(tmp_path / "p_mask.tif", tmp_path / "t.tif", align=True)
    assert "does not overlap the truth grid" in str(exc.value)


def test_image_zero_everywhere_is_skipped(tmp_path, make_raster):
    _write(tmp_path / "x_mask.tif", np.zeros((6, 6), np.uint8))
    _write(tmp_path / "x.tif", np.zeros((6, 6), np.uint8))
    image = make_raster(np.zeros((3, 6, 6), np.uint8), name="x_sat.tif")
    with pytest.raises(BasissError, match="x_sat.tif is nodata"):
        evaluate(tmp_path / "x_mask.tif", tmp_path / "x.tif", image=image)


def test_out_a_folder_is_a_one_line_error_before_any_work(tmp_path, capsys):
    pred, truth = _two_images(tmp_path)
    (tmp_path / "reports").mkdir()
    with pytest.raises(BasissError, match="is a folder"):
        evaluate(pred, truth, out_json=tmp_path / "reports")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(BasissError, match="is a file, not a folder"):
        evaluate(pred, truth, out_json=tmp_path / "afile" / "r.json")
    code = main(
        ["evaluate", "--pred", str(pred), "--truth", str(truth), "--out", str(tmp_path / "reports")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "reports: is a folder" in err
    assert list((tmp_path / "reports").iterdir()) == []
