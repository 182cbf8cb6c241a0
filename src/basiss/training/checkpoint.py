"""Checkpoints: one ``.pt`` file with the weights and everything prediction needs.

The file holds only tensors and plain Python values, and is always loaded with
``torch.load(..., weights_only=True)``: a checkpoint can never run code.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from basiss.data.normalize import Normalisation
from basiss.errors import BasissError, file_error, reason
from basiss.io.raster import atomic_output
from basiss.models import create_model
from basiss.training.state import TrainingState

FORMAT = "basiss-checkpoint"
VERSION = 1


@dataclass
class ModelSpec:
    """What prediction needs besides the weights.

    Attributes:
        arch: registry name of the architecture.
        arch_kwargs: extra keyword arguments of its constructor.
        in_channels: number of input bands the model takes.
        bands: 1-based band indices read from an input image (len == in_channels).
        n_classes: logits channels (1 = sigmoid road, >= 2 = softmax with background).
        norm: normalisation rule as a dict (see :class:`~basiss.data.normalize.Normalisation`).
        slice: chip size (x, y) the model was trained on.
        stride: chip stride (x, y) used in training (prediction's default).
        mask_threshold: value above which a training-mask pixel counted as road.
        stretch: percentiles (low, high) for 16->8 bit conversion of raw input.
        gsd: ground sample distance (metres) the model learnt at (the training images'
            divided by ``zoom``), None if unknown; prediction resamples other imagery to
            it (``basiss predict --gsd auto``).
        zoom: the fraction of the training images' resolution the model learnt at; when
            a GSD is unknown, prediction resamples its input by this factor (the input
            taken to be at the training images' resolution).
        extra: free-form training facts (epoch, scores...), plain types only.
    """

    arch: str
    in_channels: int
    n_classes: int
    bands: list[int]
    norm: dict[str, Any] = field(default_factory=lambda: Normalisation().to_dict())
    slice: tuple[int, int] = (400, 400)
    stride: tuple[int, int] = (300, 300)
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    mask_threshold: float = 0.0
    stretch: tuple[float, float] = (2.0, 98.0)
    gsd: float | None = None
    zoom: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def normalisation(self) -> Normalisation:
        return Normalisation.from_dict(self.norm)

    def build(self) -> nn.Module:
        """A fresh (randomly initialised) model of this spec."""
        return create_model(self.arch, self.in_channels, self.n_classes, **self.arch_kwargs)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    spec: ModelSpec,
    training_state: TrainingState | None = None,
) -> Path:
    """Write weights + spec (+ optional resumable training state) atomically.

    Args:
        path: the ``.pt`` file to write (replaced atomically).
        model: the net whose weights are stored (moved to CPU in the file).
        spec: what prediction needs besides the weights.
        training_state: what ``resume`` continues from (``last.pt`` only).

    Returns:
        ``path``.
    """
    d = asdict(spec)
    d["slice"], d["stride"], d["stretch"] = list(spec.slice), list(spec.stride), list(spec.stretch)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "spec": d,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if training_state is not None:
        payload["training_state"] = training_state.to_dict()
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _load_payload(p: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; every failure is a one-line error."""
    if p.is_dir():
        raise file_error(p, "is a folder, not a checkpoint file (e.g. RUN_DIR/best.pt)")
    if not p.is_file():
        raise file_error(p, "no such checkpoint")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # a class or function to import: code, refused
            raise file_error(
                p, "holds Python objects that a weights-only load refuses (not a basiss checkpoint)"
            ) from None
        raise file_error(p, "not a basiss checkpoint (unreadable or truncated)") from None
    except Exception:  # noqa: BLE001 - zip, EOF and format errors alike: a bad file
        raise file_error(p, "not a basiss checkpoint (unreadable or truncated)") from None


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw checkpoint payload (weights-only load), checked for format, version and spec.

    Raises:
        BasissError: naming the file: missing, a folder, unreadable or truncated, holding
            pickled objects, not a basiss checkpoint, written by a newer basiss, or
            without a spec.
    """
    p = Path(path)
    payload = _load_payload(p)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise file_error(p, "not a basiss checkpoint")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise file_error(
            p, f"checkpoint version {version!r} is newer than this basiss reads ({VERSION})"
        )
    if not isinstance(payload.get("spec"), dict) or "state_dict" not in payload:
        raise file_error(p, "checkpoint has no model spec or no weights")
    return payload


def spec_from_dict(d: dict[str, Any], source: str | os.PathLike[str]) -> ModelSpec:
    """The :class:`ModelSpec` a checkpoint stores (lists back to tuples).

    Raises:
        BasissError: naming ``source``: missing or unknown fields.
    """
    s = dict(d)
    for key in ("slice", "stride", "stretch"):
        if key in s:
            s[key] = tuple(s[key])
    try:
        return ModelSpec(**s)
    except TypeError as err:
        raise file_error(source, f"checkpoint spec does not fit ({err})") from None


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelSpec]:
    """Rebuild the model from a checkpoint, in eval mode on ``device``.

    Raises:
        BasissError: naming the file: see :func:`read_checkpoint`, plus an unknown
            architecture and weights that do not fit the spec.
    """
    payload = read_checkpoint(path)
    spec = spec_from_dict(payload["spec"], path)
    try:
        model = spec.build()
    except (BasissError, TypeError) as err:
        raise file_error(path, f"cannot build its model: {err}") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise file_error(path, f"weights do not fit the {spec.arch} spec ({reason(err)})") from None
    model.to(device).eval()
    return model, spec


def init_weights(path: str | os.PathLike[str], spec: ModelSpec) -> dict[str, torch.Tensor]:
    """The weights of checkpoint ``path`` for a new run of ``spec`` (fine-tuning).

    Raises:
        BasissError: naming the file: unreadable (see :func:`read_checkpoint`), or a
            model that is not ``spec``'s (architecture, its arguments, input bands,
            classes or normalisation differ).
    """
    payload = read_checkpoint(path)
    other = spec_from_dict(payload["spec"], path)
    for what, mine, theirs in (
        ("architecture", spec.arch, other.arch),
        ("architecture arguments", spec.arch_kwargs, other.arch_kwargs),
        ("input bands", spec.in_channels, other.in_channels),
        ("classes", spec.n_classes, other.n_classes),
        ("normalisation", spec.normalisation.kind, other.normalisation.kind),
    ):
        if mine != theirs:
            raise file_error(
                path, f"cannot start from it: its {what} is {theirs!r}, this run's is {mine!r}"
            )
    return payload["state_dict"]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BasissError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)
