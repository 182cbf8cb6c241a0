"""The chip-row reader: each chip row's strip read once, stretched, cut and normalised.

It yields a stream of :class:`Item` messages (a row starts, a batch of chips,
the row ends) that :func:`basiss.inference.stream.stream_rows` consumes; it
runs in the prefetch thread (:func:`basiss.inference.prefetch.prefetch`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window

from basiss.data.normalize import Normalisation
from basiss.inference.scene import Scene
from basiss.io.raster import apply_stretch, read_window, valid_pixels


class ItemKind(enum.Enum):
    """What an :class:`Item` announces."""

    #: A chip row starts: ``valid`` holds its strip's data mask.
    ROW = "row"
    #: A batch of that row's chips: ``cols`` and ``x``.
    BATCH = "batch"
    #: The row ends: ``skipped`` chips had no valid pixel.
    END = "end"


@dataclass
class Item:
    """One message from the reader.

    Attributes:
        kind: what it announces.
        row: the chip row's first pixel row.
        valid: ROW: ``(slice_y, acc_width)`` bool, True where the input has data.
        cols: BATCH: the chips' column offsets.
        x: BATCH: normalised chips ``(n, C, slice_y, slice_x)`` float32.
        skipped: END: chips of the row with no valid pixel (not run).
    """

    kind: ItemKind
    row: int
    valid: np.ndarray | None = None
    cols: list[int] | None = None
    x: np.ndarray | None = None
    skipped: int = 0


def read_rows(
    ds: rasterio.io.DatasetReader,
    scene: Scene,
    rows: Sequence[int],
    norm: Normalisation,
    batch_size: int,
) -> Iterator[Item]:
    """Read, stretch, cut and normalise the chips of each chip row in ``rows``, in batches.

    Args:
        ds: the open image.
        scene: its plan (:func:`basiss.inference.scene.scene_info`).
        rows: pixel-row starts of the chip rows to read, in order.
        norm: the model's input normalisation.
        batch_size: chips per batch.

    Yields:
        Per chip row: one ROW, its BATCHes (chips with a valid pixel only), one END.
    """
    grid = scene.grid
    sx, sy = grid.slice_x, grid.slice_y
    for r in rows:
        raw = read_window(ds, Window(0, r, scene.acc_width, sy), scene.bands)
        valid = valid_pixels(raw, scene.nodata)
        strip = raw if scene.limits is None else apply_stretch(raw, scene.limits, valid)
        del raw
        yield Item(ItemKind.ROW, r, valid=valid)
        col_valid = valid.any(axis=0)
        live = [c for c in grid.cols if col_valid[c : c + sx].any()]
        for i in range(0, len(live), batch_size):
            cols = live[i : i + batch_size]
            chips = np.stack([strip[:, :, c : c + sx] for c in cols])
            yield Item(ItemKind.BATCH, r, cols=cols, x=norm.apply(chips))
        yield Item(ItemKind.END, r, skipped=len(grid.cols) - len(live))
