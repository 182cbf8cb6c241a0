"""Recipes: presets as defaults, fine-tuning from a checkpoint, the training GSD, AdaBN."""

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from rasterio.transform import from_origin

from basiss.cli import build_parser
from basiss.cli.train import config_from_args
from basiss.data.normalize import Normalisation
from basiss.errors import BasissError
from basiss.io.filelist import Pair, write_file_list
from basiss.training.adapt import adapt_batchnorm, batchnorm_layers, random_chips, target_images
from basiss.training.checkpoint import load_checkpoint, read_checkpoint
from basiss.training.config import TrainConfig
from basiss.training.data import load_sources, make_chips
from basiss.training.loop import train
from basiss.training.presets import DEFAULT, PRESETS
from helpers import tiny_config, write_png

torch.set_num_threads(1)


def parse_train(*argv: str) -> TrainConfig:
    args = build_parser().parse_args(["train", "--file-list", "d", "--out", "o", *argv])
    return config_from_args(args)


# --------------------------------------------------------------------------- presets


def test_the_config_defaults_are_the_default_preset():
    plain = TrainConfig(file_lists=[Path("d")], out=Path("o"))
    named = TrainConfig.from_preset(DEFAULT, file_lists=[Path("d")], out=Path("o"))
    assert plain == named
    for key, value in PRESETS[DEFAULT].values.items():
        got = getattr(plain, key)
        assert (list(got) if isinstance(got, tuple) else got) == (
            list(value) if isinstance(value, tuple) else value
        ), key


def test_the_command_line_without_options_is_the_api_default():
    cli = parse_train()
    api = TrainConfig(file_lists=[Path("d")], out=Path("o"))
    for f in fields(TrainConfig):
        assert getattr(cli, f.name) == getattr(api, f.name), f.name
    assert cli.arch == "dlinknet34" and cli.arch_kwargs == {"base": 32}
    assert cli.slice == (192, 192) and cli.stride == (192, 192) and cli.random_crop
    assert cli.zoom == 0.5


def test_a_preset_with_options_given_over_it():
    c = parse_train("--preset", "cpu-fast", "--batch-size", "2")
    assert (c.preset, c.arch, c.arch_kwargs, c.lr, c.batch_size) == (
        "cpu-fast", "dlinknet34", {"base": 16}, 1e-3, 2,
    )  # fmt: skip
    seed = parse_train("--preset", "seed", "--slice", "200")
    assert (seed.arch, seed.loss, seed.random_crop) == ("unet", "bce", False)
    assert seed.slice == (200, 200) and seed.stride == (150, 150)  # 3/4 of the chip
    # an option given at the default preset's value still overrides the named preset
    assert parse_train("--preset", "seed", "--batch-size", "8").batch_size == 8
    assert parse_train("--no-random-crop").random_crop is False


def test_an_unknown_preset_is_one_line():
    with pytest.raises(BasissError, match="unknown preset 'fast'; choose from cpu"):
        TrainConfig.from_preset("fast", file_lists=[Path("d")], out=Path("o"))


def test_the_checkpoint_records_the_preset(roads, tmp_path):
    res = train(tiny_config(roads, tmp_path / "r", epochs=1, preset="cpu-fast"))
    assert read_checkpoint(res.best_path)["spec"]["extra"]["config"]["preset"] == "cpu-fast"


# --------------------------------------------------------------------------- fine-tuning


def conv_weights(path: Path) -> dict[str, torch.Tensor]:
    sd = read_checkpoint(path)["state_dict"]
    return {k: v for k, v in sd.items() if k.endswith("weight") and v.ndim == 4}


def test_init_from_starts_from_the_other_runs_weights(roads, tmp_path):
    first = train(tiny_config(roads, tmp_path / "a", epochs=1))
    # a learning rate of ~0: the fine-tuned weights stay those it started from
    tuned = train(tiny_config(roads, tmp_path / "b", epochs=1, lr=1e-12, init_from=first.last_path))
    fresh = train(tiny_config(roads, tmp_path / "c", epochs=1, lr=1e-12, seed=5))
    a, b, c = (
        conv_weights(first.last_path),
        conv_weights(tuned.last_path),
        conv_weights(fresh.last_path),
    )
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)
    assert any(not torch.allclose(c[k], a[k]) for k in a)


