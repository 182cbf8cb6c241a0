"""Training data: image/mask pairs, the chip index, the split by image, a lazy Dataset.

Sources are file-list CSVs (the seed's format, see :mod:`basiss.io.filelist`) or
folders of image/mask pairs (``images/`` beside ``groundtruth/``, ``masks/``
or ``labels/``; or DeepGlobe's ``X_sat.jpg`` beside ``X_mask.png``). Nothing
holds the dataset in RAM: the index stores chip windows, and each item is read
by window when asked for, from files opened once per worker process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rasterio.windows import Window
from torch.utils.data import Dataset

from basiss.data.augment import (
    Augment,
    augment_pair,
    draw_angle,
    draw_scale,
    warp_pair,
    window_size,
)
from basiss.data.normalize import Normalisation
from basiss.errors import BasissError, file_error
from basiss.geo import ground_sample_distance
from basiss.grid import chip_grid
from basiss.io.bands import image_bands
from basiss.io.filelist import Pair, read_file_list
from basiss.io.raster import RASTER_SUFFIXES, open_raster, read_decimated, read_window, window_mask

__all__ = [
    "IGNORE",
    "Augment",
    "Chip",
    "ChipDataset",
    "ImageInfo",
    "augment_pair",
    "binarise_mask",
    "chip_index",
    "dataset_statistics",
    "discover_pairs",
    "image_info",
    "source_name",
    "source_names",
    "split_by_image",
]

#: Mask value marking pixels outside the image, or under the mask file's own nodata mask
#: band (outside the image's valid area, or left unlabelled as pseudo-labels leave the
#: pixels they are unsure of): ignored by losses and metrics.
IGNORE = 255

MASK_FOLDERS = ("groundtruth", "masks", "mask", "labels", "gt")


# --------------------------------------------------------------------------- discovery


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)


def _pairs_in_folder(folder: Path) -> list[Pair]:
    """Image/mask pairs of a folder (see :func:`discover_pairs`)."""
    img_dir = folder / "images"
    if img_dir.is_dir():
        mask_dir = next((folder / m for m in MASK_FOLDERS if (folder / m).is_dir()), None)
        if mask_dir is None:
            raise file_error(folder, f"has images/ but no mask folder ({', '.join(MASK_FOLDERS)})")
        masks = {p.stem.lower(): p for p in _images_in(mask_dir)}
        pairs = []
        for im in _images_in(img_dir):
            mask = masks.get(im.stem.lower())
            if mask is None:
                raise file_error(im, f"no mask of the same name in {mask_dir}")
            pairs.append(Pair(name=im.stem, im_file=str(im), mask_file=str(mask)))
    else:  # DeepGlobe: X_sat.jpg + X_mask.png side by side
        files = _images_in(folder)
        masks = {p.stem[: -len("_mask")]: p for p in files if p.stem.endswith("_mask")}
        pairs = []
        for im in files:
            if im.stem.endswith("_sat") and im.stem[: -len("_sat")] in masks:
                key = im.stem[: -len("_sat")]
                pairs.append(Pair(name=key, im_file=str(im), mask_file=str(masks[key])))
    if not pairs:
        raise file_error(folder, "no image/mask pairs found (want images/ + groundtruth/)")
    return pairs


def discover_pairs(source: str | os.PathLike[str]) -> list[Pair]:
    """The image/mask pairs of one source.

    Args:
        source: a file-list CSV, or a folder holding ``images/`` and a mask
            folder (``groundtruth/``, ``masks/``, ``labels/``) with files of the
            same stem, or DeepGlobe-style ``X_sat.*`` / ``X_mask.*`` files.

    Returns:
        Pairs in a stable (sorted or CSV) order; every pair has a mask.
    """
    p = Path(source)
    if p.is_dir():
        return _pairs_in_folder(p)
    pairs = read_file_list(p)
    for pair in pairs:
        if not pair.mask_file:
            raise file_error(p, f"row {pair.name!r} has no mask_file: training needs masks")
    return pairs


def source_name(source: str | os.PathLike[str]) -> str:
    """A short name of a source for log columns: the folder name or CSV stem.

    Characters other than letters, digits and ``_`` become ``_`` (so
    ``cil2022_train`` stays, ``my list.csv`` becomes ``my_list``).
    """
    p = Path(source)
    stem = p.name if p.is_dir() else p.stem
    name = re.sub(r"[^0-9A-Za-z_]+", "_", stem).strip("_")
    return name or "source"


def source_names(sources: Sequence[str | os.PathLike[str]]) -> list[str]:
    """:func:`source_name` of each source, made unique with ``_2``, ``_3``... suffixes."""
    names: list[str] = []
    for s in sources:
        base = source_name(s)
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}_{k}"
        names.append(name)
    return names


# --------------------------------------------------------------------------- split


def split_by_image(n_images: int, fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Hold out whole images for validation (never chips of one image on both sides).

    ``round(fraction * n_images)`` images (at least 1 when ``fraction > 0`` and
    there are 2 or more images) go to validation, chosen by a seeded shuffle.

    Returns:
        Sorted ``(train_indices, val_indices)``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    n_val = int(round(fraction * n_images))
    n_val = min(max(n_val, 1), n_images - 1) if fraction > 0 and n_images >= 2 else 0
    order = np.random.default_rng(seed).permutation(n_images)
    val = sorted(int(i) for i in order[:n_val])
    train = sorted(int(i) for i in order[n_val:])
    return train, val


# --------------------------------------------------------------------------- bands


@dataclass(frozen=True)
class ImageInfo:
    """Size, band layout and ground sample distance of one pair, checked once when indexing.

    ``gsd`` is the image's pixel size on the ground in metres, None when it has no CRS.
    """

    width: int
    height: int
    bands: tuple[int, ...]
    gsd: float | None = None


def image_info(pair: Pair, n_bands: int | None = None) -> ImageInfo:
    """Open a pair once: image size, the bands to read, and mask agreement.

    The bands are :func:`image_bands` (RGBA with an alpha or constant-opaque
    4th band -> RGB; the first ``n_bands`` when given). Fewer bands than
    asked, or a mask of another size, is an error naming the file.
    """
    with open_raster(pair.im_file) as ds:
        bands = image_bands(ds, n_bands)
        if n_bands is not None and len(bands) < n_bands:
            raise file_error(pair.im_file, f"has {len(bands)} bands, --n-bands asks {n_bands}")
        w, h = ds.width, ds.height
        gsd = ground_sample_distance(ds.transform, ds.crs, w, h)
    with open_raster(pair.mask_file) as ms:
        if (ms.width, ms.height) != (w, h):
            raise file_error(
                pair.mask_file, f"is {ms.width}x{ms.height}, its image {pair.im_file} is {w}x{h}"
            )
    return ImageInfo(w, h, tuple(bands), gsd)


# --------------------------------------------------------------------------- chip index


@dataclass(frozen=True)
class Chip:
    """One training sample: an image (index into the pair list) and a window."""

    image: int
    col: int
    row: int


def chip_index(
    pairs: Sequence[Pair],
    infos: Sequence[ImageInfo],
    images: Sequence[int],
    slice_: tuple[int, int],
    stride: tuple[int, int],
    skip_nodata: bool = True,
) -> list[Chip]:
    """Chips of the chosen images on the shared chip grid, nodata chips dropped.

    A chip is nodata when every image pixel in it is 0 (SpaceNet's outside of
    the scene). Images are read one chip row at a time, never whole.
    """
    sx, sy = slice_
    chips: list[Chip] = []
    for i in images:
        info = infos[i]
        grid = chip_grid(info.width, info.height, sx, sy, stride[0], stride[1])
        if not skip_nodata:
            chips += [Chip(i, c, r) for r in grid.rows for c in grid.cols]
            continue
        with open_raster(pairs[i].im_file) as ds:
            for r in grid.rows:
                band = read_window(ds, Window(0, r, info.width, sy), list(info.bands))
                for c in grid.cols:
                    if band[:, :, c : c + sx].any():
                        chips.append(Chip(i, c, r))
    return chips


def dataset_statistics(
    pairs: Sequence[Pair],
    infos: Sequence[ImageInfo],
    images: Sequence[int],
    max_pixels_per_image: int = 250_000,
) -> Normalisation:
    """Per-band mean/std over the valid (not all-zero) pixels of the chosen images.

    Each image is read decimated to about ``max_pixels_per_image`` pixels, so the
    cost does not grow with scene size. Returns a ``dataset`` normalisation.
    """
    n = len(infos[images[0]].bands)
    total = np.zeros(n)
    total_sq = np.zeros(n)
    count = 0
    for i in images:
        with open_raster(pairs[i].im_file) as ds:
            arr = read_decimated(ds, infos[i].bands, max_pixels_per_image).astype(np.float64)
        valid = arr.any(axis=0)
        vals = arr[:, valid]
        total += vals.sum(axis=1)
        total_sq += (vals**2).sum(axis=1)
        count += vals.shape[1]
    if count == 0:
        raise BasissError("dataset normalisation: the training images have no valid pixels")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return Normalisation("dataset", tuple(float(v) for v in mean), tuple(float(v) for v in std))


# --------------------------------------------------------------------------- dataset


def binarise_mask(raw: np.ndarray, threshold: float, n_classes: int) -> np.ndarray:
    """Road = ``raw > threshold`` (uint8 0/1) for 1 or 2 classes; class indices otherwise."""
    if n_classes <= 2:
        return (raw > threshold).astype(np.uint8)
    return raw.astype(np.uint8)


class ChipDataset(Dataset):
    """Chips read lazily by window, normalised, optionally augmented.

    Items are ``(x, y)``: ``x`` float32 ``(bands, sy, sx)``; ``y`` uint8
    ``(sy, sx)`` with 0/1 road (or class index) and :data:`IGNORE` where the
    chip reaches past the image or the mask file's own mask band marks nodata.
    Randomness depends only on ``(seed, epoch, index)``, so results do not depend
    on worker count.

    Args:
        pairs, infos: the image/mask pairs and their :class:`ImageInfo`.
        chips: the index (see :func:`chip_index`).
        slice_: chip size (x, y).
        norm: the model-input normalisation.
        mask_threshold: mask values above it are road.
        n_classes: model classes (masks are binarised for 1 or 2).
        augment: augmentation settings (see :mod:`basiss.data.augment`), or None
            for none. Scale jitter and free rotation read a window large
            enough for the zoomed, turned chip and resample it to the chip.
        random_crop: read a random window of the chip's image instead of the
            grid window (the epoch still has one sample per grid chip).
        seed: base seed of augmentation and crops.
        zoom: the resolution the model sees the images at (0.5: every chip is read
            from a window twice its size, resampled down; the chip grid of ``chips``
            is then in steps of :attr:`extent`, the chip's footprint in image pixels).
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        infos: Sequence[ImageInfo],
        chips: Sequence[Chip],
        slice_: tuple[int, int],
        norm: Normalisation,
        mask_threshold: float = 0.0,
        n_classes: int = 1,
        augment: Augment | None = None,
        random_crop: bool = False,
        seed: int = 0,
        zoom: float = 1.0,
    ) -> None:
        self.pairs = list(pairs)
        self.infos = list(infos)
        self.chips = list(chips)
        self.slice = slice_
        self.norm = norm
        self.mask_threshold = mask_threshold
        self.n_classes = n_classes
        self.augment = augment
        self.random_crop = random_crop
        self.seed = seed
        self.zoom = zoom
        self.extent = window_size(slice_, zoom, 0.0)
        self.epoch = 0
        self._open: dict[str, Any] = {}
        self._pid = -1

    def set_epoch(self, epoch: int) -> None:
        """Change the random stream (call before each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.chips)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"], state["_pid"] = {}, -1  # open datasets never cross processes
        return state

    def _dataset(self, path: str) -> Any:
        """An open rasterio dataset, cached per process (rasterio handles are not fork-safe)."""
        if self._pid != os.getpid():
            self._open, self._pid = {}, os.getpid()
        entry = self._open.get(path)
        if entry is None:
            ctx = open_raster(path)  # keep the context too: its finaliser would close ds
            entry = (ctx, ctx.__enter__())
            self._open[path] = entry
        return entry[1]

    def close(self) -> None:
        """Close the files this process opened."""
        for _, ds in self._open.values():
            ds.close()
        self._open = {}

    def window(
        self,
        index: int,
        rng: np.random.Generator | None = None,
        scale: float = 1.0,
        angle: float = 0.0,
    ) -> tuple[int, Window]:
        """The image and window of item ``index``.

        The window is the grid chip (or, with random crops, a random window of
        the chip's image), sized to hold the chip zoomed by ``scale`` times the
        dataset's ``zoom`` and turned by ``angle`` degrees
        (:func:`basiss.data.augment.window_size`) and centred on the chip; it is
        shifted inside the image when the image is large enough.
        """
        chip = self.chips[index]
        info = self.infos[chip.image]
        sx, sy = self.extent
        w, h = window_size(self.slice, scale * self.zoom, angle)
        if self.random_crop and rng is not None:
            col = int(rng.integers(0, max(0, info.width - w) + 1))
            row = int(rng.integers(0, max(0, info.height - h) + 1))
        else:
            col = int(round(chip.col + (sx - w) / 2))
            row = int(round(chip.row + (sy - h) / 2))
            col = min(max(col, 0), info.width - w) if info.width >= w else 0
            row = min(max(row, 0), info.height - h) if info.height >= h else 0
        return chip.image, Window(col, row, w, h)

    def read(
        self,
        index: int,
        rng: np.random.Generator | None = None,
        scale: float = 1.0,
        angle: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Image chip and mask (0/1, :data:`IGNORE` outside the image) of item ``index``.

        At ``scale * zoom == 1`` and ``angle == 0`` the raw chip (file dtype);
        otherwise the window of :meth:`window` zoomed and turned onto the chip
        (float32 bilinear image, nearest mask; :func:`basiss.data.augment.warp_pair`).
        """
        i, win = self.window(index, rng, scale, angle)
        pair, info = self.pairs[i], self.infos[i]
        image = read_window(self._dataset(pair.im_file), win, list(info.bands))
        mask_ds = self._dataset(pair.mask_file)
        raw = read_window(mask_ds, win, [1])[0]
        mask = binarise_mask(raw, self.mask_threshold, self.n_classes)
        labelled = window_mask(mask_ds, win)  # the mask's own nodata: unlabelled pixels
        if labelled is not None:
            mask[~labelled] = IGNORE
        r0, c0 = max(0, -win.row_off), max(0, -win.col_off)
        r1 = max(r0, min(win.height, info.height - win.row_off))
        c1 = max(c0, min(win.width, info.width - win.col_off))
        if (r0, c0, r1, c1) != (0, 0, win.height, win.width):
            inside = np.zeros(mask.shape, bool)
            inside[r0:r1, c0:c1] = True
            mask[~inside] = IGNORE
        if angle != 0.0 or (win.width, win.height) != tuple(self.slice):
            image, mask = warp_pair(image, mask, self.slice, scale * self.zoom, angle, IGNORE)
        return image, mask

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        scale, angle = 1.0, 0.0
        if self.augment is not None:
            scale = draw_scale(rng, self.augment)
            angle = draw_angle(rng, self.augment)
        image, mask = self.read(index, rng, scale, angle)
        if self.augment is not None:
            x, mask = augment_pair(image, mask, rng, self.augment)
        else:
            x = image.astype(np.float32)
        x = self.norm.apply(x)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(
            np.ascontiguousarray(mask)
        )
