"""How to predict: :class:`PredictOptions` and the kinds of blending.

The options are checked when they are built, so a bad value is one
:class:`basiss.errors.BasissError` before any model is loaded or file opened.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from basiss.errors import BasissError
from basiss.inference.engines import ENGINES, PRECISIONS, EngineKind, Precision, check_precision

#: Smallest chip side the engines accept: a smaller chip gives the net no context and
#: turns a scene into millions of model calls.
MIN_CHIP = 16
#: Largest chip side: one float32 blend window of that size is already 64 MiB, and the
#: net's activations are tens of times more.
MAX_CHIP = 4096
#: Calibration chips of an int8 model by default: enough for stable activation ranges
#: (MinMax), few enough that calibrating costs seconds (one fp32 pass over them).
CALIBRATION_CHIPS = 16


class Blend(enum.StrEnum):
    """How overlapping chips are combined (see :func:`basiss.inference.blend.blend_weights`)."""

    #: Separable raised-cosine (Hann) window with a small floor: no seams.
    COSINE = "cosine"
    #: Every chip pixel weighs 1: the seed's average over the coverage map.
    MEAN = "mean"


BLENDS = tuple(b.value for b in Blend)


def _choice(kind: type[enum.StrEnum], value: str, what: str) -> enum.StrEnum:
    """``value`` as a member of ``kind``, or a one-line error listing the choices."""
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(m.value for m in kind)
        raise BasissError(f"unknown {what} {value!r}; choose from {names}") from None


def _check_pair(name: str, pair: tuple[int, int] | None, smallest: int) -> None:
    """Refuse a chip-size or stride pair that is not two ints in ``[smallest, MAX_CHIP]``."""
    if pair is None:
        return
    if len(pair) != 2 or any(int(v) != v or not smallest <= v <= MAX_CHIP for v in pair):
        raise BasissError(
            f"{name} must be two whole numbers from {smallest} to {MAX_CHIP} px, got {tuple(pair)}"
        )


@dataclass
class PredictOptions:
    """How to predict.

    Attributes:
        slice: chip size (x, y); None: the checkpoint's.
        stride: step between chips (x, y); None: the checkpoint's (scaled to
            ``slice`` when ``slice`` is overridden, keeping the overlap ratio).
        batch_size: chips per model call.
        blend: ``cosine`` (tapered, seam-free) or ``mean`` (the seed's average); a
            :class:`Blend` after construction.
        threshold: probability at or above which the mask says road.
        tta: average the predictions of the four flips (identity, left-right,
            up-down, both); 4x the model time.
        engine: ``auto`` (onnxruntime on CPU, torch on CUDA;
            :func:`~basiss.inference.engines.choose_engine`), ``torch`` or ``onnx``
            (onnxruntime, CPU); an :class:`~basiss.inference.engines.EngineKind` after
            construction.
        device: ``auto``, ``cpu`` or ``cuda`` (where torch runs; ``auto`` picks the engine
            by it).
        threads: CPU threads for the engine (None: its default).
        show_progress: a progress bar on a terminal.
        precision: ``fp32``; ``fp16`` (torch autocast, CUDA only) or ``int8`` (onnxruntime
            static quantization, :mod:`basiss.inference.quantize`); a
            :class:`~basiss.inference.engines.Precision` after construction.
        calibration: int8: images, folders or file-list CSVs whose chips calibrate the
            quantization; None: the images being predicted.
        calibration_chips: int8: how many non-empty chips calibrate it.
        calibration_seed: int8: the seed of the chips' sample.
        gsd: ``auto``: resample each input to the model's ground sample distance when
            both are known, predicting on the input's grid all the same
            (:mod:`basiss.inference.gsd`); ``off``: predict the input as it is.
        input_gsd: the inputs' GSD in metres, for rasters without a CRS (PNG/JPEG);
            None: read from each input's CRS.

    Raises:
        BasissError: an unknown blend, engine or precision, an engine/precision pair
            that cannot run (int8 on torch, fp16 on onnx), a batch size or calibration
            chips below 1, a threshold outside [0, 1], a chip side outside
            :data:`MIN_CHIP` .. :data:`MAX_CHIP` or a stride outside 1 .. :data:`MAX_CHIP`.
    """

    slice: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    batch_size: int = 4
    blend: str = Blend.COSINE
    threshold: float = 0.5
    tta: bool = False
    engine: str = EngineKind.AUTO
    device: str = "auto"
    threads: int | None = None
    show_progress: bool = True
    precision: str = Precision.FP32
    calibration: tuple[str, ...] | None = None
    calibration_chips: int = CALIBRATION_CHIPS
    calibration_seed: int = 0
    gsd: str = "auto"
    input_gsd: float | None = None

    def __post_init__(self) -> None:
        self.blend = _choice(Blend, self.blend, "blend")
        self.engine = _choice(EngineKind, self.engine, "engine")
        self.precision = _choice(Precision, self.precision, "precision")
        check_precision(self.engine, self.precision)
        if isinstance(self.calibration, str | os.PathLike):
            self.calibration = (str(self.calibration),)
        elif self.calibration is not None:
            self.calibration = tuple(str(c) for c in self.calibration)
        if self.calibration_chips < 1:
            raise BasissError(f"calibration chips must be >= 1, got {self.calibration_chips}")
        if self.batch_size < 1:
            raise BasissError(f"batch size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.threshold <= 1.0:
            raise BasissError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.threads is not None and self.threads < 1:
            raise BasissError(f"threads must be >= 1, got {self.threads}")
        if self.gsd not in ("auto", "off"):
            raise BasissError(f"unknown gsd {self.gsd!r}; choose from auto, off")
        if self.input_gsd is not None and not self.input_gsd > 0:
            raise BasissError(f"input GSD must be > 0 metres, got {self.input_gsd}")
        _check_pair("slice", self.slice, MIN_CHIP)
        _check_pair("stride", self.stride, 1)


__all__ = [
    "BLENDS",
    "CALIBRATION_CHIPS",
    "ENGINES",
    "MAX_CHIP",
    "MIN_CHIP",
    "PRECISIONS",
    "Blend",
    "PredictOptions",
]
