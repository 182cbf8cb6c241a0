"""Normalisation rules, and their round trip: training -> checkpoint -> prediction."""

import numpy as np
import pytest
import rasterio
import torch

from basiss.data.dataset import dataset_statistics, discover_pairs, image_info, split_by_image
from basiss.data.normalize import Normalisation
from basiss.inference.predict import PredictOptions, predict_image, quantise
from basiss.training.checkpoint import load_checkpoint, save_checkpoint
from basiss.training.loop import TrainConfig, train
from helpers import write_png

torch.set_num_threads(1)


def test_fixed_and_dataset_rules():
    x = np.array([[[0, 51], [255, 102]]], np.uint8)
    np.testing.assert_allclose(Normalisation("fixed").apply(x), x / 255.0, rtol=1e-6)
    d = Normalisation("dataset", (100.0,), (50.0,)).apply(x)
    np.testing.assert_allclose(d, (x - 100.0) / 50.0, rtol=1e-6)
    with pytest.raises(ValueError, match="2 bands"):
        Normalisation("dataset", (1.0, 2.0), (1.0, 1.0)).apply(x)


def test_image_rule_standardises_valid_pixels_and_ignores_nodata():
    rng = np.random.default_rng(0)
    chip = rng.integers(20, 150, size=(3, 16, 16)).astype(np.uint8)
    inside = chip[:, :, :10].astype(np.float64)
    chip[:, :, 10:] = 0  # outside the scene
    z = Normalisation("image").apply(chip[np.newaxis])[0]
    assert (z[:, :, 10:] == 0).all()
    expect = (inside - inside.mean(axis=(1, 2), keepdims=True)) / inside.std(
        axis=(1, 2), keepdims=True
    )
    np.testing.assert_allclose(z[:, :, :10], expect, atol=1e-5)
    # a brighter, higher-contrast copy of a chip looks the same to the model
    bright = (1.6 * chip.astype(np.float64) + 5).astype(np.float32)
    bright[:, :, 10:] = 0
    z2 = Normalisation("image").apply(bright)
    np.testing.assert_allclose(z2, z, atol=1e-4)
    flat = np.full((3, 8, 8), 77, np.uint8)
    assert (Normalisation("image").apply(flat) == 0).all()  # std floored: no blow-up


@pytest.mark.parametrize("kind", ["dataset", "image"])
def test_normalisation_round_trips_through_the_checkpoint(tmp_path, make_raster, kind):
    """Train one tiny epoch; the checkpoint holds the rule and statistics, and predict
    applies them: its probabilities equal a manual forward with that normalisation."""
    rng = np.random.default_rng(0)
    for i in range(4):
        img = rng.integers(30, 90, size=(3, 32, 32), dtype=np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        mask[8 + i : 13 + i] = 255
        img[:, mask > 0] = 200
        write_png(tmp_path / "d" / "images" / f"a{i}.png", img)
        write_png(tmp_path / "d" / "groundtruth" / f"a{i}.png", mask)
    cfg = TrainConfig(
        file_lists=[tmp_path / "d"],
        out=tmp_path / "run",
        arch="unet-small",
        arch_kwargs={"base": 4},
        slice=(32, 32),
        stride=(32, 32),
        zoom=1.0,
        batch_size=4,
        epochs=1,
        validation_split=0.25,
        norm=kind,
        threads=1,
        device="cpu",
    )
    res = train(cfg)
    model, spec = load_checkpoint(res.best_path)
    test = rng.integers(20, 230, size=(3, 32, 32), dtype=np.uint8)
    # sharpen the output layer, centred on this input, so that probabilities
    # spread over 0..1 and react visibly to how the input was normalised
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight *= 20.0
        last.bias.zero_()
        logits = model(torch.from_numpy(spec.normalisation.apply(test[np.newaxis])))
        last.bias.fill_(-float(logits.median()))
    ckpt = save_checkpoint(tmp_path / "sharp.pt", model, spec)
    model, spec = load_checkpoint(ckpt)
    norm = spec.normalisation
    assert norm.kind == kind
    if kind == "dataset":
        pairs = discover_pairs(tmp_path / "d")
        infos = [image_info(p, 3) for p in pairs]
        tr, _ = split_by_image(len(pairs), 0.25, 0)
        assert norm == dataset_statistics(pairs, infos, tr)
        assert 60 < norm.mean[0] < 130

    path = make_raster(test, name="test.tif")
    opts = PredictOptions(device="cpu", threads=1, show_progress=False)
    out = predict_image(path, ckpt, tmp_path / "pred", opts)
    with rasterio.open(out.prob_path) as ds:
        got = ds.read(1)
    with torch.no_grad():
        x = torch.from_numpy(norm.apply(test[np.newaxis]))
        manual = torch.sigmoid(model(x))[0, 0].numpy()
    assert np.abs(got.astype(int) - quantise(manual).astype(int)).max() <= 1
    # and the other rules would give another answer (the test can fail)
    other = Normalisation("fixed") if kind != "fixed" else Normalisation("image")
    with torch.no_grad():
        wrong = torch.sigmoid(model(torch.from_numpy(other.apply(test[np.newaxis]))))[0, 0]
    assert np.abs(got.astype(int) - quantise(wrong.numpy()).astype(int)).max() > 5
