"""The SpaceNet-layout job: discovery, 8-bit images, masks, figures, CSV, re-runs, failures."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from basiss.cli import main
from basiss.errors import BasissError
from basiss.io.filelist import read_file_list
from basiss.labels import spacenet as mk
from basiss.labels.centerlines import road_mask

DEG = 2.7e-6  # SpaceNet 3 pixel, degrees
SIZE = 64
CITY = "AOI_9_Testville"


def _write_tif(path: Path, arr: np.ndarray, transform, crs="EPSG:4326") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype=arr.dtype,
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(arr)


def _east_west(lon0: float, lat: float) -> dict:
    return {
        "type": "Feature",
        "properties": {"lane_number": "2"},
        "geometry": {
            "type": "LineString",
            "coordinates": [[lon0 - 5 * DEG, lat], [lon0 + (SIZE + 5) * DEG, lat]],
        },
    }


def build_aoi(root: Path, n_chips: int = 3, seed: int = 0) -> Path:
    """A minimal SpaceNet 3 AOI: RGB (3-band) and MUL (8-band) uint16 chips + road labels.

    Chip 0 and 1 have an east-west road across row 32; the last chip has no
    label file (a road-less SpaceNet chip), chip 1's label file has 0 features
    when ``n_chips`` > 3 (not by default).
    """
    rng = np.random.default_rng(seed)
    aoi = root / f"{CITY}_Train"
    labels = aoi / "geojson" / "spacenetroads"
    labels.mkdir(parents=True)
    for i in range(n_chips):
        lon0, lat0 = -115.3 + i * 0.001, 36.2
        t = from_origin(lon0, lat0, DEG, DEG)
        name = f"{CITY}_img{i + 1}"
        rgb = rng.integers(50, 2000, (3, SIZE, SIZE)).astype(np.uint16)
        mul = rng.integers(50, 2000, (8, SIZE, SIZE)).astype(np.uint16)
        _write_tif(aoi / "RGB-PanSharpen" / f"RGB-PanSharpen_{name}.tif", rgb, t)
        _write_tif(aoi / "MUL-PanSharpen" / f"MUL-PanSharpen_{name}.tif", mul, t)
        if i < n_chips - 1:
            lat = lat0 - 32.5 * DEG
            fc = {"type": "FeatureCollection", "features": [_east_west(lon0, lat)]}
            (labels / f"spacenetroads_{name}.geojson").write_text(json.dumps(fc))
    return aoi


@pytest.fixture
def aoi(tmp_path: Path) -> Path:
    return build_aoi(tmp_path)


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def age(folder: Path) -> None:
    """Set every file's mtime an hour back, so a rewrite is visible whatever the clock."""
    for p in folder.rglob("*"):
        if p.is_file():
            st = p.stat()
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - 3600 * 10**9))


# ---- discovery ------------------------------------------------------------------------------


def test_discover_names_and_paths(aoi):
    jobs = mk.discover_spacenet(aoi, 3)
    assert [j.name for j in jobs] == [f"{CITY}_img{i}" for i in (1, 2, 3)]
    assert jobs[0].labels.name == f"spacenetroads_{CITY}_img1.geojson"
    assert jobs[2].labels is None
    assert jobs[0].im_file.parent.name == "RGB-PanSharpen_8bit"
    assert jobs[0].mask_file.parent.name == "masks_2m"
    assert jobs[0].im_vis_file == jobs[0].im_file


def test_mask_folder_name_reflects_buffer():
    assert mk.mask_folder_name(mk.MaskSettings(buffer_meters=2.0)) == "masks_2m"
    assert mk.mask_folder_name(mk.MaskSettings(buffer_meters=1.5)) == "masks_1.5m"
    assert (
        mk.mask_folder_name(mk.MaskSettings(width_from_lanes=True, meters_per_lane=3.5))
        == "masks_lanes3.5m"
    )


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("missing", "no such folder"),
        ("no_images", "no RGB-PanSharpen/ folder"),
        ("no_labels", "no label folder"),
    ],
)
def test_discover_errors(tmp_path, setup, match):
    root = tmp_path / "aoi"
    if setup != "missing":
        root.mkdir()
    if setup == "no_labels":
        _write_tif(
            root / "RGB-PanSharpen" / "RGB-PanSharpen_x.tif",
            np.ones((3, 4, 4), np.uint16),
            from_origin(0, 0, DEG, DEG),
        )
    with pytest.raises(BasissError, match=match):
        mk.discover_spacenet(root, 3)


