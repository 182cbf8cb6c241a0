"""Adapting a trained model to unlabelled imagery of the area to be mapped.

Imagery from another sensor, season or city shifts the statistics of every layer's
activations; batch normalisation then scales them with the training set's mean and
variance, and the net sees its features off-centre. Re-estimating each BatchNorm layer's
running mean and variance on the target imagery (AdaBN, Li et al. 2016) re-centres them
without a label and without changing a learnt weight. :func:`adapt_batchnorm` does that on
random chips of the target images, read and normalised exactly as prediction reads them,
and writes a new checkpoint; ``basiss adapt`` is the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window
from torch import nn

from basiss.data.augment import resize_pair, window_size
from basiss.errors import file_error
from basiss.inference.gsd import input_gsd, scale_factor
from basiss.inference.scene import model_bands
from basiss.io.filelist import read_file_list
from basiss.io.raster import (
    RASTER_SUFFIXES,
    apply_stretch,
    dataset_nodata,
    is_8bit,
    open_raster,
    read_window,
    stretch_limits,
    valid_pixels,
)
from basiss.progress import progress
from basiss.training.checkpoint import (
    ModelSpec,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)

#: Folders of a training source that hold images (the masks folder is skipped).
IMAGE_FOLDERS = ("images", "image", "img")


@dataclass(frozen=True)
class AdaptResult:
    """What :func:`adapt_batchnorm` did.

    Attributes:
        path: the adapted checkpoint.
        images: target images read.
        chips: chips the statistics were estimated on.
        layers: BatchNorm layers re-estimated.
        mean_shift: mean over layers of |new mean - old mean| / sqrt(old var): how far
            the target imagery moved the activations (0 = no shift).
    """

    path: Path
    images: int
    chips: int
    layers: int
    mean_shift: float


def target_images(source: str | os.PathLike[str]) -> list[Path]:
    """The images of ``source``: a folder of images (or a training folder's ``images/``),
    a file-list CSV (its ``im_file`` column; masks unused) or one image.

    Raises:
        BasissError: naming ``source``: missing, or holding no image.
    """
    p = Path(source)
    if p.is_file() and p.suffix.lower() == ".csv":
        return [pair.im_file for pair in read_file_list(p)]
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise file_error(p, "no such folder or file")
    for name in IMAGE_FOLDERS:
        if (p / name).is_dir():
            p = p / name
            break
    found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in RASTER_SUFFIXES)
    if not found:
        raise file_error(p, f"holds no image ({', '.join(sorted(RASTER_SUFFIXES))})")
    return found


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The model's BatchNorm layers, in order."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def random_chips(
    images: list[Path], spec: ModelSpec, n: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """``n`` random chips (the model's bands on the 8-bit scale, as prediction reads them)
    drawn in turn from ``images``: one window of the training chip size per draw, clipped
    to small images. Chips with no valid pixel are drawn again (at most ``4 n`` draws).

    An image that prediction would resample (another GSD, or a model trained with
    ``--zoom``: :func:`basiss.inference.gsd.scale_factor`) gives windows of the chip size
    divided by that factor, resampled to the chip (bilinear), as prediction sees it."""
    chips: list[np.ndarray] = []
    limits: dict[Path, np.ndarray | None] = {}
    for draw in range(4 * n):
        if len(chips) == n:
            break
        path = images[draw % len(images)]
        with open_raster(path) as ds:
            bands = model_bands(ds, spec.bands, spec.in_channels, path)
            if path not in limits:
                limits[path] = None if is_8bit(ds) else stretch_limits(ds, bands, *spec.stretch)
            factor = scale_factor(spec.gsd, input_gsd(ds, None), "auto", spec.zoom)
            wx, wy = window_size(spec.slice, factor, 0.0)
            sx, sy = min(wx, ds.width), min(wy, ds.height)
            x0 = int(rng.integers(0, ds.width - sx + 1))
            y0 = int(rng.integers(0, ds.height - sy + 1))
            raw = read_window(ds, Window(x0, y0, sx, sy), bands)
            valid = valid_pixels(raw, dataset_nodata(ds))
        if not valid.any():
            continue
        lim = limits[path]
        chip = raw if lim is None else apply_stretch(raw, lim, valid)
        if factor != 1.0:
            size = window_size((sx, sy), 1.0 / factor, 0.0)
            chip, _ = resize_pair(chip, np.zeros(chip.shape[-2:], np.uint8), size)
        chips.append(chip)
    return chips


@torch.no_grad()
def adapt_batchnorm(
    checkpoint: str | os.PathLike[str],
    target: str | os.PathLike[str],
    out: str | os.PathLike[str],
    chips: int = 256,
    batch_size: int = 8,
    seed: int = 0,
    device: str = "auto",
) -> AdaptResult:
    """Re-estimate every BatchNorm layer's statistics on unlabelled ``target`` imagery.

    Args:
        checkpoint: the trained model.
        target: images of the area to be mapped (see :func:`target_images`).
        out: the adapted checkpoint to write (atomically; the input is left as it was).
        chips: random chips (the model's training chip size) to estimate on.
        batch_size: chips per forward pass.
        seed: seeds the chip positions.
        device: ``auto``, ``cpu`` or ``cuda``.

    Returns:
        What was done (:class:`AdaptResult`).

    Raises:
        BasissError: an unreadable checkpoint or image, images whose bands do not fit
            the model, a model without BatchNorm, or ``out`` the same file as ``checkpoint``.
    """
    if Path(out).resolve() == Path(checkpoint).resolve():
        raise file_error(out, "is the checkpoint being adapted; write the result elsewhere")
    dev = resolve_device(device)
    model, spec = load_checkpoint(checkpoint, dev)
    layers = batchnorm_layers(model)
    if not layers:
        raise file_error(checkpoint, f"its {spec.arch} has no BatchNorm layer to adapt")
    images = target_images(target)
    rng = np.random.default_rng(seed)
    raw = random_chips(images, spec, chips, rng)
    if not raw:
        raise file_error(target, "no chip with valid pixels")
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in layers]  # type: ignore[union-attr]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over all batches, not an EMA
        m.train()
    norm = spec.normalisation
    for i in progress(range(0, len(raw), batch_size), desc="adapting", unit="batch"):
        batch = raw[i : i + batch_size]
        same = {b.shape for b in batch}
        groups = [batch] if len(same) == 1 else [[b] for b in batch]
        for g in groups:
            x = torch.from_numpy(norm.apply(np.stack(g).astype(np.float32))).to(dev)
            model(x)
    model.eval()
    shift = [
        float(((m.running_mean - mu).abs() / (var + m.eps).sqrt()).mean())  # type: ignore[operator]
        for m, (mu, var) in zip(layers, before, strict=True)
    ]
    spec.extra = {
        **spec.extra,
        "adapted_to": {"source": str(target), "images": len(images), "chips": len(raw)},
    }
    path = save_checkpoint(out, model, spec)
    return AdaptResult(path, len(images), len(raw), len(layers), float(np.mean(shift)))
