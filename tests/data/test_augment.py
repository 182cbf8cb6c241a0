"""Augmentation: image and mask stay aligned under every transform; photometry is sane."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from basiss.data.augment import (
    Augment,
    augment_pair,
    draw_angle,
    draw_scale,
    geometric,
    hue_matrix,
    photometric,
    resize_pair,
    warp_pair,
    window_size,
)
from basiss.data.dataset import ChipDataset, chip_index, discover_pairs, image_info
from basiss.data.normalize import Normalisation
from helpers import write_png

# every transform on, always, with a wider zoom than the default
ALL_ON = replace(Augment.sources(scale=(0.6, 1.6)), p=1.0)


def pattern(size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """An asymmetric 'L' of 6 px lines (so a wrong flip or rotation shows) in image and mask."""
    img = np.full((3, size, size), 60, np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[6:12, 4:30] = 1
    mask[16:40, 34:40] = 1
    img[:, mask == 1] = 220
    return img, mask


def _eroded(a: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood is all True (edges count as False)."""
    return binary_erosion(a, structure=np.ones((3, 3), bool), border_value=0)


def on_top(x: np.ndarray, mask: np.ndarray, road: float = 220.0, ground: float = 60.0) -> bool:
    """The image is the drawn line where the mask says road (a one-pixel shift fails this).

    Away from edges (mask eroded by one pixel) road holds the line's value and
    background the background's, exactly. On the edges, bilinear image and
    nearest mask share the pixel-centre mapping, so the nearest source pixel
    weighs at least 1/4 (corner) and every road pixel is nearer the line's
    value than a quarter of the way to the background's (and vice versa).
    """
    inner_road = _eroded(mask == 1)
    inner_ground = _eroded(mask == 0)
    quarter = 0.25 * (road - ground)
    grey = x.mean(axis=0)
    return bool(
        inner_road.sum() > 20
        and np.allclose(x[:, inner_road], road, atol=1e-3)
        and np.allclose(x[:, inner_ground], ground, atol=1e-3)
        and (grey[mask == 1] >= ground + quarter - 1e-3).all()
        and (grey[mask == 0] <= road - quarter + 1e-3).all()
    )


