"""Pseudo-labels: confident pixels labelled, the rest ignored by training."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

from basiss.data.dataset import IGNORE, ChipDataset, chip_index, discover_pairs, image_info
from basiss.data.normalize import Normalisation
from basiss.errors import BasissError
from basiss.inference.options import PredictOptions
from basiss.inference.predict import predict_image
from basiss.io.cog import Layer
from basiss.io.filelist import read_file_list
from basiss.io.raster import window_mask, write_geotiff
from basiss.training.losses import make_loss
from basiss.training.pseudo import ROAD, pseudo_mask, write_pseudo_labels
from helpers import random_checkpoint

OPTS = PredictOptions(show_progress=False, threads=1)


def test_pseudo_mask_thresholds_exactly():
    prob = np.array([[0, 25, 26, 128, 229, 230, 255, 255]], np.uint8)
    valid = np.array([[1, 1, 1, 1, 1, 1, 1, 0]], bool)
    mask, labelled = pseudo_mask(prob, valid, 0.9)
    # 25/255 = 0.098 <= 0.1 is background; 26/255 = 0.102 is not; 230/255 = 0.902 is road
    assert labelled.tolist() == [[True, True, False, False, False, True, True, False]]
    assert mask.tolist() == [[0, 0, 0, 0, 0, ROAD, ROAD, 0]]
    with pytest.raises(ValueError, match="confidence"):
        pseudo_mask(prob, valid, 0.5)
    # a stricter background: 25/255 = 0.098 is no longer sure, 0 still is
    mask, labelled = pseudo_mask(prob, valid, 0.9, background_confidence=0.95)
    assert labelled.tolist() == [[True, False, False, False, False, True, True, False]]
    with pytest.raises(ValueError, match="confidence"):
        pseudo_mask(prob, valid, 0.9, background_confidence=1.2)


def test_window_mask_reads_the_own_mask_band_and_none_without(tmp_path, make_raster):
    valid = np.ones((20, 30), bool)
    valid[5:9, 10:25] = False
    path = write_geotiff(tmp_path / "m.tif", np.zeros((20, 30), np.uint8), layer=Layer.MASK,
                         valid=valid)  # fmt: skip
    with rasterio.open(path) as ds:
        got = window_mask(ds, Window(-2, 0, 30, 20))  # two columns past the left edge
    assert not got[:, :2].any()
    np.testing.assert_array_equal(got[:, 2:], valid[:, :28])
    plain = make_raster(np.zeros((1, 20, 30), np.uint8), name="plain.tif")
    with rasterio.open(plain) as ds:
        assert window_mask(ds, Window(0, 0, 30, 20)) is None


def test_training_ignores_a_masks_nodata_pixels(tmp_path, roads):
    pairs = discover_pairs(roads)[:1]
    with rasterio.open(pairs[0].mask_file) as ds:
        raw = ds.read(1)
    unsure = np.zeros(raw.shape, bool)
    unsure[10:30, 5:50] = True
    mask_tif = write_geotiff(tmp_path / "m.tif", raw, layer=Layer.MASK, valid=~unsure)
    pairs = [type(pairs[0])(pairs[0].name, pairs[0].im_file, mask_file=str(mask_tif))]
    infos = [image_info(p, 3) for p in pairs]
    chips = chip_index(pairs, infos, [0], (64, 64), (64, 64))
    norm = Normalisation("fixed", (0.0,) * 3, (1.0,) * 3)
    ds = ChipDataset(pairs, infos, chips, (64, 64), norm, mask_threshold=127)
    _, y = ds[0]
    y = y.numpy()
    assert (y[unsure] == IGNORE).all()
    np.testing.assert_array_equal(y[~unsure], (raw > 127)[~unsure])
    # the loss of a prediction that is wrong only on the ignored pixels is the perfect one's
    target = torch.from_numpy(y)[None]
    truth = torch.from_numpy((raw > 127).astype(np.float32))[None, None]
    perfect = (truth * 2 - 1) * 20
    wrong = perfect.clone()
    wrong[0, 0][torch.from_numpy(unsure)] *= -1
    loss = make_loss("bce")
    assert float(loss(wrong, target)) == pytest.approx(float(loss(perfect, target)), abs=1e-6)
    ds.close()


def test_write_pseudo_labels_matches_the_prediction(tmp_path, roads):
    ckpt = random_checkpoint(tmp_path / "m.pt")
    images = sorted((roads / "images").glob("*.png"))[:3]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        res = write_pseudo_labels(ckpt, images, tmp_path / "pl", 0.6, OPTS, 0.7)
    # PNGs have no CRS: said once for all three, nothing per image
    assert [str(w.message) for w in said] == [
        "3 of 3 images have no CRS: their pseudo-labels lie on their pixel grids only"
    ]
    pairs = read_file_list(res.file_list)
    assert [Path(p.im_file) for p in pairs] == [p.resolve() for p in images]
    labelled_px = valid_px = 0
    for image, pair in zip(images, pairs, strict=True):
        o = predict_image(image, ckpt, tmp_path / "direct", OPTS)
        with rasterio.open(o.prob_path) as ds:
            want, want_labelled = pseudo_mask(ds.read(1), ds.read_masks(1) > 0, 0.6, 0.7)
        with rasterio.open(pair.mask_file) as ds, rasterio.open(image) as im:
            assert (ds.width, ds.height) == (im.width, im.height)
            np.testing.assert_array_equal(ds.read(1), want)
            np.testing.assert_array_equal(ds.read_masks(1) > 0, want_labelled)
        labelled_px += int(want_labelled.sum())
        valid_px += want_labelled.size
    assert 0 < labelled_px < valid_px  # some pixels sure, some not
    assert res.labelled == pytest.approx(labelled_px / valid_px)
    assert not any(p.name.startswith(".pseudo-") for p in (tmp_path / "pl").iterdir())


def test_write_pseudo_labels_refuses_bad_input(tmp_path, roads):
    ckpt = random_checkpoint(tmp_path / "m.pt")
    with pytest.raises(BasissError, match="confidence"):
        write_pseudo_labels(ckpt, [roads / "images" / "im0.png"], tmp_path / "pl", 0.4)
    with pytest.raises(BasissError, match="no image"):
        write_pseudo_labels(ckpt, [], tmp_path / "pl")


def test_cli_adapt_pseudo_labels_writes_a_trainable_list(tmp_path, roads, capsys):
    from basiss.cli import main
    from basiss.training.loop import train
    from helpers import tiny_config

    ckpt = random_checkpoint(tmp_path / "m.pt")
    code = main(["adapt", str(ckpt), str(roads), "--pseudo-labels", str(tmp_path / "pl"),
                 "--confidence", "0.6"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "pseudo-labels of 8 images" in out and "pseudo_labels.csv" in out
    res = train(tiny_config(tmp_path / "pl" / "pseudo_labels.csv", tmp_path / "run", epochs=1,
                            mask_threshold=127))  # fmt: skip
    assert res.best_path.exists()


def test_cli_adapt_refuses_a_bad_confidence_in_one_line(tmp_path, roads, capsys):
    from basiss.cli import main

    ckpt = random_checkpoint(tmp_path / "m.pt")
    code = main(["adapt", str(ckpt), str(roads), "--pseudo-labels", str(tmp_path / "pl"),
                 "--confidence", "1.5"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "confidence" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pl").exists()


def test_cli_defaults_are_the_api_defaults():
    from basiss.cli import build_parser
    from basiss.training.pseudo import BACKGROUND_CONFIDENCE, CONFIDENCE

    args = build_parser().parse_args(["adapt", "m.pt", "imgs", "--pseudo-labels", "pl"])
    assert (args.confidence, args.background_confidence) == (CONFIDENCE, BACKGROUND_CONFIDENCE)
