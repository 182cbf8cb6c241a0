"""Training data: pair discovery, split by image, chip index, lazy dataset, augmentation."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from basiss.data.dataset import (
    IGNORE,
    Augment,
    ChipDataset,
    augment_pair,
    chip_index,
    dataset_statistics,
    discover_pairs,
    image_info,
    split_by_image,
)
from basiss.data.normalize import Normalisation
from basiss.errors import BasissError
from basiss.io.filelist import Pair, write_file_list
from helpers import write_png


def road_pair(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A random RGB image with one bright horizontal and one vertical road, and its 0/255 mask."""
    img = rng.integers(30, 90, size=(3, size, size), dtype=np.uint8)
    mask = np.zeros((size, size), np.uint8)
    r, c = rng.integers(4, size - 8, size=2)
    mask[r : r + 5, :] = 255
    mask[:, c : c + 5] = 255
    img[:, mask > 0] = 200
    return img, mask


def make_folder(root: Path, n: int = 6, size: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        img, mask = road_pair(rng, size)
        write_png(root / "images" / f"img_{i:03d}.png", img)
        write_png(root / "groundtruth" / f"img_{i:03d}.png", mask)
    return root


def test_discover_folder_csv_and_deepglobe(tmp_path):
    folder = make_folder(tmp_path / "cil", n=3)
    pairs = discover_pairs(folder)
    assert [p.name for p in pairs] == ["img_000", "img_001", "img_002"]
    assert all(Path(p.mask_file).parent.name == "groundtruth" for p in pairs)
    csv = write_file_list(tmp_path / "list.csv", pairs)
    assert discover_pairs(csv) == pairs
    dg = tmp_path / "dg"
    img, mask = road_pair(np.random.default_rng(1))
    write_png(dg / "104_sat.png", img)
    write_png(dg / "104_mask.png", np.stack([mask] * 3))
    (p,) = discover_pairs(dg)
    assert p.name == "104" and p.mask_file.endswith("104_mask.png")


def test_discover_errors_name_the_file(tmp_path):
    folder = make_folder(tmp_path / "x", n=2)
    (folder / "groundtruth" / "img_001.png").unlink()
    with pytest.raises(BasissError, match="img_001.png"):
        discover_pairs(folder)
    write_file_list(tmp_path / "nomask.csv", [Pair("a", str(folder / "images/img_000.png"))])
    with pytest.raises(BasissError, match="no mask_file"):
        discover_pairs(tmp_path / "nomask.csv")


@pytest.mark.parametrize("n,frac,n_val", [(100, 0.1, 10), (10, 0.1, 1), (3, 0.1, 1), (1, 0.5, 0)])
def test_split_by_image_counts_disjoint_seeded(n, frac, n_val):
    tr, va = split_by_image(n, frac, seed=3)
    assert len(va) == n_val
    assert sorted(tr + va) == list(range(n)) and not set(tr) & set(va)
    assert split_by_image(n, frac, seed=3) == (tr, va)
    if n == 100:
        assert split_by_image(n, frac, seed=4) != (tr, va)


def test_no_image_has_chips_on_both_sides(tmp_path):
    """Overlapping chips (stride < slice) of one image never straddle the split."""
    folder = make_folder(tmp_path / "d", n=10, size=100)
    pairs = discover_pairs(folder)
    infos = [image_info(p) for p in pairs]
    tr, va = split_by_image(len(pairs), 0.3, seed=0)
    train_chips = chip_index(pairs, infos, tr, (40, 40), (25, 25))
    val_chips = chip_index(pairs, infos, va, (40, 40), (40, 40))
    assert len(train_chips) == 7 * 16  # 4 x 4 overlapping chips per 100 px image
    assert {c.image for c in train_chips} == set(tr)
    assert {c.image for c in val_chips} == set(va)
    assert not {c.image for c in train_chips} & {c.image for c in val_chips}


def test_nodata_chips_are_skipped(tmp_path, make_raster):
    img = np.full((3, 100, 100), 50, np.uint8)
    img[:, :, 50:] = 0  # right half is outside the scene
    img[:, 10, 60] = 7  # but one pixel of chip (row 0, col 50) is valid
    im = make_raster(img, name="im.tif")
    mk = make_raster(np.zeros((100, 100), np.uint8), name="mk.tif")
    pairs = [Pair("a", str(im), mask_file=str(mk))]
    infos = [image_info(pairs[0])]
    chips = chip_index(pairs, infos, [0], (50, 50), (50, 50))
    assert [(c.col, c.row) for c in chips] == [(0, 0), (50, 0), (0, 50)]
    every = chip_index(pairs, infos, [0], (50, 50), (50, 50), skip_nodata=False)
    assert len(every) == 4


def test_items_threshold_pad_and_normalise(tmp_path, make_raster):
    """Anti-aliased mask thresholded; a small image is padded, with IGNORE outside."""
    img = np.random.default_rng(0).integers(1, 255, size=(3, 30, 40), dtype=np.uint8)
    mask = np.zeros((30, 40), np.uint8)
    mask[5:10] = 200
    mask[10:12] = 100  # anti-aliased fringe: background at threshold 127
    im = make_raster(img, name="im.tif")
    mk = make_raster(mask, name="mk.tif")
    pairs = [Pair("a", str(im), mask_file=str(mk))]
    infos = [image_info(pairs[0])]
    chips = chip_index(pairs, infos, [0], (48, 48), (48, 48))
    ds = ChipDataset(pairs, infos, chips, (48, 48), Normalisation("fixed"), mask_threshold=127)
    x, y = ds[0]
    assert x.shape == (3, 48, 48) and x.dtype == torch.float32 and y.shape == (48, 48)
    assert torch.allclose(x[:, :30, :40], torch.from_numpy(img).float() / 255)
    assert (y[30:, :] == IGNORE).all() and (y[:, 40:] == IGNORE).all()
    inside = y[:30, :40].numpy()
    assert (inside == (mask > 127)).all()
    ds0 = ChipDataset(pairs, infos, chips, (48, 48), Normalisation("fixed"), mask_threshold=0)
    assert int((ds0[0][1][:30, :40] == 1).sum()) == 7 * 40


def test_a_zoomed_chip_is_its_window_twice_as_large_resampled(tmp_path, make_raster):
    """At zoom 0.5 a 16 px chip covers a 32 px window of its image: the item equals
    :func:`resize_pair` of that window (an oracle), and the grid steps 32 image pixels."""
    from basiss.data.augment import resize_pair

    img, mask = road_pair(np.random.default_rng(3), 64)
    im, mk = make_raster(img, name="im.tif"), make_raster(mask, name="mk.tif")
    pairs = [Pair("a", str(im), mask_file=str(mk))]
    infos = [image_info(pairs[0])]
    ds = ChipDataset(pairs, infos, [], (16, 16), Normalisation("fixed"), zoom=0.5)
    assert ds.extent == (32, 32)
    chips = chip_index(pairs, infos, [0], ds.extent, ds.extent)
    assert [(c.col, c.row) for c in chips] == [(0, 0), (32, 0), (0, 32), (32, 32)]
    ds.chips = chips
    x, y = ds[3]
    want_x, want_y = resize_pair(img[:, 32:, 32:], (mask[32:, 32:] > 0).astype(np.uint8), (16, 16))
    assert x.shape == (3, 16, 16) and torch.allclose(x, torch.from_numpy(want_x) / 255)
    assert np.array_equal(y.numpy(), want_y)


def test_augmentation_keeps_image_and_mask_aligned():
    """A line drawn in both stays on top of itself under every transform."""
    rng = np.random.default_rng(0)
    img = np.full((3, 32, 32), 40, np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    img[:, 3, 5:20] = 250
    mask[3, 5:20] = 1
    seen = set()
    for _ in range(40):
        x, m = augment_pair(img, mask, rng, Augment())
        bright = x.mean(axis=0) > x.mean()
        assert (bright == (m == 1)).all()
        seen.add(m.tobytes())
    assert len(seen) == 8  # all 4 rotations x 2 flips happen


def test_items_are_seeded_and_workers_safe(tmp_path):
    pairs = discover_pairs(make_folder(tmp_path / "d", n=2))
    infos = [image_info(p) for p in pairs]
    chips = chip_index(pairs, infos, [0, 1], (32, 32), (32, 32))
    kw = dict(norm=Normalisation("fixed"), augment=Augment(), random_crop=True, seed=5)
    a = ChipDataset(pairs, infos, chips, (32, 32), **kw)
    b = ChipDataset(pairs, infos, chips, (32, 32), **kw)
    assert torch.equal(a[3][0], b[3][0])
    a.set_epoch(1)
    assert not torch.equal(a[3][0], b[3][0])
    loader = torch.utils.data.DataLoader(b, batch_size=4, num_workers=1)
    b.set_epoch(1)
    first = next(iter(loader))[0]
    assert torch.equal(first[3], a[3][0])


def test_rgba_alpha_reads_as_rgb_and_n_bands(tmp_path):
    rng = np.random.default_rng(0)
    img, mask = road_pair(rng)
    rgba = np.concatenate([img, np.full((1, 64, 64), 255, np.uint8)])
    write_png(tmp_path / "images" / "a.png", rgba)
    write_png(tmp_path / "groundtruth" / "a.png", mask)
    (pair,) = discover_pairs(tmp_path)
    assert image_info(pair).bands == (1, 2, 3)
    assert image_info(pair, 1).bands == (1,)
    with pytest.raises(BasissError, match="has 3 bands"):
        image_info(pair, 8)


def test_dataset_statistics_match_numpy(tmp_path):
    pairs = discover_pairs(make_folder(tmp_path / "d", n=3))
    infos = [image_info(p) for p in pairs]
    norm = dataset_statistics(pairs, infos, [0, 2])
    stack = np.concatenate(
        [rasterio.open(pairs[i].im_file).read().reshape(3, -1) for i in (0, 2)], axis=1
    )
    assert norm.kind == "dataset"
    np.testing.assert_allclose(norm.mean, stack.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(norm.std, stack.std(axis=1), rtol=1e-9)


def test_untagged_constant_fourth_band_reads_as_rgb_but_nir_is_kept(tmp_path, make_raster):
    """A 4-band GeoTIFF whose 4th band is 255 everywhere (no alpha tag) is RGB; a varying
    4th band (near infrared) is kept, and asked for with n_bands=4."""
    rng = np.random.default_rng(2)
    rgb = rng.integers(1, 255, size=(3, 40, 40), dtype=np.uint8)
    mask = make_raster(np.zeros((40, 40), np.uint8), name="m.tif")
    ci = rasterio.enums.ColorInterp

    def four_band(arr: np.ndarray, name: str, tag_alpha: bool) -> Pair:
        path = make_raster(arr, name=name)  # GDAL tags a 4-band uint8 GeoTIFF as RGBA
        with rasterio.open(path, "r+") as ds:
            if not tag_alpha:
                ds.colorinterp = [ci.gray, ci.undefined, ci.undefined, ci.undefined]
            assert (ds.colorinterp[3] == ci.alpha) == tag_alpha
        return Pair(name, str(path), mask_file=str(mask))

    opaque = np.concatenate([rgb, np.full((1, 40, 40), 255, np.uint8)])
    nir = np.concatenate([rgb, rng.integers(1, 255, size=(1, 40, 40), dtype=np.uint8)])
    almost = opaque.copy()
    almost[3, 20, 20] = 254  # one pixel of real data: not an opaque alpha
    assert image_info(four_band(opaque, "o.tif", False)).bands == (1, 2, 3)
    assert image_info(four_band(nir, "n.tif", False)).bands == (1, 2, 3, 4)
    assert image_info(four_band(almost, "a.tif", False)).bands == (1, 2, 3, 4)
    # NIR that GDAL tagged alpha: RGB by default, all four when asked for
    tagged = four_band(nir, "t.tif", True)
    assert image_info(tagged).bands == (1, 2, 3)
    assert image_info(tagged, 4).bands == (1, 2, 3, 4)
    assert image_info(tagged, 3).bands == (1, 2, 3)


def test_rgba_predicts_the_same_as_its_rgb_copy(tmp_path, make_raster):
    """RGBA (PNG, and GeoTIFF with an alpha band) through predict_image == the RGB copy."""
    from basiss.inference.predict import PredictOptions, predict_image
    from basiss.models import create_model
    from basiss.training.checkpoint import ModelSpec, save_checkpoint

    torch.manual_seed(0)
    model = create_model("unet-small", 3, 1, base=4)
    spec = ModelSpec(
        arch="unet-small",
        in_channels=3,
        n_classes=1,
        bands=[1, 2, 3],
        norm=Normalisation("image").to_dict(),
        slice=(32, 32),
        stride=(24, 24),
        arch_kwargs={"base": 4},
    )
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight *= 300.0  # a random net's output is nearly flat: make it vary
    ckpt = save_checkpoint(tmp_path / "m.pt", model, spec)
    rng = np.random.default_rng(4)
    rgb = rng.integers(1, 255, size=(3, 40, 56), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((1, 40, 56), 255, np.uint8)])
    files = {
        "rgb": write_png(tmp_path / "rgb.png", rgb),
        "rgba": write_png(tmp_path / "rgba.png", rgba),
        "tif": make_raster(rgba, name="rgba.tif"),
    }
    with rasterio.open(files["tif"], "r+") as ds:
        ci = rasterio.enums.ColorInterp
        ds.colorinterp = [ci.red, ci.green, ci.blue, ci.alpha]
    opts = PredictOptions(device="cpu", threads=1, show_progress=False)
    probs = {}
    for key, path in files.items():
        out = predict_image(path, ckpt, tmp_path / key, opts)
        with rasterio.open(out.prob_path) as ds:
            probs[key] = ds.read(1)
    assert probs["rgb"].std() > 0
    assert np.array_equal(probs["rgba"], probs["rgb"])
    assert np.array_equal(probs["tif"], probs["rgb"])
