"""Prediction at the model's GSD: same as resampling by hand, on the input's grid, flat."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from basiss.errors import BasissError
from basiss.inference.gsd import scale_factor, scaled_size
from basiss.inference.options import PredictOptions
from basiss.inference.predict import predict_image
from helpers import random_checkpoint

torch.set_num_threads(1)
QUIET = dict(show_progress=False, engine="torch")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A random 4-wide U-Net-small that says it was trained at 0.3 m."""
    return random_checkpoint(tmp_path_factory.mktemp("ck") / "m.pt", gsd=0.3)


def scene(make_raster, h: int, w: int, px: float, name: str, crs: int | None = 32611) -> Path:
    rng = np.random.default_rng(h + w)
    small = rng.integers(1, 255, (3, h // 6 + 1, w // 6 + 1))
    arr = np.kron(small, np.ones((1, 6, 6), dtype=np.int64))[:, :h, :w].astype(np.uint8)
    return make_raster(arr, crs=crs, transform=from_origin(500000.0, 4e6, px, px), name=name)


def read(path: Path, **kw) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(1, **kw), {"crs": ds.crs, "transform": ds.transform, "shape": ds.shape}


def test_scale_factor_and_size():
    assert scale_factor(0.3, 0.6) == 2.0 and scale_factor(0.3, 1.0) == pytest.approx(10 / 3)
    assert scale_factor(0.3, 0.34) == 1.0 and scale_factor(0.276, 0.3) == 1.0
    assert scale_factor(0.3, 0.36) == pytest.approx(1.2) and scale_factor(None, 1.0) == 1.0
    assert scale_factor(0.3, 0.6, "off") == 1.0
    # a model trained with --zoom: its zoom when a GSD is unknown, its GSD when both are known
    assert scale_factor(None, None, zoom=0.5) == 0.5 and scale_factor(None, 0.3, zoom=0.5) == 0.5
    assert scale_factor(0.6, 0.3, zoom=0.5) == 0.5 and scale_factor(0.6, 0.6, zoom=0.5) == 1.0
    assert scale_factor(None, None, "off", zoom=0.5) == 1.0
    assert scaled_size(100, 75, 2.0) == (200, 150)
    with pytest.raises(BasissError, match="unknown --gsd 'on'"):
        scale_factor(0.3, 0.6, "on")


def test_auto_equals_resampling_by_hand_and_keeps_the_grid(ckpt, make_raster, tmp_path):
    """0.6 m input, 0.3 m model: ``--gsd auto`` == upsample x2 (GDAL bilinear), predict,
    downsample back; the outputs sit on the input's exact grid."""
    src = scene(make_raster, 90, 130, 0.6, "in.tif")
    auto = predict_image(src, ckpt, tmp_path / "auto", PredictOptions(**QUIET))
    with rasterio.open(src) as ds:
        up = ds.read(out_shape=(3, 180, 260), resampling=Resampling.bilinear)
        big = make_raster(up, transform=from_origin(500000.0, 4e6, 0.3, 0.3), name="up.tif")
    by_hand = predict_image(big, ckpt, tmp_path / "hand", PredictOptions(gsd="off", **QUIET))
    expect, _ = read(by_hand.prob_path, out_shape=(90, 130), resampling=Resampling.bilinear)
    got, grid = read(auto.prob_path)
    assert np.abs(got.astype(int) - expect.astype(int)).max() <= 1
    _, src_grid = read(src)
    assert grid == src_grid and read(auto.mask_path)[1] == src_grid
    assert auto.chips_total == by_hand.chips_total  # the chips of the 0.3 m grid
    off = predict_image(src, ckpt, tmp_path / "off", PredictOptions(gsd="off", **QUIET))
    assert not np.array_equal(read(off.prob_path)[0], got)
    assert sorted(p.name for p in (tmp_path / "auto").iterdir() if p.name.startswith(".")) == []


def test_input_gsd_for_a_raster_without_crs(ckpt, make_raster, tmp_path):
    src = scene(make_raster, 60, 70, 1.0, "nocrs.tif", crs=None)
    native = predict_image(src, ckpt, tmp_path / "a", PredictOptions(**QUIET))
    given = predict_image(src, ckpt, tmp_path / "b", PredictOptions(input_gsd=0.6, **QUIET))
    assert native.chips_total < given.chips_total  # unknown GSD: as it is; 0.6 m: x2
    assert read(given.prob_path)[0].shape == (60, 70)


def test_a_zoomed_model_on_an_image_without_gsd_is_predicted_at_its_zoom(make_raster, tmp_path):
    """A model that learnt at half its (CRS-less) images' resolution: its input is
    predicted at x0.5, exactly as a 0.6 m model predicts a 0.3 m image (two code paths,
    one result), and the outputs are on the input's grid."""
    zoomed = random_checkpoint(tmp_path / "z.pt", zoom=0.5)
    by_gsd = random_checkpoint(tmp_path / "g.pt", gsd=0.6)
    src = scene(make_raster, 120, 100, 0.3, "nocrs.tif", crs=None)
    a = predict_image(src, zoomed, tmp_path / "a", PredictOptions(**QUIET))
    b = predict_image(src, by_gsd, tmp_path / "b", PredictOptions(input_gsd=0.3, **QUIET))
    native = predict_image(src, zoomed, tmp_path / "c", PredictOptions(gsd="off", **QUIET))
    assert a.chips_total == b.chips_total < native.chips_total
    got, grid = read(a.prob_path)
    assert np.array_equal(got, read(b.prob_path)[0])
    assert grid["shape"] == (120, 100) and grid["transform"] == read(src)[1]["transform"]


def test_memory_is_flat_in_scene_height(ckpt, make_raster, tmp_path):
    """Peak Python/numpy memory of a x2 prediction: a 4x taller scene, within 25%."""
    peaks = []
    for h in (256, 1024):
        src = scene(make_raster, h, 200, 0.6, f"h{h}.tif")
        tracemalloc.start()
        predict_image(src, ckpt, tmp_path / f"m{h}", PredictOptions(**QUIET))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.25 * peaks[0], peaks


def test_an_interrupted_rescaled_run_resumes(ckpt, make_raster, tmp_path):
    """Ctrl-C half way through a x2 scene keeps its blocks; the re-run reuses them and
    writes what an uninterrupted run writes."""
    from basiss.inference.predict import load_predictor

    src = scene(make_raster, 350, 150, 0.6, "image.tif")  # 700 x 300 at 0.3 m: 15 chip rows
    out = tmp_path / "out"
    pred = load_predictor(ckpt, PredictOptions(**QUIET))
    real, calls = pred.engine, []

    def interrupted(x):
        calls.append(1)
        if len(calls) > 14:
            raise KeyboardInterrupt
        return real(x)

    pred.engine = interrupted
    with pytest.raises(KeyboardInterrupt):
        predict_image(src, pred, out)
    kept = list(out.glob(".image.gsd/.image.blocks-*/rows*_prob.tif"))
    assert kept and not (out / "image_prob.tif").exists()
    resumed = predict_image(src, ckpt, out, PredictOptions(**QUIET))
    full = predict_image(src, ckpt, tmp_path / "full", PredictOptions(**QUIET))
    assert np.array_equal(read(resumed.prob_path)[0], read(full.prob_path)[0])
    assert resumed.chips < full.chips == full.chips_total
    assert sorted(p.name for p in out.iterdir()) == [
        "image_item.json", "image_mask.tif", "image_prob.tif",
    ]  # fmt: skip