def test_init_from_another_architecture_is_one_line(roads, tmp_path):
    first = train(tiny_config(roads, tmp_path / "a", epochs=1))
    cfg = tiny_config(roads, tmp_path / "b", arch_kwargs={"base": 8}, init_from=first.best_path)
    with pytest.raises(BasissError, match=r"best\.pt: cannot start from it: its architecture "
                       r"arguments is \{'base': 4\}, this run's is \{'base': 8\}"):  # fmt: skip
        train(cfg)
    with pytest.raises(BasissError, match="no such checkpoint"):
        train(tiny_config(roads, tmp_path / "c", init_from=tmp_path / "none.pt"))
    with pytest.raises(BasissError, match="--resume continues"):
        tiny_config(roads, tmp_path / "a", init_from=first.best_path, resume=True).check()


# --------------------------------------------------------------------------- GSD


def geo_pairs(tmp_path: Path, make_raster, pixel_m: list[float]) -> Path:
    """A file list of 48 px GeoTIFF pairs in UTM, one per pixel size."""
    rng = np.random.default_rng(0)
    pairs = []
    for i, px in enumerate(pixel_m):
        t = from_origin(500000.0, 4000000.0, px, px)
        img = rng.integers(30, 90, size=(3, 48, 48), dtype=np.uint8)
        mask = np.zeros((48, 48), np.uint8)
        mask[20:26] = 1
        img[:, mask == 1] = 200
        im = make_raster(img, transform=t, name=f"im{i}.tif")
        mk = make_raster(mask, transform=t, name=f"mk{i}.tif")
        pairs.append(Pair(f"p{i}", str(im), mask_file=str(mk)))
    return write_file_list(tmp_path / "list.csv", pairs)


def test_the_checkpoint_records_the_training_gsd(tmp_path, make_raster, roads):
    csv = geo_pairs(tmp_path, make_raster, [0.5, 0.5, 0.52, 0.5])
    res = train(tiny_config(csv, tmp_path / "g", epochs=1, slice=(16, 16), stride=(16, 16)))
    assert load_checkpoint(res.best_path)[1].gsd == pytest.approx(0.5)
    # PNG pairs have no CRS: unknown unless given
    png = train(tiny_config(roads, tmp_path / "p", epochs=1))
    assert load_checkpoint(png.best_path)[1].gsd is None
    given = train(tiny_config(roads, tmp_path / "q", epochs=1, gsd=0.3))
    assert load_checkpoint(given.best_path)[1].gsd == pytest.approx(0.3)


def test_a_zoomed_run_records_its_zoom_and_the_gsd_it_learnt_at(tmp_path, make_raster):
    """``--zoom 0.5`` on 0.5 m images: the model learns at 1 m, 16 px chips from 32 px
    windows (4 training chips per 48 px image at stride 16 -> 32 image pixels)."""
    csv = geo_pairs(tmp_path, make_raster, [0.5, 0.5, 0.5, 0.5])
    cfg = tiny_config(csv, tmp_path / "z", epochs=1, slice=(16, 16), stride=(16, 16), zoom=0.5)
    res = train(cfg)
    spec = load_checkpoint(res.best_path)[1]
    assert spec.zoom == 0.5 and spec.gsd == pytest.approx(1.0)
    chips = make_chips(cfg, load_sources(cfg), Normalisation("image"))
    assert len(chips.train) == 3 * 4  # 3 training images (one validates), a 2 x 2 grid each
    assert chips.train.extent == (32, 32) and chips.n_val == 4
    assert parse_train("--zoom", "1").zoom == 1.0 and parse_train().zoom == 0.5
    with pytest.raises(BasissError, match=r"--zoom must be in \[0.125, 4\], got 0.1"):
        TrainConfig(file_lists=[csv], out=tmp_path / "o", zoom=0.1).check()


def test_a_random_crop_run_gives_prediction_an_overlapping_stride(roads, tmp_path):
    """With random crops the training stride (the chip) only counts chips per epoch; the
    checkpoint's stride, prediction's default, keeps the grid's quarter overlap."""
    res = train(tiny_config(roads, tmp_path / "r", epochs=1, random_crop=True))
    assert load_checkpoint(res.best_path)[1].stride == (24, 24)
    grid = train(tiny_config(roads, tmp_path / "g", epochs=1, stride=(16, 16)))
    assert load_checkpoint(grid.best_path)[1].stride == (16, 16)


def test_training_images_of_two_gsds_are_refused(tmp_path, make_raster):
    csv = geo_pairs(tmp_path, make_raster, [0.3, 0.3, 0.6, 0.6])
    with pytest.raises(BasissError, match=r"differ in ground sample distance: .*im0\.tif is "
                       r"0\.3 m, .*im2\.tif is 0\.6 m"):  # fmt: skip
        train(tiny_config(csv, tmp_path / "g", epochs=1, slice=(16, 16), stride=(16, 16)))


