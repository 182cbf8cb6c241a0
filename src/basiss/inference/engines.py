"""Inference engines: run a loaded model on a batch of normalised chips.

An engine maps float32 chips ``(N, C, H, W)`` (numpy) to road probabilities
``(N, K, H, W)`` float32 with ``K = max(1, n_classes - 1)`` (see
:func:`basiss.models.road_probability`). Two back ends, and a default that picks one:

- :class:`TorchEngine`: torch under ``inference_mode``; channels-last memory on CPU
  (1.4x eager contiguous for the seed U-Net on 2 cores), fp16 autocast on CUDA.
- :class:`OnnxEngine`: the same model exported to ONNX (probabilities included in
  the graph, dynamic batch axis, fixed chip size), fp32 or int8
  (:mod:`basiss.inference.quantize`), run with onnxruntime. The CPU memory arena is
  on: without it every activation of every batch is a fresh ``mmap`` whose pages the
  kernel zeroes again, and the seed U-Net runs 2.0-2.2 chips/s instead of 2.3-2.5
  (batch 4, 2 threads, bare session, five runs each), for a peak RSS of 1.04 GB
  instead of 0.75. Parallel loops hand out work in shrinking blocks
  (``session.dynamic_block_base``): with a fixed split, an operator waits for its
  slowest thread, and while the reader and writer threads take a core now and then
  (prediction end to end) the seed U-Net ran at 0.89 of its bare rate; with dynamic
  blocks at 0.94-1.03 (2.18-2.21 -> 2.33-2.46 chips/s, 2500 px scene, 2 threads).
- ``auto`` (:func:`choose_engine`): onnxruntime on CPU (the fastest fp32 path measured
  here, end to end on a 2500 px scene with the seed U-Net and 2 threads: 2.46 chips/s
  against 1.61 for channels-last torch and 1.22 for eager), torch on CUDA.

Exports are cached on disk by :mod:`basiss.inference.onnx_cache`; this module only
knows how to export and how to run a file.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from basiss.errors import BasissError
from basiss.models import road_probability

#: ONNX opset of the exports (the TorchScript exporter's; onnxruntime quantizes it).
OPSET = 17


class EngineKind(enum.StrEnum):
    """The back ends :func:`make_engine` builds, and ``auto`` (:func:`choose_engine`)."""

    #: onnxruntime on CPU, torch on CUDA.
    AUTO = "auto"
    #: torch (any device).
    TORCH = "torch"
    #: onnxruntime on CPU, from a (cached) ONNX export.
    ONNX = "onnx"


ENGINES = tuple(e.value for e in EngineKind)


class Precision(enum.StrEnum):
    """The arithmetic an engine runs in."""

    #: float32 everywhere.
    FP32 = "fp32"
    #: torch autocast to float16, CUDA only.
    FP16 = "fp16"
    #: onnxruntime static quantization (QDQ, per-channel weights), CPU.
    INT8 = "int8"


PRECISIONS = tuple(p.value for p in Precision)

_NOTES: set[str] = set()


def note(text: str) -> None:
    """Print ``basiss: note: <text>`` on stderr, once per process and text.

    For facts a user should see once per run (which engine, a quantization's error),
    never per chip.
    """
    if text not in _NOTES:
        _NOTES.add(text)
        print(f"basiss: note: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class EngineChoice:
    """What :func:`choose_engine` decided, and why.

    Attributes:
        kind: ``torch`` or ``onnx`` (never ``auto``).
        device: the torch device (``cpu`` for onnx).
        reason: one line for the user, e.g. ``engine onnx (auto: CPU ...)``.
    """

    kind: EngineKind
    device: torch.device
    reason: str


def check_precision(kind: str, precision: str) -> None:
    """Refuse an engine/precision pair that is wrong on every device.

    Raises:
        BasissError: int8 with the torch engine, fp16 with the onnx engine.
    """
    if precision == Precision.INT8 and kind == EngineKind.TORCH:
        raise BasissError("--precision int8 runs on onnxruntime: use --engine onnx or auto")
    if precision == Precision.FP16 and kind == EngineKind.ONNX:
        raise BasissError("--precision fp16 is for the torch engine on CUDA: use --engine torch")


def choose_engine(kind: str, device: torch.device, precision: str = Precision.FP32) -> EngineChoice:
    """Resolve ``auto`` and check the precision against the device.

    Args:
        kind: ``auto``, ``torch`` or ``onnx``.
        device: the resolved torch device (``--device``; see
            :func:`basiss.training.checkpoint.resolve_device`).
        precision: ``fp32``, ``fp16`` or ``int8``.

    Returns:
        The engine to build, its device and a one-line reason.

    Raises:
        BasissError: fp16 without CUDA, or a pair :func:`check_precision` refuses.
    """
    check_precision(kind, precision)
    cuda = device.type == "cuda"
    if precision == Precision.FP16 and not cuda:
        raise BasissError(
            "--precision fp16 needs a CUDA device (torch autocast); on CPU use fp32 or int8"
        )
    cpu = torch.device("cpu")
    if kind == EngineKind.TORCH:
        return EngineChoice(EngineKind.TORCH, device, f"engine torch on {device} ({precision})")
    if kind == EngineKind.ONNX:
        return EngineChoice(EngineKind.ONNX, cpu, f"engine onnx on cpu ({precision})")
    if precision == Precision.INT8:
        why = "auto: int8 runs on onnxruntime, CPU"
        return EngineChoice(EngineKind.ONNX, cpu, f"engine onnx ({why})")
    if cuda:
        why = "auto: a CUDA device, torch runs there; --engine onnx for onnxruntime on CPU"
        return EngineChoice(EngineKind.TORCH, device, f"engine torch on {device} ({why})")
    why = "auto: on CPU onnxruntime is the fastest fp32 engine; --engine torch to change"
    return EngineChoice(EngineKind.ONNX, cpu, f"engine onnx ({why})")


class Engine(Protocol):
    """What the predictor needs from a back end."""

    name: str

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, K, H, W)`` float32 for chips ``(N, C, H, W)`` float32."""
        ...


class ProbabilityModel(nn.Module):
    """A segmentation net followed by :func:`road_probability` (exported as one graph)."""

    def __init__(self, model: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.model = model
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return road_probability(self.model(x), self.n_classes)


class TorchEngine:
    """torch on ``device`` (``threads`` sets torch's intra-op threads).

    Args:
        model: the loaded network.
        n_classes: its logits channels.
        device: where it runs.
        threads: CPU threads (None: torch's default).
        channels_last: NHWC memory for weights and inputs (None: on CPU only, where
            it is 1.4x faster for the seed U-Net; on CUDA cuDNN picks its own layout).
        fp16: autocast to float16 (CUDA only; see :func:`choose_engine`).
    """

    name = EngineKind.TORCH

    def __init__(
        self,
        model: nn.Module,
        n_classes: int,
        device: torch.device | str = "cpu",
        threads: int | None = None,
        channels_last: bool | None = None,
        fp16: bool = False,
    ) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        self.fp16 = fp16
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        net = ProbabilityModel(model, n_classes).to(self.device).eval()
        self.net = net.to(memory_format=self.memory_format)

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(chips, dtype=np.float32)).to(self.device)
        x = x.contiguous(memory_format=self.memory_format)
        autocast = (
            torch.autocast(self.device.type, dtype=torch.float16)
            if self.fp16
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            out = self.net(x)
        return np.ascontiguousarray(out.float().cpu().numpy())


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporter's warnings and log lines (e.g. 'torchvision is not installed')."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


_EXPORTS = 0


def export_count() -> int:
    """How many ONNX exports this process has run (tests count cache misses with it)."""
    return _EXPORTS


def _export_torchscript(net: nn.Module, sample: torch.Tensor, path: Path) -> None:
    """The TorchScript exporter: 0.2-0.3 s for a small U-Net where the dynamo exporter
    takes 9-20 s on this machine (deprecated in torch 2.9+, still there up to 2.13)."""
    torch.onnx.export(
        net,
        (sample,),
        str(path),
        input_names=["chips"],
        output_names=["prob"],
        dynamic_axes={"chips": {0: "batch"}, "prob": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
        do_constant_folding=True,
    )


def _export_dynamo(net: nn.Module, sample: torch.Tensor, path: Path) -> None:
    """The dynamo exporter, for a torch without (or a model refused by) the other one."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(
        net,
        (sample,),
        str(path),
        input_names=["chips"],
        output_names=["prob"],
        dynamo=True,
        external_data=False,
        dynamic_shapes={"x": {0: batch}},
        verbose=False,
    )


def export_onnx(
    model: nn.Module, n_classes: int, in_channels: int, chip: tuple[int, int], path: Path
) -> Path:
    """Export ``model`` + probabilities to ONNX at ``path`` (fp32).

    Args:
        model: the network (any device; exported from a CPU copy's eval mode).
        n_classes: its logits channels.
        in_channels: input bands.
        chip: ``(slice_x, slice_y)``: the spatial size is fixed, the batch axis dynamic.
        path: output ``.onnx`` file (weights stored inside it).

    Returns:
        ``path``.

    Raises:
        BasissError: both exporters failed.
    """
    global _EXPORTS
    _EXPORTS += 1
    net = ProbabilityModel(model, n_classes).to("cpu").eval()
    # Tracing runs the net once: one chip is enough (the batch axis is declared dynamic),
    # the dynamo exporter needs two so as not to specialise the batch to 1.
    sample = torch.zeros(1, in_channels, chip[1], chip[0])
    with _quiet_export():
        try:
            _export_torchscript(net, sample, path)
            return path
        except Exception:  # noqa: BLE001 - fall back to the other exporter
            pass
        try:
            _export_dynamo(net, sample.expand(2, -1, -1, -1).contiguous(), path)
        except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
            raise BasissError(f"ONNX export failed ({type(exc).__name__}: {exc})") from None
    return path


#: onnxruntime's dynamic block sizing of parallel loops (see the module docstring).
DYNAMIC_BLOCK_BASE = 4


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session of ``path``: all graph optimisations, the memory arena
    on (see the module docstring).

    Args:
        path: an ``.onnx`` file.
        threads: intra-op threads (None: onnxruntime's default, all cores).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_cpu_mem_arena = True
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: no per-node warnings on the terminal
    opts.add_session_config_entry("session.dynamic_block_base", str(DYNAMIC_BLOCK_BASE))
    if threads is not None:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxEngine:
    """onnxruntime on CPU, from an ONNX file (or a model exported to a temporary one).

    Args:
        model: the loaded network, exported when ``path`` is None.
        n_classes: its logits channels.
        in_channels: input bands.
        chip: ``(slice_x, slice_y)`` the chips will have.
        threads: intra-op threads (None: onnxruntime's default, all cores).
        path: an export of this model at this chip size (e.g. from
            :mod:`basiss.inference.onnx_cache`); None: export now to a temporary file.
        precision: what the file holds (``fp32`` or ``int8``), for :attr:`precision`.
    """

    name = EngineKind.ONNX

    def __init__(
        self,
        model: nn.Module | None,
        n_classes: int,
        in_channels: int,
        chip: tuple[int, int],
        threads: int | None = None,
        path: Path | None = None,
        precision: str = Precision.FP32,
    ) -> None:
        self.chip = chip
        self.precision = Precision(precision)
        if path is not None:
            self.session = onnx_session(path, threads)
        else:
            if model is None:
                raise ValueError("OnnxEngine needs a model or an ONNX file")
            with tempfile.TemporaryDirectory(prefix="basiss-onnx-") as tmp:
                tmp_path = export_onnx(model, n_classes, in_channels, chip, Path(tmp) / "m.onnx")
                self.session = onnx_session(tmp_path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(chips, dtype=np.float32)
        if (x.shape[-1], x.shape[-2]) != self.chip:
            raise ValueError(f"ONNX engine built for chips {self.chip}, got {x.shape[-1:-3:-1]}")
        out = self.session.run(None, {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32)


def make_engine(
    kind: str,
    model: nn.Module,
    n_classes: int,
    in_channels: int,
    chip: tuple[int, int],
    device: torch.device | str = "cpu",
    threads: int | None = None,
    onnx_path: Path | None = None,
    precision: str = Precision.FP32,
) -> Engine:
    """Build the engine named ``kind`` (``auto`` resolved by :func:`choose_engine`).

    Args:
        kind: ``auto``, ``torch`` or ``onnx``.
        model: the loaded network.
        n_classes: its logits channels.
        in_channels: input bands (the ONNX export's input shape).
        chip: ``(slice_x, slice_y)`` of the chips it will run (fixed for ONNX).
        device: torch device (torch engine only).
        threads: CPU threads (None: the back end's default).
        onnx_path: the ONNX file to run (onnx only; None: export to a temporary file).
        precision: ``fp32``; ``fp16`` (torch on CUDA); ``int8`` (onnx, with ``onnx_path``
            a quantized file).

    Raises:
        BasissError: an unknown ``kind`` or a refused precision.
    """
    if kind not in ENGINES:
        raise BasissError(f"unknown engine {kind!r}; choose from {', '.join(ENGINES)}")
    choice = choose_engine(kind, torch.device(device), precision)
    if choice.kind == EngineKind.TORCH:
        fp16 = precision == Precision.FP16
        return TorchEngine(model, n_classes, choice.device, threads, fp16=fp16)
    if precision == Precision.INT8 and onnx_path is None:
        raise BasissError("an int8 ONNX engine needs its quantized file (load_predictor builds it)")
    return OnnxEngine(model, n_classes, in_channels, chip, threads, onnx_path, precision)
