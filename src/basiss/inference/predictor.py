"""A model ready to predict: a checkpoint (or a model + spec) loaded into a :class:`Predictor`.

Loading builds the engine once and fixes the chip geometry and blend window, so
many images and many row blocks reuse them. ``--engine auto`` is resolved here
(:func:`basiss.inference.engines.choose_engine`, the choice said once on stderr); an
ONNX engine runs the cached export of the checkpoint (:mod:`basiss.inference.onnx_cache`:
exported once per machine, not per run), and for ``--precision int8`` its cached
int8 model (:mod:`basiss.inference.quantize`), calibrated on the images being
predicted unless ``PredictOptions.calibration`` names others. The predictor also
carries a digest of its weights, part of the key under which a killed run's
finished row blocks are reused (:mod:`basiss.inference.resume`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from torch import nn

from basiss.errors import BasissError
from basiss.inference.blend import blend_weights
from basiss.inference.engines import (
    Engine,
    EngineChoice,
    EngineKind,
    OnnxEngine,
    Precision,
    TorchEngine,
    choose_engine,
    note,
)
from basiss.inference.options import PredictOptions
from basiss.io.raster import PathLike, file_sha256, open_raster
from basiss.training.checkpoint import ModelSpec, load_checkpoint, resolve_device


@dataclass
class Predictor:
    """A model ready to predict: engine, spec, chip geometry, weights and options.

    Attributes:
        spec: the checkpoint's model spec.
        engine: the back end (chips -> probabilities).
        chip, stride: chip size and step ``(x, y)``.
        options: the options it was built with.
        weights: the blend window ``(slice_y, slice_x)``.
        digest: hex digest of the model's weights and spec (:func:`checkpoint_digest`,
            :func:`model_digest`).
    """

    spec: ModelSpec
    engine: Engine
    chip: tuple[int, int]
    stride: tuple[int, int]
    options: PredictOptions
    weights: np.ndarray = field(repr=False)
    digest: str = ""

    @property
    def n_out(self) -> int:
        """Probability bands (non-background classes)."""
        return n_outputs(self.spec)


def n_outputs(spec: ModelSpec) -> int:
    """Probability bands of a model's output: its non-background classes (at least 1)."""
    return max(1, spec.n_classes - 1)


def checkpoint_digest(path: PathLike) -> str:
    """SHA-256 of a checkpoint file's bytes (hex): same digest, same weights and spec."""
    return file_sha256(path)


def model_digest(model: nn.Module, spec: ModelSpec) -> str:
    """SHA-256 (hex) of an in-memory model's parameters and buffers, and its spec."""
    h = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def chip_geometry(spec: ModelSpec, options: PredictOptions) -> tuple[tuple[int, int], ...]:
    """``(chip, stride)`` as ``(x, y)`` pairs: the options' or the checkpoint's, validated.

    A ``slice`` without a ``stride`` keeps the checkpoint's overlap ratio.

    Raises:
        BasissError: a side below 1, or a stride larger than the chip (gaps).
    """
    chip = tuple(options.slice) if options.slice is not None else tuple(spec.slice)
    if options.stride is not None:
        stride = tuple(options.stride)
    elif options.slice is None:
        stride = tuple(spec.stride)
    else:  # keep the checkpoint's overlap ratio
        stride = tuple(
            max(1, round(c * s / max(1, t)))
            for c, s, t in zip(chip, spec.stride, spec.slice, strict=True)
        )
    if min(chip) < 1 or min(stride) < 1:
        raise BasissError(f"slice and stride must be >= 1, got {chip} and {stride}")
    if stride[0] > chip[0] or stride[1] > chip[1]:
        raise BasissError(f"stride {stride} larger than slice {chip} would leave gaps")
    return chip, stride  # type: ignore[return-value]


def with_calibration(options: PredictOptions, images: Sequence[PathLike]) -> PredictOptions:
    """``options`` with ``images`` as the int8 calibration source when it names none.

    For runs whose predictors are built where the image list is unknown (Dask workers):
    the client fixes the calibration set once, so every worker quantizes alike (and the
    cache builds one int8 model). Unchanged for other precisions.
    """
    if options.precision != Precision.INT8 or options.calibration is not None:
        return options
    return replace(options, calibration=tuple(str(Path(p)) for p in images))


