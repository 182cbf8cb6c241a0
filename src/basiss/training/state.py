"""The resumable state of a training run: one typed object, saved in ``last.pt`` and read back.

The checkpoint stores it as a plain dict under ``training_state`` (the keys are the field
names), so a weights-only load reads it, and checkpoints written before this class existed
load the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from basiss.errors import file_error


@dataclass
class TrainingState:
    """Where a run stands after an epoch.

    Attributes:
        epoch: the last finished epoch (0 before the first).
        step: optimizer steps taken (the warm-up and cosine schedule count them).
        progress: the run's progress in [0, 1] (the larger of epochs and budget used).
        best_score: the best monitored score so far (lower is better).
        best_epoch: the epoch that scored it (0: none yet).
        bad_epochs: epochs since the best one (early stopping counts them).
        best_val: the validation metrics of the best epoch (``loss``, ``f1``, ``f1_<source>``...).
        optimizer: the optimizer's ``state_dict``.
        scheduler: the plateau schedule's ``state_dict`` (empty for the cosine schedule).
        ema: the weights' moving average (:meth:`WeightAverage.state_dict
            <basiss.training.ema.WeightAverage.state_dict>`; empty without ``ema``).
    """

    epoch: int = 0
    step: int = 0
    progress: float = 0.0
    best_score: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_val: dict[str, float] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    ema: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values and tensors only, for a weights-only checkpoint."""
        d = asdict(self)
        d["best_val"] = {k: float(v) for k, v in self.best_val.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "checkpoint") -> TrainingState:
        """The state stored by :meth:`to_dict`; a missing key is an error naming ``source``.

        Each value is converted to its field's type (a checkpoint may hold ints as floats).
        """
        optional = {"scheduler", "ema"}  # absent from checkpoints of older versions
        missing = [f.name for f in fields(cls) if f.name not in d and f.name not in optional]
        if missing:
            raise file_error(source, f"training state lacks {', '.join(missing)}")
        casts = {"int": int, "float": float}
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = d.get(f.name, {})
            values[f.name] = casts[f.type](value) if f.type in casts else value
        values["best_val"] = {k: float(v) for k, v in values["best_val"].items()}
        values["scheduler"] = values["scheduler"] or {}
        values["ema"] = values["ema"] or {}
        return cls(**values)
