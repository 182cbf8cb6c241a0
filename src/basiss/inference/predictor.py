"""A model ready to predict: a checkpoint (or a model + spec) loaded into a :class:`Predictor`.

Loading builds the engine once (for ONNX: one export) and fixes the chip
geometry and blend window, so many images and many row blocks reuse them. The
predictor also carries a digest of its weights, part of the key under which a
killed run's finished row blocks are reused (:mod:`basiss.inference.resume`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from basiss.errors import BasissError
from basiss.inference.blend import blend_weights
from basiss.inference.engines import Engine, EngineKind, make_engine
from basiss.inference.options import PredictOptions
from basiss.io.raster import PathLike
from basiss.training.checkpoint import ModelSpec, load_checkpoint, resolve_device

#: Bytes read at a time when hashing a checkpoint.
HASH_CHUNK = 1 << 20


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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


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


def load_predictor(
    model_or_checkpoint: PathLike | tuple[nn.Module, ModelSpec] | Predictor,
    options: PredictOptions | None = None,
) -> Predictor:
    """Load a checkpoint (or wrap a model + spec) and build its engine once.

    Args:
        model_or_checkpoint: a checkpoint path, a ``(model, spec)`` pair, or a
            :class:`Predictor` (returned unchanged).
        options: prediction options (default: :class:`PredictOptions`).

    Returns:
        The predictor, with :attr:`Predictor.digest` set.
    """
    if isinstance(model_or_checkpoint, Predictor):
        return model_or_checkpoint
    opts = options or PredictOptions()
    device = resolve_device(opts.device) if opts.engine == EngineKind.TORCH else "cpu"
    if isinstance(model_or_checkpoint, tuple):
        model, spec = model_or_checkpoint
        digest = model_digest(model, spec)
    else:
        model, spec = load_checkpoint(model_or_checkpoint, device)
        digest = checkpoint_digest(Path(model_or_checkpoint))
    chip, stride = chip_geometry(spec, opts)
    model.eval()
    engine = make_engine(
        opts.engine, model, spec.n_classes, spec.in_channels, chip, device, opts.threads
    )
    return Predictor(
        spec=spec,
        engine=engine,
        chip=chip,
        stride=stride,
        options=opts,
        weights=blend_weights(chip[0], chip[1], opts.blend),
        digest=digest,
    )
