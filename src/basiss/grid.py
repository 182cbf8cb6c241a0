"""Chip-grid and row-block math, pure and I/O-free, shared by training and inference.

The rule is the seed's: along an axis of length ``size`` with chip length
``slice_`` and step ``stride``, starts are ``range(0, size - 1, stride)`` each
clamped to ``size - slice_`` (so the last chip sits flush with the edge),
with duplicates dropped; when ``size - 1`` is a multiple of the stride the
seed's range stops one pixel short, so a last chip flush with the edge is
added. An axis shorter than a chip gets one chip at 0 that reaches past the
edge (the reader pads it).

Broad-area prediction cuts a grid's chip rows into blocks (:func:`split_rows`).
A block of chip rows owns a band of pixel rows (:func:`owned_rows`) and must also
run the earlier chip rows that reach into that band, its halo (:func:`halo_start`),
so that each of its pixels sums the same chips as in a run over the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rasterio.windows import Window


def axis_starts(size: int, slice_: int, stride: int) -> list[int]:
    """Chip start offsets along one axis.

    >>> axis_starts(1300, 400, 300)
    [0, 300, 600, 900]
    >>> axis_starts(250, 400, 300)
    [0]
    >>> axis_starts(9, 4, 4)
    [0, 4, 5]
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
    if starts[-1] + slice_ < size:  # the seed's range stopped one pixel short
        starts.append(size - slice_)
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


def decimated_shape(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """``(rows, cols)`` of an image shrunk evenly to at most about ``max_pixels`` pixels."""
    f = max(1.0, float(math.sqrt(width * height / max_pixels)))
    return max(1, int(height / f)), max(1, int(width / f))


def halo_start(rows: Sequence[int], slice_y: int, first: int) -> int:
    """The first chip row whose chips reach pixel row ``rows[first]``.

    A block that must finish the pixel rows from ``rows[first]`` on has to run
    these earlier chip rows too (its halo), so that every pixel sees exactly
    the chips it sees in a run over the whole image.

    Args:
        rows: chip-row starts, increasing (:attr:`ChipGrid.rows`).
        slice_y: chip height.
        first: index of the block's first chip row.

    Returns:
        The index of the first chip row to run (``first`` when there is no halo).

    >>> halo_start([0, 300, 600, 900], 400, 2)
    1
    >>> halo_start([0, 48, 96, 136], 64, 3)
    2
    """
    j = first
    while j > 0 and rows[j - 1] + slice_y > rows[first]:
        j -= 1
    return j


def owned_rows(grid: ChipGrid, first: int, stop: int) -> tuple[int, int]:
    """Pixel rows ``[row0, row1)`` finished by chip rows ``first .. stop-1``.

    Chip row ``i`` finishes the pixel rows from its own start up to the next
    chip row's start (the last one: to the image's bottom), so consecutive
    blocks of chip rows own consecutive, disjoint bands of pixel rows.

    Raises:
        ValueError: ``[first, stop)`` is empty or outside the grid's chip rows.

    >>> owned_rows(chip_grid(100, 1300, 400, 400, 300, 300), 1, 3)
    (300, 900)
    """
    n = len(grid.rows)
    if not 0 <= first < stop <= n:
        raise ValueError(f"chip rows [{first}, {stop}) outside 0..{n}")
    row1 = grid.rows[stop] if stop < n else grid.height
    return grid.rows[first], row1


def split_rows(n_rows: int, n_blocks: int) -> list[tuple[int, int]]:
    """Split chip rows ``0 .. n_rows-1`` into ``n_blocks`` consecutive near-equal ranges.

    Fewer ranges come back when there are fewer rows than blocks (no range is empty).

    >>> split_rows(27, 4)
    [(0, 6), (6, 13), (13, 20), (20, 27)]
    """
    if n_rows < 1 or n_blocks < 1:
        raise ValueError(f"need n_rows, n_blocks >= 1, got {n_rows}, {n_blocks}")
    k = min(n_blocks, n_rows)
    edges = [i * n_rows // k for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))
