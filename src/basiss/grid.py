"""Chip-grid math, pure and I/O-free, shared by training and inference.

The rule is the seed's: along an axis of length ``size`` with chip length
``slice_`` and step ``stride``, starts are ``range(0, size - 1, stride)`` each
clamped to ``size - slice_`` (so the last chip sits flush with the edge),
with duplicates dropped. An axis shorter than a chip gets one chip at 0 that
reaches past the edge (the reader pads it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rasterio.windows import Window


def axis_starts(size: int, slice_: int, stride: int) -> list[int]:
    """Chip start offsets along one axis.

    >>> axis_starts(1300, 400, 300)
    [0, 300, 600, 900]
    >>> axis_starts(250, 400, 300)
    [0]
    """
    if size < 1 or slice_ < 1 or stride < 1:
        raise ValueError(f"size, slice and stride must be >= 1, got {size}, {slice_}, {stride}")
    if size <= slice_:
        return [0]
    starts: list[int] = []
    for x in range(0, size - 1, stride):
        s = min(x, size - slice_)
        if not starts or s != starts[-1]:
            starts.append(s)
    return starts


@dataclass(frozen=True)
class ChipGrid:
    """Chip positions over an image: column starts, row starts and chip size."""

    width: int
    height: int
    slice_x: int
    slice_y: int
    cols: tuple[int, ...]
    rows: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.cols) * len(self.rows)

    def windows(self) -> list[Window]:
        """All chip windows, row by row (row-major), each ``slice_x x slice_y``."""
        return [Window(c, r, self.slice_x, self.slice_y) for r in self.rows for c in self.cols]

    def row_windows(self, row: int) -> list[Window]:
        """The windows of one chip row (starting at pixel row ``row``)."""
        return [Window(c, row, self.slice_x, self.slice_y) for c in self.cols]


def chip_grid(
    width: int,
    height: int,
    slice_x: int,
    slice_y: int | None = None,
    stride_x: int | None = None,
    stride_y: int | None = None,
) -> ChipGrid:
    """The chip grid of a ``width x height`` image.

    Args:
        width, height: image size in pixels.
        slice_x, slice_y: chip size (``slice_y`` defaults to ``slice_x``).
        stride_x, stride_y: step between chips (default: the chip size, no overlap).
    """
    sy = slice_y if slice_y is not None else slice_x
    tx = stride_x if stride_x is not None else slice_x
    ty = stride_y if stride_y is not None else (stride_x if stride_x is not None else sy)
    return ChipGrid(
        width=width,
        height=height,
        slice_x=slice_x,
        slice_y=sy,
        cols=tuple(axis_starts(width, slice_x, tx)),
        rows=tuple(axis_starts(height, sy, ty)),
    )


def chip_windows(
    width: int,
    height: int,
    slice_x: int,
    slice_y: int | None = None,
    stride_x: int | None = None,
    stride_y: int | None = None,
) -> list[Window]:
    """All chip windows of a ``width x height`` image (see :func:`chip_grid`)."""
    return chip_grid(width, height, slice_x, slice_y, stride_x, stride_y).windows()


def decimated_shape(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """``(rows, cols)`` of an image shrunk evenly to at most about ``max_pixels`` pixels."""
    f = max(1.0, float(math.sqrt(width * height / max_pixels)))
    return max(1, int(height / f)), max(1, int(width / f))