def zoomed(
    img: np.ndarray, mask: np.ndarray, s: float, angle: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Zoom and turn as the dataset does it: the window that holds the turned,
    zoomed chip, centred on it, resampled onto the chip."""
    size = img.shape[-1]
    big_i = np.full((3, 3 * size, 3 * size), 60, np.uint8)
    big_m = np.zeros((3 * size, 3 * size), np.uint8)
    big_i[:, size : 2 * size, size : 2 * size] = img
    big_m[size : 2 * size, size : 2 * size] = mask
    w, h = window_size((size, size), s, angle)
    ox, oy = int(round(size + (size - w) / 2)), int(round(size + (size - h) / 2))
    return warp_pair(
        big_i[:, oy : oy + h, ox : ox + w], big_m[oy : oy + h, ox : ox + w], (size, size), s, angle
    )


def test_the_check_detects_a_one_pixel_shift():
    img, mask = pattern()
    assert on_top(img.astype(np.float32), mask)
    for axis in (0, 1):
        for d in (-1, 1):
            assert not on_top(img.astype(np.float32), np.roll(mask, d, axis=axis))


def test_every_geometric_transform_keeps_the_line_on_its_label():
    """Zoom 0.6-1.6x, 4 rotations, flips: image and mask move together exactly."""
    img, mask = pattern()
    rng = np.random.default_rng(0)
    seen, scales = set(), []
    geo = ALL_ON.without_photometric()
    for _ in range(60):
        s = draw_scale(rng, geo)
        zi, zm = zoomed(img, mask, s)
        x, m = augment_pair(zi, zm, rng, geo)
        assert x.shape == (3, 48, 48) and m.shape == (48, 48) and x.dtype == np.float32
        assert on_top(x, m), s
        seen.add(geometric(img, mask, rng, geo)[1].tobytes())
        scales.append(s)
    assert len(seen) == 8
    assert min(scales) < 0.7 and max(scales) > 1.4


def test_free_rotation_keeps_the_line_on_its_label():
    """Any angle, with and without zoom: the bilinear image and the nearest mask turn together."""
    img, mask = pattern()
    for angle in (-45.0, -30.0, -7.5, 10.0, 22.5, 33.0, 45.0):
        for s in (0.75, 1.0):
            x, m = zoomed(img, mask, s, angle)
            assert x.shape == (3, 48, 48) and m.shape == (48, 48)
            assert (m == 255).sum() == 0  # the window held the whole turned chip
            assert on_top(x, m), (angle, s)
    # and it did turn: the mask at 30 degrees is not the mask at 0
    assert (zoomed(img, mask, 1.0, 30.0)[1] != zoomed(img, mask, 1.0, 0.0)[1]).mean() > 0.05


def test_a_turned_chip_matches_the_same_line_drawn_turned():
    """Oracle: a road drawn at 30 degrees is what turning a level road by 30 degrees gives."""
    size = 96
    yy, xx = np.mgrid[0:size, 0:size] + 0.5 - size / 2

    def band(theta: float) -> np.ndarray:  # a 10 px road through the centre along theta
        t = np.radians(theta)
        return np.abs(-np.sin(t) * xx + np.cos(t) * yy) < 5

    level = band(0.0).astype(np.uint8)
    img = np.where(level, 220, 60).astype(np.uint8)[None].repeat(3, 0)
    w, h = window_size((48, 48), 1.0, 30.0)
    o = (size - w) // 2
    x, m = warp_pair(img[:, o : o + h, o : o + w], level[o : o + h, o : o + w], (48, 48), 1.0, 30.0)
    # output pixel d samples the window at R(30) d, so the level road shows at -30 degrees
    want = band(-30.0)[24:72, 24:72]
    iou = (want & (m == 1)).sum() / (want | (m == 1)).sum()
    assert iou > 0.9
    assert draw_angle(np.random.default_rng(0), Augment()) == 0.0  # off by default


def test_photometric_changes_leave_the_mask_and_keep_the_line_brighter():
    img, mask = pattern()
    rng = np.random.default_rng(1)
    for _ in range(60):
        x, m = augment_pair(img, mask, rng, ALL_ON)
        assert m.shape == mask.shape
        # geometry is shared: undo nothing, just compare inner road vs inner ground
        road, ground = x[:, _eroded(m == 1)].mean(), x[:, _eroded(m == 0)].mean()
        assert road > ground + 20


def test_resize_nearest_mask_and_bilinear_image_exact():
    mask = np.arange(16, dtype=np.uint8).reshape(4, 4)
    img = np.stack([mask * 10 + 5] * 2).astype(np.uint8)
    x2, m2 = resize_pair(img, mask, (8, 8))
    assert (m2 == np.repeat(np.repeat(mask, 2, 0), 2, 1)).all()
    # halving maps output centre (i + .5) * 2 - .5 = 2i + .5: the mean of a 2x2 block
    x_half, m_half = resize_pair(img, mask, (2, 2))
    blocks = img.reshape(2, 2, 2, 2, 2).astype(np.float32).mean(axis=(2, 4))
    np.testing.assert_allclose(x_half, blocks)
    assert m_half.shape == (2, 2)
    same, m_same = resize_pair(img, mask, (4, 4))
    assert (same == img).all() and (m_same == mask).all()


def test_hue_matrix_rotates_about_grey():
    np.testing.assert_allclose(hue_matrix(0.0), np.eye(3), atol=1e-7)
    # a third of a turn maps red -> green -> blue
    np.testing.assert_allclose(hue_matrix(1 / 3) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(hue_matrix(0.1) @ [0.5, 0.5, 0.5], [0.5] * 3, atol=1e-6)
    v = np.array([0.9, 0.2, 0.4])
    assert (hue_matrix(0.07) @ v).mean() == pytest.approx(v.mean())


def test_photometric_keeps_nodata_seeded_and_switches_off():
    img, _ = pattern()
    x = img.astype(np.float32)
    x[:, :, :10] = 0  # nodata strip
    a = photometric(x, np.random.default_rng(3), ALL_ON)
    b = photometric(x, np.random.default_rng(3), ALL_ON)
    assert np.array_equal(a, b)
    assert (a[:, :, :10] == 0).all() and a.min() >= 0 and a.max() <= 255
    assert not np.array_equal(a, x)
    off = photometric(x, np.random.default_rng(3), ALL_ON.without_photometric())
    assert np.array_equal(off, x)


def test_gain_range_reaches_a_twice_as_bright_source():
    """Gain alone (p=1) spans 0.5..2x, log-uniform: half the draws brighten."""
    aug = Augment(brightness=0, contrast=0, gain=(0.5, 2.0), p=1.0)
    x = np.full((3, 4, 4), 60, np.float32)
    rng = np.random.default_rng(0)
    ratios = np.array([photometric(x, rng, aug)[0, 0, 0] / 60 for _ in range(400)])
    assert 0.5 <= ratios.min() < 0.6 and 1.8 < ratios.max() <= 2.0
    assert 0.4 < (ratios > 1).mean() < 0.6


def test_dataset_zoom_and_rotation_read_around_the_chip_and_stay_aligned(tmp_path):
    """Through ChipDataset: zoomed and turned chips (bigger or smaller reads) stay aligned."""
    img, mask = pattern(48)
    big_i = np.full((3, 96, 96), 60, np.uint8)
    big_m = np.zeros((96, 96), np.uint8)
    big_i[:, 24:72, 24:72], big_m[24:72, 24:72] = img, mask * 255
    write_png(tmp_path / "images" / "a.png", big_i)
    write_png(tmp_path / "groundtruth" / "a.png", big_m)
    pairs = discover_pairs(tmp_path)
    infos = [image_info(pairs[0])]
    chips = chip_index(pairs, infos, [0], (48, 48), (48, 48))
    geo = ALL_ON.without_photometric()
    ds = ChipDataset(pairs, infos, chips, (48, 48), Normalisation("fixed"), 127, augment=geo)
    scales, angles = [], []
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            x, y = ds[i]
            assert x.shape == (3, 48, 48) and y.shape == (48, 48)
            if (y == 1).sum() > 60:
                assert on_top(x.numpy() * 255, y.numpy())
            rng = np.random.default_rng((ds.seed, epoch, i))
            scale = draw_scale(rng, geo)
            angle = draw_angle(rng, geo)
            assert (
                ds.window(i, None, scale, angle)[1].width == window_size((48, 48), scale, angle)[0]
            )
            scales.append(scale)
            angles.append(angle)
    assert min(scales) < 0.8 and max(scales) > 1.2  # zoom in and out both happened
    assert min(angles) < -10 and max(angles) > 10  # and turns both ways