def build_engine(
    choice: EngineChoice,
    model: nn.Module,
    spec: ModelSpec,
    digest: str,
    geometry: tuple[tuple[int, int], tuple[int, int]],
    opts: PredictOptions,
    images: Sequence[PathLike] = (),
) -> Engine:
    """The engine of ``choice``: torch, or onnxruntime on the cached (fp32 or int8) model.

    Args:
        choice: what :func:`choose_engine` decided.
        model: the loaded network (on ``choice.device``).
        spec: its spec.
        digest: its digest (the ONNX cache key).
        geometry: ``(chip, stride)``, ``(x, y)`` pairs.
        opts: the options (threads, precision, calibration).
        images: the images to be predicted (int8 calibration when ``opts.calibration``
            is None).

    Raises:
        BasissError: int8 with nothing to calibrate on; a failed export or quantization.
    """
    from basiss.inference.onnx_cache import cached_export

    chip = geometry[0]
    if choice.kind == EngineKind.TORCH:
        fp16 = opts.precision == Precision.FP16
        return TorchEngine(model, spec.n_classes, choice.device, opts.threads, fp16=fp16)
    fp32, key = cached_export(model, spec, digest, chip)
    path = fp32.path
    if opts.precision == Precision.INT8:
        from basiss.inference.quantize import cached_int8

        sources = opts.calibration if opts.calibration is not None else tuple(images)
        if not sources:
            raise BasissError(
                "--precision int8 needs chips to calibrate on: give --calibration "
                "FILE_LIST_OR_IMAGE (or predict images with the same call)"
            )
        n, seed = opts.calibration_chips, opts.calibration_seed
        q = cached_int8(fp32, key, sources, spec, geometry, n, seed, opts.threads)
        note(
            f"int8 vs fp32 probabilities on {int(q.info['chips'])} calibration chips: "
            f"max |diff| {q.info['max_abs']:.4f}, mean {q.info['mean_abs']:.5f}"
            + ("" if q.built else " (cached int8 model)")
        )
        path = q.path
    return OnnxEngine(
        None, spec.n_classes, spec.in_channels, chip, opts.threads, path, opts.precision
    )


def load_predictor(
    model_or_checkpoint: PathLike | tuple[nn.Module, ModelSpec] | Predictor,
    options: PredictOptions | None = None,
    images: Sequence[PathLike] = (),
) -> Predictor:
    """Load a checkpoint (or wrap a model + spec) and build its engine once.

    Args:
        model_or_checkpoint: a checkpoint path, a ``(model, spec)`` pair, or a
            :class:`Predictor` (returned unchanged).
        options: prediction options (default: :class:`PredictOptions`).
        images: the images this predictor will run on: the int8 calibration chips
            are drawn from them unless ``options.calibration`` is set.

    Returns:
        The predictor, with :attr:`Predictor.digest` set.

    Raises:
        BasissError: a bad checkpoint, a refused engine/precision/device, or int8
            without calibration images.
    """
    if isinstance(model_or_checkpoint, Predictor):
        return model_or_checkpoint
    opts = options or PredictOptions()
    choice = choose_engine(opts.engine, resolve_device(opts.device), opts.precision)
    note(choice.reason)
    if isinstance(model_or_checkpoint, tuple):
        model, spec = model_or_checkpoint
        model = model.to(choice.device)
        digest = model_digest(model, spec)
    else:
        model, spec = load_checkpoint(model_or_checkpoint, choice.device)
        digest = checkpoint_digest(Path(model_or_checkpoint))
    chip, stride = chip_geometry(spec, opts)
    from basiss.inference.scene import check_chip  # scene imports this module

    for image in images:  # a chip the image refuses fails now, not after an export
        with open_raster(image) as ds:
            check_chip(chip, tuple(spec.slice), ds.width, ds.height, image)
    model.eval()
    engine = build_engine(choice, model, spec, digest, (chip, stride), opts, images)
    return Predictor(
        spec=spec,
        engine=engine,
        chip=chip,
        stride=stride,
        options=opts,
        weights=blend_weights(chip[0], chip[1], opts.blend),
        digest=digest,
    )
