"""Where a run starts: from scratch, or from ``last.pt`` after checking it fits the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basiss.data.normalize import Normalisation
from basiss.errors import file_error
from basiss.training.checkpoint import read_checkpoint
from basiss.training.config import TrainConfig
from basiss.training.data import Sources, fresh_normalisation
from basiss.training.state import TrainingState


@dataclass
class ResumePoint:
    """The normalisation a run uses and, when resuming, the checkpoint and its state.

    Attributes:
        norm: the model-input normalisation (the checkpoint's when resuming).
        payload: the raw ``last.pt`` payload, or None for a new run.
        state: the :class:`TrainingState` to continue from (a fresh one for a new run).
    """

    norm: Normalisation
    payload: dict[str, Any] | None = None
    state: TrainingState = field(default_factory=TrainingState)


def check_resumable(spec: dict[str, Any], c: TrainConfig, sources: Sources, path: Path) -> None:
    """Refuse to resume a run whose model, validation images or normalisation differ.

    Raises:
        BasissError: naming ``path`` and what differs.
    """
    asked = (c.arch, len(sources.bands), c.n_classes)
    if (spec["arch"], spec["in_channels"], spec["n_classes"]) != asked:
        raise file_error(
            path,
            f"was trained as {spec['arch']} with {spec['in_channels']} bands and "
            f"{spec['n_classes']} classes; this run asks {asked[0]}, {asked[1]}, {asked[2]}",
        )
    if spec.get("extra", {}).get("val_images", sources.val_names) != sources.val_names:
        raise file_error(
            path,
            "was validated on other images (same sources, --seed and --validation-split are "
            "needed to resume)",
        )
    kind = Normalisation.from_dict(spec["norm"]).kind
    if kind != c.norm:
        raise file_error(path, f"was trained with --norm {kind}, not {c.norm}")


def read_resume_point(c: TrainConfig, last: Path, sources: Sources) -> ResumePoint:
    """A fresh start, or (``c.resume``) the checked state of ``last``.

    Raises:
        BasissError: no ``last`` to resume from, no training state in it, or a mismatch
            (see :func:`check_resumable`).
    """
    if not c.resume:
        return ResumePoint(norm=fresh_normalisation(c, sources))
    if not last.is_file():
        raise file_error(last, "no such checkpoint to resume from")
    payload = read_checkpoint(last)
    if "training_state" not in payload:
        raise file_error(last, "has no training state to resume from")
    check_resumable(payload["spec"], c, sources, last)
    state = TrainingState.from_dict(payload["training_state"], source=str(last))
    return ResumePoint(Normalisation.from_dict(payload["spec"]["norm"]), payload, state)
