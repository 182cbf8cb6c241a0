"""Pseudo-labels: a trained model's confident predictions on unlabelled imagery, as masks.

Self-training adapts a model to imagery of the area to be mapped without a single label:
the model predicts the target images, its confident pixels become labels (road where the
road probability is at least ``confidence``, background where it is at most
``1 - background_confidence``) and the pixels between stay unlabelled. The masks are
written with the unlabelled pixels under their own nodata mask band, which training
ignores (:data:`basiss.data.dataset.IGNORE`), and a file-list CSV pairs them with their
images, so a fine-tuning run from the same weights learns the target's look from them::

    basiss adapt RUN/best.pt new_city/images --pseudo-labels new_city/pseudo
    basiss train --file-list new_city/pseudo/pseudo_labels.csv --init-from RUN/best.pt

Road is written 255 and background 0, so the masks train alike with a
``--mask-threshold`` of 0 or of 127 (the CIL sets' threshold).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rasterio.errors import NotGeoreferencedWarning

from basiss.errors import BasissError
from basiss.inference.scene import PredictWarning
from basiss.io.cog import Layer
from basiss.io.filelist import Pair, write_file_list
from basiss.io.raster import open_raster, write_geotiff

if TYPE_CHECKING:
    from basiss.inference.options import PredictOptions

#: The file list :func:`write_pseudo_labels` writes in its output folder.
FILE_LIST = "pseudo_labels.csv"
#: Suffix of a pseudo-label mask beside its image's stem.
MASK_SUFFIX = "_pseudo.tif"
#: The mask value of road (background is 0): above both usual mask thresholds.
ROAD = 255
#: Default thresholds: road at p >= 0.9, background at p <= 0.02. A teacher on imagery it
#: has not seen calls many roads background with confidence (the session-4 cil2016 model
#: gave 42% of cil2022_train's road pixels p <= 0.1, 25% p <= 0.02); with the stricter
#: background, 10 minutes of self-training gained +0.074 / +0.039 F1 (two seeds) against
#: +0.029 / +0.042 with 0.9 for both (``benchmarks/sources.py --mode selftrain``).
CONFIDENCE = 0.9
BACKGROUND_CONFIDENCE = 0.98


@dataclass(frozen=True)
class PseudoLabels:
    """What :func:`write_pseudo_labels` wrote.

    Attributes:
        file_list: the CSV pairing each image with its pseudo-label mask.
        masks: the masks, in image order.
        labelled: fraction of the images' valid pixels given a label.
        road: fraction of the labelled pixels labelled road.
    """

    file_list: Path
    masks: tuple[Path, ...]
    labelled: float
    road: float


def pseudo_mask(
    prob: np.ndarray,
    valid: np.ndarray,
    confidence: float,
    background_confidence: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The pseudo-label of a probability raster (uint8 0..255, as `basiss predict` writes).

    Args:
        prob: ``(rows, cols)`` road probability scaled to 0..255.
        valid: ``(rows, cols)`` bool, the pixels that were predicted.
        confidence: a probability in (0.5, 1]: road at or above it.
        background_confidence: in (0.5, 1]: background at or below ``1 -`` it (None:
            ``confidence``). A teacher that misses roads (on imagery it has not seen, it
            often calls them background with confidence) gives cleaner background labels
            with a stricter value here.

    Returns:
        ``(mask, labelled)``: uint8 :data:`ROAD`/0, and bool True where a label was given.

    Raises:
        ValueError: a confidence outside (0.5, 1].
    """
    background = confidence if background_confidence is None else background_confidence
    for value in (confidence, background):
        if not 0.5 < value <= 1.0:
            raise ValueError(f"confidence must be in (0.5, 1], got {value}")
    p = prob.astype(np.float32) / 255.0
    road = p >= confidence
    labelled = valid & (road | (p <= 1.0 - background))
    mask = np.where(road & labelled, np.uint8(ROAD), np.uint8(0))
    return mask, labelled


def _say_once(said: list[warnings.WarningMessage], n_images: int) -> None:
    """Pass prediction's warnings on, those of images without CRS as one line for all."""
    no_crs = 0
    for w in said:
        if issubclass(w.category, PredictWarning) and "has no CRS" in str(w.message):
            no_crs += 1
        elif not issubclass(w.category, NotGeoreferencedWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if no_crs:
        warnings.warn(
            PredictWarning(
                f"{no_crs} of {n_images} images have no CRS: their pseudo-labels lie on "
                "their pixel grids only"
            ),
            stacklevel=3,
        )


def write_pseudo_labels(
    checkpoint: str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    confidence: float = CONFIDENCE,
    options: PredictOptions | None = None,
    background_confidence: float | None = BACKGROUND_CONFIDENCE,
) -> PseudoLabels:
    """Predict ``images`` with ``checkpoint`` and write their pseudo-labels to ``out_dir``.

    Each mask ``<stem>_pseudo.tif`` lies on its image's grid (CRS and transform kept;
    pixel grid only for an image without CRS); the file list :data:`FILE_LIST` pairs
    them. The predictions are made in a temporary folder and removed. Each image's
    mask is made whole in memory (a uint8 and two bool arrays of its size): fine for
    chips and tiles, a few GB for a 40,000 px scene.

    Args:
        checkpoint: the model to take the labels from.
        images: the unlabelled images (paths).
        out_dir: the folder to write to (created).
        confidence, background_confidence: see :func:`pseudo_mask`.
        options: :class:`basiss.inference.options.PredictOptions` (None: the defaults).

    Raises:
        BasissError: no image, two images of one stem, or what prediction raises.
    """
    from basiss.inference.predict import predict_many

    given = {"confidence": confidence, "background-confidence": background_confidence}
    for name, value in given.items():
        if value is not None and not 0.5 < value <= 1.0:
            raise BasissError(f"--{name} must be in (0.5, 1], got {value}")
    paths = [Path(p) for p in images]
    if not paths:
        raise BasissError("no image to pseudo-label")
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise BasissError(f"two target images are named {dup!r}: their masks would collide")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pseudo-", dir=out))
    masks: list[Path] = []
    n_valid = n_labelled = n_road = 0
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            outputs = predict_many(paths, checkpoint, work, options)
        _say_once(said, len(paths))
        for image, o in zip(paths, outputs, strict=True):
            with open_raster(o.prob_path) as ds:
                prob, valid = ds.read(1), ds.read_masks(1) > 0
                crs, transform = ds.crs, ds.transform
            mask, labelled = pseudo_mask(prob, valid, confidence, background_confidence)
            path = out / f"{image.stem}{MASK_SUFFIX}"
            with warnings.catch_warnings():  # no CRS: said once above
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                write_geotiff(path, mask, crs, transform, Layer.MASK, valid=labelled)
            masks.append(path)
            n_valid += int(valid.sum())
            n_labelled += int(labelled.sum())
            n_road += int((mask == ROAD).sum())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pairs = [Pair(p.stem, str(p), mask_file=str(m)) for p, m in zip(paths, masks, strict=True)]
    file_list = write_file_list(out / FILE_LIST, pairs)
    return PseudoLabels(
        file_list=file_list,
        masks=tuple(masks),
        labelled=n_labelled / max(n_valid, 1),
        road=n_road / max(n_labelled, 1),
    )


__all__ = [
    "BACKGROUND_CONFIDENCE",
    "CONFIDENCE",
    "FILE_LIST",
    "PseudoLabels",
    "pseudo_mask",
    "write_pseudo_labels",
]