# --------------------------------------------------------------------------- adaptation


def brighter_copies(roads: Path, out: Path) -> Path:
    """The images of ``roads``, 60 levels brighter (another source), without masks."""
    from PIL import Image

    for f in sorted((roads / "images").iterdir()):
        arr = np.asarray(Image.open(f)).astype(np.int16) + 60
        write_png(out / f.name, np.clip(arr, 0, 255).astype(np.uint8).transpose(2, 0, 1))
    return out


def test_adabn_estimates_the_target_statistics(roads, tmp_path):
    """The first BatchNorm's new running mean is the mean of its input over the target
    chips (an oracle computed here); no learnt weight changes."""
    run = train(tiny_config(roads, tmp_path / "r", epochs=1))
    target = brighter_copies(roads, tmp_path / "target")
    res = adapt_batchnorm(run.best_path, target, tmp_path / "adapted.pt", chips=16, batch_size=4)
    assert (res.images, res.chips) == (8, 16) and res.layers > 0 and res.mean_shift > 0

    model, spec = load_checkpoint(run.best_path)
    chips = random_chips(target_images(target), spec, 16, np.random.default_rng(0))
    seen: list[torch.Tensor] = []
    first = batchnorm_layers(model)[0]
    first.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0]))
    with torch.no_grad():
        for i in range(0, 16, 4):
            model(torch.from_numpy(spec.normalisation.apply(np.stack(chips[i : i + 4]))))
    oracle = torch.cat(seen).mean(dim=(0, 2, 3))

    adapted, _ = load_checkpoint(res.path)
    torch.testing.assert_close(
        batchnorm_layers(adapted)[0].running_mean, oracle, rtol=1e-4, atol=1e-5
    )
    before, after = read_checkpoint(run.best_path), read_checkpoint(res.path)
    for k, v in before["state_dict"].items():
        if "running" not in k and "num_batches" not in k:
            torch.testing.assert_close(after["state_dict"][k], v, rtol=0, atol=0)
    assert after["spec"]["extra"]["adapted_to"]["chips"] == 16


def test_adabn_reads_a_zoomed_model_s_chips_as_prediction_does(roads, tmp_path):
    """A model that learnt at zoom 0.5: each AdaBN chip is a window of twice the chip
    size, resampled to the chip (:func:`resize_pair`, as prediction's bilinear VRT)."""
    from PIL import Image

    from basiss.data.augment import resize_pair
    from helpers import random_checkpoint

    _, spec = load_checkpoint(random_checkpoint(tmp_path / "z.pt", (16, 16), (16, 16), zoom=0.5))
    images = target_images(roads)
    chips = random_chips(images, spec, 2, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    for path, chip in zip(images, chips, strict=False):
        x0, y0 = int(rng.integers(0, 64 - 32 + 1)), int(rng.integers(0, 64 - 32 + 1))
        arr = np.asarray(Image.open(path)).transpose(2, 0, 1)[:, y0 : y0 + 32, x0 : x0 + 32]
        want, _ = resize_pair(arr, np.zeros((32, 32), np.uint8), (16, 16))
        assert chip.shape == (3, 16, 16) and np.allclose(chip, want)


def test_adapt_errors_are_one_line(roads, tmp_path):
    run = train(tiny_config(roads, tmp_path / "r", epochs=1))
    with pytest.raises(BasissError, match="is the checkpoint being adapted"):
        adapt_batchnorm(run.best_path, roads, run.best_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BasissError, match=r"empty: holds no image"):
        adapt_batchnorm(run.best_path, tmp_path / "empty", tmp_path / "a.pt")
    assert not (tmp_path / "a.pt").exists()


def test_train_adapt_to_writes_the_adapted_best(roads, tmp_path):
    target = brighter_copies(roads, tmp_path / "target")
    res = train(tiny_config(roads, tmp_path / "r", epochs=1, adapt_to=target))
    assert res.adapted_path == tmp_path / "r" / "best_adapted.pt"
    best, adapted = read_checkpoint(res.best_path), read_checkpoint(res.adapted_path)
    key = next(k for k in best["state_dict"] if k.endswith("running_mean"))
    assert not torch.equal(best["state_dict"][key], adapted["state_dict"][key])
    with pytest.raises(BasissError, match="no such folder"):
        train(tiny_config(roads, tmp_path / "s", epochs=1, adapt_to=tmp_path / "nowhere"))
    assert not (tmp_path / "s").exists()  # refused before any training
