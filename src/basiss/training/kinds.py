"""The kinds a training run chooses between, as string enums (their values are the CLI spellings).

Stdlib only, so the command line can list them without importing torch.
"""

from __future__ import annotations

from enum import StrEnum


class Optimizer(StrEnum):
    """The optimizers :func:`basiss.training.schedule.make_optimizer` builds."""

    SGD = "sgd"
    ADAM = "adam"
    ADAMW = "adamw"


class Schedule(StrEnum):
    """How the learning rate moves: a cosine over the run, or halving on a plateau."""

    COSINE = "cosine"
    PLATEAU = "plateau"


class Monitor(StrEnum):
    """The score ``best.pt`` and early stopping follow (lower loss or higher F1 is better)."""

    VAL_LOSS = "val_loss"
    VAL_F1 = "val_f1"
    VAL_F1_MIN = "val_f1_min"


class Loss(StrEnum):
    """The training losses of :mod:`basiss.training.losses`."""

    BCE = "bce"
    DICE = "dice"
    BCE_DICE = "bce+dice"
    FOCAL = "focal"


class Stop(StrEnum):
    """Why a run ended."""

    EPOCHS = "epochs"
    MAX_MINUTES = "max-minutes"
    EARLY_STOPPING = "early-stopping"


def values(kind: type[StrEnum]) -> tuple[str, ...]:
    """The spellings of an enum's members, in declaration order."""
    return tuple(member.value for member in kind)