# ---- the 3-band run -------------------------------------------------------------------------


def test_three_band_run(aoi, tmp_path):
    csv_path = tmp_path / "file_locs.csv"
    report = mk.prepare_spacenet(aoi, csv_path, n_bands=3, workers=1)
    assert (report.done, report.skipped, report.failed) == (3, 0, 0)
    # only the chip without labels warns, naming the expected label file
    assert len(report.messages) == 1
    assert report.messages[0].startswith("warning: ")
    assert f"spacenetroads_{CITY}_img3.geojson: no such label file" in report.messages[0]

    with csv_path.open() as fh:
        assert next(csv.reader(fh)) == [
            "name",
            "im_file",
            "im_vis_file",
            "mask_file",
            "mask_vis_file",
        ]
    pairs = read_file_list(csv_path)
    assert [p.name for p in pairs] == [f"{CITY}_img{i}" for i in (1, 2, 3)]
    for pair, raw in zip(pairs, sorted((aoi / "RGB-PanSharpen").iterdir()), strict=True):
        with (
            rasterio.open(raw) as src,
            rasterio.open(pair.im_file) as im,
            rasterio.open(pair.mask_file) as m,
        ):
            for ds in (im, m):
                assert (ds.crs, ds.transform, ds.width, ds.height) == (
                    src.crs,
                    src.transform,
                    src.width,
                    src.height,
                )
            assert im.count == 3 and im.dtypes == ("uint8",) * 3
            assert m.count == 1 and m.dtypes[0] == "uint8" and m.nodata is None
            img, mask = im.read(), m.read(1)
        assert img.min() >= 1  # no nodata in these chips: stretched to 1..255
        label = aoi / "geojson" / "spacenetroads" / f"spacenetroads_{pair.name}.geojson"
        expected = road_mask(label, raw) if label.exists() else np.zeros_like(mask)
        assert np.array_equal(mask, expected)
        assert pair.im_vis_file == pair.im_file and pair.mask_vis_file == ""
    with rasterio.open(pairs[0].mask_file) as m:
        width = int(m.read(1)[:, SIZE // 2].sum())
    assert abs(width - 4.0 / (DEG * 111_000)) <= 1  # 2 m buffer: ~13.4 px


def test_rerun_is_noop_and_overwrite_redoes(aoi, tmp_path):
    csv_path = tmp_path / "file_locs.csv"
    mk.prepare_spacenet(aoi, csv_path, workers=1, make_plots=True)
    age(aoi)
    age(tmp_path)
    before = mtimes(tmp_path)
    again = mk.prepare_spacenet(aoi, csv_path, workers=1, make_plots=True)
    assert (again.done, again.skipped, again.failed) == (0, 3, 0)
    assert again.messages == []  # skipped chips are not even opened
    assert mtimes(tmp_path) == before

    redo = mk.prepare_spacenet(aoi, csv_path, workers=1, make_plots=True, overwrite=True)
    assert (redo.done, redo.skipped, redo.failed) == (3, 0, 0)
    after = mtimes(tmp_path)
    outputs = [p for p in before if "_8bit" in p or "masks_2m" in p]
    assert len(outputs) == 3 + 3 + 3  # images, masks, plots
    assert all(after[p] > before[p] for p in outputs)
    assert after[str(csv_path)] == before[str(csv_path)]  # same rows: not rewritten
    assert all(before[p] == after[p] for p in before if "PanSharpen/" in p)  # inputs untouched


def test_missing_output_is_redone_alone(aoi, tmp_path):
    csv_path = tmp_path / "f.csv"
    mk.prepare_spacenet(aoi, csv_path, workers=1)
    age(aoi)
    before = mtimes(aoi)
    victim = aoi / "masks_2m" / f"{CITY}_img2.tif"
    victim.unlink()
    report = mk.prepare_spacenet(aoi, csv_path, workers=1)
    assert (report.done, report.skipped) == (1, 2)
    after = mtimes(aoi)
    changed = [p for p in after if after[p] != before.get(p)]
    assert changed == [str(victim)]


def test_plots(aoi, tmp_path):
    report = mk.prepare_spacenet(aoi, tmp_path / "f.csv", workers=1, make_plots=True)
    for pair in report.pairs:
        plot = Path(pair.mask_vis_file)
        assert plot.parent.name == "masks_2m_plots" and plot.suffix == ".png"
        with rasterio.open(plot) as ds:  # a real PNG, 4 panels side by side
            assert ds.width > 3 * ds.height


# ---- 8 bands --------------------------------------------------------------------------------


def test_eight_band_run(aoi, tmp_path):
    report = mk.prepare_spacenet(aoi, tmp_path / "f8.csv", n_bands=8, workers=1)
    assert report.failed == 0 and len(report.pairs) == 3
    for pair in report.pairs:
        assert Path(pair.im_file).parent.name == "MUL-PanSharpen_8bit"
        assert Path(pair.im_vis_file).parent.name == "RGB-PanSharpen_8bit"
        with rasterio.open(pair.im_file) as im, rasterio.open(pair.im_vis_file) as vis:
            assert im.count == 8 and vis.count == 3
            assert vis.transform == im.transform
        # RGB-PanSharpen exists here, so the rendering is its stretch, not MUL bands
        raw_rgb = aoi / "RGB-PanSharpen" / Path(pair.im_vis_file).name
        with rasterio.open(raw_rgb) as raw, rasterio.open(pair.im_vis_file) as vis:
            assert np.corrcoef(raw.read(1).ravel(), vis.read(1).ravel())[0, 1] > 0.99


def test_eight_band_vis_from_mul_when_no_rgb(aoi, tmp_path):
    for p in (aoi / "RGB-PanSharpen").iterdir():
        p.unlink()
    (aoi / "RGB-PanSharpen").rmdir()
    report = mk.prepare_spacenet(aoi, tmp_path / "f8.csv", n_bands=8, workers=1)
    assert report.failed == 0
    pair = report.pairs[0]
    with rasterio.open(pair.im_file) as im, rasterio.open(pair.im_vis_file) as vis:
        assert np.array_equal(vis.read(), im.read(list(mk.RGB_OF_MUL)))


# ---- failures -------------------------------------------------------------------------------


def _break(aoi: Path, how: str) -> tuple[Path, str]:
    """Break chip 2 in one way; returns (the file named in the error, a message fragment)."""
    name = f"{CITY}_img2"
    image = aoi / "RGB-PanSharpen" / f"RGB-PanSharpen_{name}.tif"
    labels = aoi / "geojson" / "spacenetroads" / f"spacenetroads_{name}.geojson"
    if how == "truncated":
        data = image.read_bytes()
        image.write_bytes(data[: len(data) // 3])
        return image, "read failed"
    if how == "garbage":
        image.write_bytes(b"not a tiff at all")
        return image, "not a readable raster"
    if how == "no_crs":
        with rasterio.open(image) as ds:
            arr, t = ds.read(), ds.transform
        image.unlink()
        _write_tif(image, arr, t, crs=None)
        return image, "has no CRS"
    if how == "bad_geojson":
        labels.write_text('{"type": "FeatureCollection", "features": [')
        return labels, "not a readable vector file"
    if how == "labels_elsewhere":  # lon/lat swapped: the road lands far from the chip
        fc = json.loads(labels.read_text())
        for f in fc["features"]:
            f["geometry"]["coordinates"] = [[y, x] for x, y in f["geometry"]["coordinates"]]
        labels.write_text(json.dumps(fc))
        return labels, "every road misses the image"
    if how == "one_band":
        with rasterio.open(image) as ds:
            arr, t = ds.read(1)[None], ds.transform
        image.unlink()
        _write_tif(image, arr, t)
        return image, "has 1 band(s); this run takes 3"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["truncated", "garbage", "no_crs", "bad_geojson", "labels_elsewhere", "one_band"]
)
def test_bad_chip_fails_alone(aoi, tmp_path, how):
    named, fragment = _break(aoi, how)
    csv_path = tmp_path / "f.csv"
    report = mk.prepare_spacenet(aoi, csv_path, workers=1)
    assert (report.done, report.failed) == (2, 1)
    errors = [m for m in report.messages if m.startswith("error:")]
    assert len(errors) == 1 and str(named) in errors[0] and fragment in errors[0]
    assert "\n" not in errors[0]
    # no output at all for the failed chip (not even a temporary), others complete
    leftovers = [p.name for p in aoi.rglob("*img2*") if "PanSharpen/" not in str(p)]
    leftovers = [p for p in leftovers if not p.startswith("spacenetroads_")]
    assert leftovers == []
    assert not list(aoi.rglob(".*part*"))
    assert [p.name for p in read_file_list(csv_path)] == [f"{CITY}_img1", f"{CITY}_img3"]


def test_cli_folder_mode_exit_status(aoi, tmp_path, capsys):
    _break(aoi, "truncated")
    csv_path = tmp_path / "f.csv"
    args = ["masks", "--path_data", str(aoi), "--output_df_path", str(csv_path)]
    code = main([*args, "--workers", "1", "--n_bands", "3", "--buffer_meters", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2  # one warning (chip 3 has no labels), one error (chip 2)
    assert all(line.startswith("basiss masks: ") for line in lines)
    assert "2 done, 0 skipped, 1 failed" in captured.out
    assert csv_path.is_file()


def test_allow_empty_keeps_an_image_whose_roads_all_miss_it(aoi, tmp_path):
    _break(aoi, "labels_elsewhere")
    report = mk.prepare_spacenet(aoi, tmp_path / "f.csv", workers=1, allow_empty=True)
    assert (report.done, report.failed) == (3, 0)
    assert any("do not intersect" in m for m in report.messages)
    assert len(read_file_list(tmp_path / "f.csv")) == 3


def test_single_mode_errors_are_one_line(aoi, tmp_path, capsys):
    image = aoi / "RGB-PanSharpen" / f"RGB-PanSharpen_{CITY}_img1.tif"
    labels = aoi / "geojson" / "spacenetroads" / f"spacenetroads_{CITY}_img1.geojson"
    (tmp_path / "adir").mkdir()
    truncated = tmp_path / "t.tif"
    truncated.write_bytes(image.read_bytes()[:4000])
    cases = [
        ([str(image), str(labels), str(tmp_path / "adir")], "is a folder"),
        ([str(truncated), str(labels), str(tmp_path / "m.tif")], "truncated or corrupt"),
    ]
    for (img, lab, out), fragment in cases:
        code = main(["masks", "--image", img, "--labels", lab, "--out", out])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "m.tif").exists() and not list(tmp_path.glob(".*part*"))


def test_cli_folder_mode_ok(aoi, capsys):
    code = main(["masks", "--path-data", str(aoi), "--workers", "1", "--overwrite_ims"])
    assert code == 0
    assert (aoi / "file_locs.csv").is_file()  # default CSV location
    assert "3 done" in capsys.readouterr().out


def test_cli_rejects_both_modes(aoi, tmp_path, capsys):
    code = main(["masks", "--path-data", str(aoi), "--image", "x.tif"])
    assert code == 2 and "not both" in capsys.readouterr().err


# ---- parallel == serial ---------------------------------------------------------------------


def test_workers_give_identical_outputs(tmp_path):
    serial = build_aoi(tmp_path / "a")
    parallel = build_aoi(tmp_path / "b")
    r1 = mk.prepare_spacenet(serial, tmp_path / "a.csv", workers=1)
    r2 = mk.prepare_spacenet(parallel, tmp_path / "b.csv", workers=2)
    assert (r2.done, r2.failed) == (3, 0) and r1.messages == [
        m.replace("/b/", "/a/") for m in r2.messages
    ]
    for p1, p2 in zip(r1.pairs, r2.pairs, strict=True):
        for f1, f2 in ((p1.im_file, p2.im_file), (p1.mask_file, p2.mask_file)):
            with rasterio.open(f1) as a, rasterio.open(f2) as b:
                assert np.array_equal(a.read(), b.read())


# ---- on `basiss sample` data ----------------------------------------------------------------


@pytest.fixture
def sample_layout(tmp_path):
    sample = pytest.importorskip("basiss.synthetic")
    return sample.write_sample(
        tmp_path / "sample", seed=0, n_train=3, n_test=1, chip_size=256, broad_size=256
    )


@pytest.mark.parametrize("n_bands", [3, 8])
def test_sample_layout_run(sample_layout, tmp_path, n_bands):
    from basiss.synthetic import image_ids

    train = sample_layout.train_dir
    csv_path = tmp_path / "file_locs.csv"
    report = mk.prepare_spacenet(train, csv_path, n_bands=n_bands, workers=1)
    assert report.failed == 0 and not [m for m in report.messages if m.startswith("error")]
    pairs = read_file_list(csv_path)
    assert len(pairs) == len(image_ids(train)) == 3
    road_px = 0
    for pair in pairs:
        raw = next((train / mk.BAND_FOLDERS[n_bands]).glob(f"*_{pair.name}.tif"))
        with (
            rasterio.open(raw) as src,
            rasterio.open(pair.im_file) as im,
            rasterio.open(pair.im_vis_file) as vis,
            rasterio.open(pair.mask_file) as m,
        ):
            for ds in (im, vis, m):
                assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)
            assert im.count == n_bands and vis.count == 3 and im.dtypes[0] == "uint8"
            nodata = np.all(src.read() == 0, axis=0)
            assert np.array_equal(np.all(im.read() == 0, axis=0), nodata)
            # nodata kept as the internal mask band (basiss.io.cog), on the image and its mask
            assert im.nodata is None and m.nodata is None
            assert np.array_equal(im.dataset_mask() == 0, nodata)
            assert np.array_equal(m.dataset_mask() == 0, nodata)
            mask = m.read(1)
        label = train / "geojson" / "spacenetroads" / f"spacenetroads_{pair.name}.geojson"
        assert np.array_equal(mask, road_mask(label, raw))
        road_px += int(mask.sum())
    assert road_px > 0

    before = mtimes(tmp_path)
    again = mk.prepare_spacenet(train, csv_path, n_bands=n_bands, workers=1)
    assert (again.done, again.skipped) == (0, 3) and mtimes(tmp_path) == before
    age(train)
    aged = mtimes(train)
    redo = mk.prepare_spacenet(train, csv_path, n_bands=n_bands, workers=1, overwrite=True)
    assert redo.done == 3
    after = mtimes(train)
    assert all(after[p] > aged[p] for p in aged if "_8bit" in p or "masks_2m" in p)


@pytest.mark.parametrize("which", ["chip", "broad"])
@pytest.mark.parametrize("buffer", [1.0, 2.0])
def test_sample_east_west_width(sample_layout, tmp_path, which, buffer):
    """A straight east-west road on the sample's grids is 2 x buffer / GSD pixels wide, +-1."""
    import geopandas as gpd
    from shapely.geometry import LineString

    if which == "chip":
        image = next((sample_layout.train_dir / "RGB-PanSharpen").glob("*.tif"))
    else:
        image = sample_layout.broad_image
    with rasterio.open(image) as ds:
        t, h, w, crs = ds.transform, ds.height, ds.width, ds.crs
    row = h // 2
    (x0, y), (x1, _) = t @ (-5, row + 0.5), t @ (w + 5, row + 0.5)
    road = gpd.GeoDataFrame(geometry=[LineString([(x0, y), (x1, y)])], crs=crs).to_crs(4326)
    mask = road_mask(road, image, buffer_meters=buffer)
    gsd_y = abs(t.e) * (111_000 if crs.is_geographic else 1.0)
    width = int(mask[:, w // 2].sum())
    assert abs(width - 2 * buffer / gsd_y) <= 1
    assert np.flatnonzero(mask[:, w // 2]).mean() == pytest.approx(row, abs=0.5)


def test_forkserver_workers_give_identical_outputs(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", object())  # forces the forkserver path
    a, b = build_aoi(tmp_path / "a"), build_aoi(tmp_path / "b")
    r1 = mk.prepare_spacenet(a, tmp_path / "a.csv", workers=1)
    r2 = mk.prepare_spacenet(b, tmp_path / "b.csv", workers=2)
    assert (r2.done, r2.failed) == (3, 0)
    for p1, p2 in zip(r1.pairs, r2.pairs, strict=True):
        with rasterio.open(p1.mask_file) as x, rasterio.open(p2.mask_file) as y:
            assert np.array_equal(x.read(), y.read())
