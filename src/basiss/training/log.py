"""The run log: one CSV row per epoch, rewritten atomically after each epoch."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from basiss.io.raster import atomic_output

#: The log's fixed columns; ``val_f1_<source>`` per source follow them.
LOG_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_precision",
    "val_recall",
    "val_f1",
    "val_iou",
    "lr",
    "seconds",
    "chips_per_s",
)

Row = dict[str, float]


def log_columns(names: Sequence[str]) -> tuple[str, ...]:
    """The log's columns: :data:`LOG_COLUMNS`, then ``val_f1_<source>`` per source."""
    return LOG_COLUMNS + tuple(f"val_f1_{n}" for n in names)


def write_log(path: Path, rows: Sequence[Row], columns: Sequence[str]) -> None:
    """Write every row (floats to 6 significant digits), replacing the file atomically."""
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def read_log(path: Path, up_to_epoch: int) -> list[Row]:
    """The rows of epochs ``<= up_to_epoch`` (a resumed run continues its log); none if absent."""
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        rows = [
            {k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
            for r in csv.DictReader(fh)
        ]
    out = [r for r in rows if r.get("epoch", 0) <= up_to_epoch]
    for r in out:
        r["epoch"] = int(r["epoch"])
    return out
