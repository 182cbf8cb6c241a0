"""int8 models: onnxruntime static quantization, calibrated on chips of real images.

:func:`cached_int8` turns a cached fp32 export into an int8 one, cached the same way
(:mod:`basiss.inference.onnx_cache`). The recipe:

- QDQ format, per-channel int8 weights, uint8 activations, ``reduce_range`` (7-bit
  weights): onnxruntime's advice for x86 CPUs without VNNI (AVX2 machines such as
  Zen 2), whose u8 x s8 kernels could otherwise saturate 16-bit sums;
- MinMax activation ranges from a seeded sample of non-empty chips
  (:func:`sample_chips`) of the images being predicted, or of a given list, read,
  stretched and normalised exactly as prediction does (:mod:`basiss.inference.reader`);
- the model is first pre-processed (``quant_pre_process``: shape inference, folded
  constants) as onnxruntime recommends.

The build measures the int8 probabilities against fp32 on the calibration chips
(:func:`probability_difference`); the figures are kept in the cache entry and shown
once per run.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from basiss.errors import BasissError
from basiss.grid import chip_grid
from basiss.inference.engines import onnx_session
from basiss.inference.inputs import expand_inputs
from basiss.inference.onnx_cache import CacheEntry, cached_model
from basiss.inference.scene import scene_info
from basiss.io.raster import PathLike, apply_stretch, open_raster, read_window, valid_pixels
from basiss.training.checkpoint import ModelSpec

#: The quantization settings (part of the cache key: a change rebuilds).
RECIPE: dict[str, Any] = {
    "format": "QDQ",
    "per_channel": True,
    "reduce_range": True,
    "activations": "QUInt8",
    "weights": "QInt8",
    "calibrate": "MinMax",
}
#: Chips per onnxruntime call when measuring the int8 error.
DIFF_BATCH = 4


def calibration_facts(sources: Sequence[PathLike], n: int, seed: int) -> dict[str, Any]:
    """What identifies a calibration sample: each image's resolved path, size and mtime,
    the number of chips and the seed (part of the int8 cache key).

    Raises:
        BasissError: a source that is not there (see :func:`expand_inputs`).
    """
    images = []
    for p in expand_inputs(sources):
        st = p.stat()
        images.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return {"images": images, "chips": n, "seed": seed}


def _open_scenes(stack: contextlib.ExitStack, spec: ModelSpec, chip: Any, stride: Any) -> Any:
    """A function opening (once) and planning an image for :func:`sample_chips`."""
    scenes: dict[Path, Any] = {}

    def get(path: Path) -> Any:
        if path not in scenes:
            ds = stack.enter_context(open_raster(path))
            with warnings.catch_warnings():  # no CRS: said once by the prediction itself
                warnings.simplefilter("ignore")
                scenes[path] = (ds, scene_info(ds, path, spec, chip, stride))
        return scenes[path]

    return get


def _chip_of(ds: rasterio.io.DatasetReader, scene: Any, window: Window) -> np.ndarray | None:
    """The stretched chip ``(C, H, W)`` at ``window`` as prediction reads it, None if empty."""
    raw = read_window(ds, window, scene.bands)
    valid = valid_pixels(raw, scene.nodata)
    if not valid.any():
        return None
    return raw if scene.limits is None else apply_stretch(raw, scene.limits, valid)


def sample_chips(
    sources: Sequence[PathLike],
    spec: ModelSpec,
    chip: tuple[int, int],
    stride: tuple[int, int],
    n: int,
    seed: int = 0,
) -> np.ndarray:
    """A seeded sample of ``n`` non-empty chips of ``sources``, normalised as prediction does.

    Every chip of every image's prediction grid is a candidate; candidates are drawn in
    a seeded random order and kept while they have a valid (not nodata) pixel. Images
    are opened only when one of their chips is drawn.

    Args:
        sources: images, folders or file-list CSVs (:func:`expand_inputs`).
        spec: the model's spec (bands, stretch, normalisation).
        chip, stride: the prediction's chip geometry ``(x, y)``.
        n: chips wanted (fewer when the images hold fewer non-empty chips).
        seed: the sample's seed.

    Returns:
        ``(m, C, slice_y, slice_x)`` float32, ``1 <= m <= n``.

    Raises:
        BasissError: an unreadable image, one that does not fit the model, or no
            non-empty chip at all.
    """
    paths = expand_inputs(sources)
    pool: list[tuple[Path, Window]] = []
    for p in paths:
        with open_raster(p) as ds:
            grid = chip_grid(ds.width, ds.height, chip[0], chip[1], stride[0], stride[1])
        pool.extend((p, w) for w in grid.windows())
    order = np.random.default_rng(seed).permutation(len(pool))
    chips: list[np.ndarray] = []
    with contextlib.ExitStack() as stack:
        scene_of = _open_scenes(stack, spec, chip, stride)
        for i in order:
            path, window = pool[int(i)]
            ds, scene = scene_of(path)
            c = _chip_of(ds, scene, window)
            if c is not None:
                chips.append(c)
            if len(chips) == n:
                break
    if not chips:
        names = ", ".join(str(p) for p in paths[:3])
        raise BasissError(f"{names}: no chip with data to calibrate the int8 model on")
    return spec.normalisation.apply(np.stack(chips)).astype(np.float32, copy=False)


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Silence onnxruntime.quantization's root-logger warnings (pre-processing advice)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


class _ChipReader:
    """An onnxruntime ``CalibrationDataReader`` over chips, one at a time (low memory)."""

    def __init__(self, chips: np.ndarray, input_name: str) -> None:
        self.chips, self.input_name, self.i = chips, input_name, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.chips):
            return None
        self.i += 1
        return {self.input_name: self.chips[self.i - 1 : self.i]}

    def rewind(self) -> None:
        self.i = 0


def quantize_int8(fp32: Path, chips: np.ndarray, out: Path) -> None:
    """Write the int8 (QDQ) model of the fp32 ONNX model ``fp32`` to ``out``.

    Args:
        fp32: an fp32 export (input ``chips``).
        chips: calibration chips ``(N, C, H, W)`` float32, normalised.
        out: the ``.onnx`` file to write.

    Raises:
        BasissError: onnxruntime could not quantize the model.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="basiss-int8-") as tmp, _quiet_quantizer():
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=False)
        except Exception:  # noqa: BLE001 - optional step: quantize the export as it is
            pre = fp32
        try:
            quantize_static(
                str(pre),
                str(out),
                _ChipReader(chips, "chips"),
                quant_format=QuantFormat.QDQ,
                per_channel=RECIPE["per_channel"],
                reduce_range=RECIPE["reduce_range"],
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        except Exception as exc:  # noqa: BLE001 - the quantizer raises many kinds
            raise BasissError(f"int8 quantization failed ({type(exc).__name__}: {exc})") from None


def probability_difference(
    fp32: Path, int8: Path, chips: np.ndarray, threads: int | None = None
) -> dict[str, float]:
    """Max and mean absolute difference of the two models' probabilities on ``chips``.

    Returns:
        ``{"chips": N, "max_abs": ..., "mean_abs": ...}`` (probabilities in 0..1).
    """
    a, b = onnx_session(fp32, threads), onnx_session(int8, threads)
    worst, total, count = 0.0, 0.0, 0
    for i in range(0, len(chips), DIFF_BATCH):
        x = np.ascontiguousarray(chips[i : i + DIFF_BATCH])
        d = np.abs(a.run(None, {"chips": x})[0] - b.run(None, {"chips": x})[0])
        worst, total, count = max(worst, float(d.max())), total + float(d.sum()), count + d.size
    return {"chips": float(len(chips)), "max_abs": worst, "mean_abs": total / max(count, 1)}


def cached_int8(
    fp32: CacheEntry,
    fp32_key: dict[str, Any],
    sources: Sequence[PathLike],
    spec: ModelSpec,
    geometry: tuple[tuple[int, int], tuple[int, int]],
    n: int,
    seed: int = 0,
    threads: int | None = None,
) -> CacheEntry:
    """The int8 model of a cached fp32 export, calibrated on ``sources``; built once.

    Args:
        fp32: the fp32 export's cache entry.
        fp32_key: the key it was cached under.
        sources: images, folders or file-list CSVs to calibrate on.
        spec: the model's spec.
        geometry: ``(chip, stride)`` of the prediction, as ``(x, y)`` pairs.
        n: calibration chips.
        seed: their sample's seed.
        threads: onnxruntime threads of the error measurement.

    Returns:
        The entry; its ``info`` holds :func:`probability_difference`'s figures.
    """
    chip, stride = geometry
    key = {
        "kind": "int8",
        "fp32": fp32_key,
        "recipe": RECIPE,
        "stride": list(stride),
        "calibration": calibration_facts(sources, n, seed),
    }

    def build(out: Path) -> dict[str, Any]:
        chips = sample_chips(sources, spec, chip, stride, n, seed)
        quantize_int8(fp32.path, chips, out)
        return probability_difference(fp32.path, out, chips, threads)

    return cached_model(key, build, root=fp32.path.parent)


__all__ = [
    "RECIPE",
    "cached_int8",
    "calibration_facts",
    "probability_difference",
    "quantize_int8",
    "sample_chips",
]
