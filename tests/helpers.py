"""Small writers the tests share (imported as ``from helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from basiss.training.config import TrainConfig

#: A 0.3 m pixel in degrees, as SpaceNet 3 ships its EPSG:4326 chips.
SPACENET_DEG = 2.7e-6


def write_png(path: Path, arr: np.ndarray) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) uint8 array as PNG (no georeference)."""
    arr = arr[np.newaxis] if arr.ndim == 2 else arr
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="PNG",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype="uint8",
    ) as dst:
        dst.write(arr)
    return path


def tiny_config(roads: Path, out: Path, **kw: object) -> TrainConfig:
    """A training config that runs in seconds: a 4-wide U-Net-small on 32 px chips, the
    pre-preset recipe (bce, grid chips, best by validation loss); ``kw`` overrides."""
    base = dict(
        file_lists=[roads],
        out=out,
        arch="unet-small",
        arch_kwargs={"base": 4},
        slice=(32, 32),
        stride=(32, 32),
        batch_size=8,
        epochs=2,
        lr=1e-2,
        loss="bce",
        random_crop=False,
        zoom=1.0,
        monitor="val_loss",
        early_stopping_patience=4,
        validation_split=0.25,
        threads=1,
        device="cpu",
    )
    base.update(kw)
    return TrainConfig(**base)


def random_checkpoint(
    path: Path, slice_: tuple[int, int] = (64, 64), stride: tuple[int, int] = (48, 48),
    gsd: float | None = None, zoom: float = 1.0,
) -> Path:  # fmt: skip
    """A seeded, untrained 4-wide U-Net-small checkpoint (RGB, one road class) whose
    BatchNorm variances are 0.05, so its output varies across pixels."""
    import torch

    from basiss.training.checkpoint import ModelSpec, save_checkpoint

    torch.manual_seed(0)
    spec = ModelSpec(
        arch="unet-small", in_channels=3, n_classes=1, bands=[1, 2, 3],
        arch_kwargs={"base": 4}, slice=slice_, stride=stride, gsd=gsd, zoom=zoom,
    )  # fmt: skip
    model = spec.build()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(0.05)
    return save_checkpoint(path, model.eval(), spec)
