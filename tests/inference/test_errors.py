"""User errors of predict: one line naming the file, exit 1, nothing written; NaN is
nodata; an input without CRS warns once and is still predicted."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import rasterio
import torch

from basiss.cli import main
from basiss.errors import BasissError
from basiss.inference.options import PredictOptions
from basiss.inference.predict import predict_image
from basiss.inference.scene import PredictWarning
from basiss.training.checkpoint import ModelSpec, save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    spec = ModelSpec(
        arch="unet-small", in_channels=3, n_classes=1, bands=[1, 2, 3],
        arch_kwargs={"base": 4}, slice=(128, 128), stride=(96, 96),
    )  # fmt: skip
    model = spec.build()
    for m in model.modules():  # non-trivial statistics: outputs vary across pixels
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(0.05)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "t.pt", model.eval(), spec)


def _img(make_raster, h=64, w=64, **kw):
    arr = np.random.default_rng(0).integers(1, 255, (3, h, w)).astype(np.uint8)
    return make_raster(arr, **kw)


def _cli(capsys, ckpt, out, img, *extra):
    rc = main(["predict", "--weights", str(ckpt), "--out", str(out), str(img), *extra])
    return rc, capsys.readouterr().err.strip()


def test_out_is_a_file_or_under_a_file(ckpt, make_raster, tmp_path, capsys):
    img = _img(make_raster)
    afile = tmp_path / "taken.txt"
    afile.write_text("x")
    for out, words in ((afile, "is a file"), (afile / "sub", "is under a file")):
        rc, err = _cli(capsys, ckpt, out, img)
        assert rc == 1 and len(err.splitlines()) == 1, err
        assert str(out) in err and words in err
    assert afile.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_out(ckpt, make_raster, tmp_path, capsys):
    img = _img(make_raster)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc, err = _cli(capsys, ckpt, ro / "o", img)
        assert rc == 1 and len(err.splitlines()) == 1 and str(ro / "o") in err
    finally:
        ro.chmod(0o700)


def test_tiny_and_huge_chips_refused(ckpt, make_raster, tmp_path, capsys):
    img = _img(make_raster)
    for size in ("1", "50000"):
        rc, err = _cli(capsys, ckpt, tmp_path / "o", img, "--slice", size, size)
        assert rc == 1 and len(err.splitlines()) == 1 and "slice" in err, err
    # under the hard limit but larger than both the image and the checkpoint's chip
    with pytest.raises(BasissError, match=r"image\.tif: chip 2048x2048 px is larger"):
        predict_image(img, ckpt, tmp_path / "o", PredictOptions(slice=(2048, 2048)))
    assert not any((tmp_path / "o").iterdir())
    # the checkpoint's own chip on a smaller image is how small images are predicted
    out = predict_image(img, ckpt, tmp_path / "o2", PredictOptions(slice=(128, 128)))
    assert out.chips == 1


def test_nan_pixels_of_a_float_image_are_nodata(ckpt, make_raster, tmp_path):
    arr = np.random.default_rng(1).uniform(100, 2000, (3, 150, 160)).astype(np.float32)
    arr[:, :40, :] = np.nan  # a NaN band stack: outside the scene
    arr[1, 100:110, 100:110] = np.nan  # NaN in one band only: no value to predict from
    img = make_raster(arr, name="float.tif")
    out = predict_image(img, ckpt, tmp_path / "o")
    with rasterio.open(out.prob_path) as ds:
        valid, prob = ds.dataset_mask() > 0, ds.read(1)
    expected = ~np.isnan(arr).any(axis=0)
    assert np.array_equal(valid, expected)
    assert np.all(prob[~expected] == 0)
    assert len(np.unique(prob[expected])) > 5  # real predictions, not a constant


def test_input_without_crs_warns_once_and_writes(ckpt, make_raster, tmp_path):
    img = _img(make_raster, 100, 90, crs=None, transform=rasterio.Affine.identity())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = predict_image(img, ckpt, tmp_path / "o")
    ours = [w for w in caught if issubclass(w.category, PredictWarning)]
    assert len(ours) == 1 and "no CRS" in str(ours[0].message)
    assert str(img) in str(ours[0].message) and "\n" not in str(ours[0].message)
    with rasterio.open(out.prob_path) as ds:
        assert ds.crs is None and (ds.width, ds.height) == (90, 100)


def test_out_that_cannot_be_created(ckpt, make_raster, capsys):
    img = _img(make_raster)
    rc, err = _cli(capsys, ckpt, "/proc/basiss-out", img)  # even root cannot create it
    assert rc == 1 and len(err.splitlines()) == 1 and "/proc/basiss-out" in err, err
