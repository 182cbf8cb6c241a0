"""The streaming core: chip rows in, finished pixel rows out, memory one chip row tall.

A background thread reads each chip row's strip once and prepares its batches
(:mod:`basiss.inference.reader`); the model runs them in a thread of its own, each
batch submitted as soon as it is read (:func:`_model_ahead`), so it works on the next
batch while this thread adds up the last one and hands finished rows to the writer
(GDAL, numpy and the engines release the GIL); each chip's
probabilities, times the blend window, are added to an accumulator one chip
tall and one image wide, the weights to a weight sum. When a chip row ends, the
pixel rows above the next chip row are final: they are normalised by their
weight, quantised and yielded, and the buffers shift up. Peak memory therefore
depends on image width and chip size, never on height.

:func:`stream_rows` also runs a block of consecutive chip rows plus its halo
(:func:`basiss.grid.halo_start`), so the block's pixel rows come out bit for
bit as in a run over the whole image: single-process prediction, resumed runs
and Dask blocks all go through it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio

from basiss.grid import halo_start, owned_rows
from basiss.inference.blend import flip_tta, normalise_rows
from basiss.inference.predictor import Predictor
from basiss.inference.prefetch import prefetch
from basiss.inference.reader import Item, ItemKind, read_rows
from basiss.inference.scene import Scene

#: Batches the reader thread may prepare ahead of the model.
PREFETCH = 2


@dataclass(frozen=True)
class Rows:
    """A band of finished output rows, as :func:`stream_rows` yields them.

    Attributes:
        row: the image row of the first one.
        prob: ``(K, n, W)`` uint8 probabilities ``round(255 p)``.
        mask: ``(n, W)`` uint8 class mask.
        valid: ``(n, W)`` bool, False where the output is nodata.
        chips: chips run through the model for this band (its chip row, and any
            halo chip rows run just before it).
    """

    row: int
    prob: np.ndarray
    mask: np.ndarray
    valid: np.ndarray
    chips: int

    @property
    def stop(self) -> int:
        """The image row after the last one."""
        return self.row + self.mask.shape[0]


class _Accumulator:
    """Weighted probability sums one chip row tall: add chips, take finished rows, shift."""

    def __init__(self, k: int, weights: np.ndarray, width: int) -> None:
        self.weights = weights
        sy, self.sx = weights.shape
        self.acc = np.zeros((k, sy, width), np.float32)
        self.wsum = np.zeros((sy, width), np.float32)

    def add(self, cols: list[int], probs: np.ndarray) -> None:
        """Add chips ``probs (n, K, sy, sx)`` at column offsets ``cols``."""
        for j, c in enumerate(cols):
            self.acc[:, :, c : c + self.sx] += probs[j] * self.weights
            self.wsum[:, c : c + self.sx] += self.weights

    def shift(self, n: int) -> None:
        """Drop the top ``n`` rows (finished); zero the ``n`` rows that come in below."""
        sy = self.wsum.shape[0]
        self.acc[:, : sy - n] = self.acc[:, n:]
        self.acc[:, sy - n :] = 0.0
        self.wsum[: sy - n] = self.wsum[n:]
        self.wsum[sy - n :] = 0.0


def _model_ahead(
    items: Iterator[Item], run: Callable[[np.ndarray], np.ndarray], pool: ThreadPoolExecutor
) -> Iterator[tuple[Item, Future | None]]:
    """The reader's items in order, each batch with the future of its model call.

    A batch goes to ``pool`` as soon as it is read; the items before it are yielded
    only then, so while the caller waits for one batch, adds it up and writes the rows
    a chip row finishes, the model already runs the next one. Results are still used
    in reading order, so every sum is taken in the same order as without the thread.
    """
    queue: deque[tuple[Item, Future | None]] = deque()
    for item in items:
        fut = pool.submit(run, item.x) if item.kind is ItemKind.BATCH else None
        queue.append((item, fut))
        if fut is not None:
            while len(queue) > 1:
                yield queue.popleft()
    while queue:
        yield queue.popleft()


def stream_rows(
    pred: Predictor,
    ds: rasterio.io.DatasetReader,
    scene: Scene,
    first: int = 0,
    stop: int | None = None,
    tick: Callable[[int], Any] | None = None,
) -> Iterator[Rows]:
    """Predict chip rows ``first .. stop-1`` of ``scene`` and yield the pixel rows they finish.

    For a block (``first > 0``) the halo chip rows above it are run as well, and
    their rows are not yielded: the yielded rows ``owned_rows(grid, first, stop)``
    are then exactly (bit for bit) those of a run over the whole image.

    Args:
        pred: the predictor.
        ds: the open image (read in the background thread only).
        scene: :func:`~basiss.inference.scene.scene_info` of ``ds``.
        first, stop: chip-row indices into ``scene.grid.rows`` (default: all).
        tick: called with a number of chips done (run or skipped) of the chip rows
            ``first .. stop-1`` (halo chips are not counted), for progress.

    Yields:
        One :class:`Rows` per chip row ``first .. stop-1``, top to bottom.
    """
    grid = scene.grid
    stop = len(grid.rows) if stop is None else stop
    owned_rows(grid, first, stop)  # validates the range
    begin = halo_start(grid.rows, grid.slice_y, first)
    index = {r: i for i, r in enumerate(grid.rows)}
    acc = _Accumulator(pred.n_out, pred.weights, scene.acc_width)
    run = (lambda x: flip_tta(pred.engine, x)) if pred.options.tta else pred.engine
    count = tick if tick is not None else (lambda n: None)
    reader = read_rows(
        ds, scene, grid.rows[begin:stop], pred.spec.normalisation, pred.options.batch_size
    )
    items = prefetch(reader, PREFETCH, "basiss-reader")
    pool = ThreadPoolExecutor(1, thread_name_prefix="basiss-model")
    try:
        yield from _consume(
            _model_ahead(items, run, pool),
            grid, index, acc, first, count, pred.options.threshold, scene.width,
        )  # fmt: skip
    finally:  # also when the caller stops early: stop the reader, wait for the model
        items.close()
        pool.shutdown(wait=True, cancel_futures=True)


def _consume(
    items: Iterator[tuple[Item, Future | None]],
    grid: Any,
    index: dict[int, int],
    acc: _Accumulator,
    first: int,
    count: Callable[[int], Any],
    threshold: float,
    width: int,
) -> Iterator[Rows]:
    """Add up the model's batches in order; yield the rows each chip row finishes (the
    loop of :func:`stream_rows`, whose arguments these are)."""
    valid: np.ndarray | None = None
    chips_run = 0
    with contextlib.closing(items):
        for item, fut in items:
            i = index[item.row]
            if item.kind is ItemKind.ROW:
                valid = item.valid
            elif item.kind is ItemKind.BATCH:
                assert fut is not None and item.cols is not None
                acc.add(item.cols, fut.result())
                chips_run += len(item.cols)
                if i >= first:
                    count(len(item.cols))
            else:  # end of a chip row: rows above the next chip row are final
                assert valid is not None
                r0, r1 = owned_rows(grid, i, i + 1)
                if i >= first:
                    out = normalise_rows(acc.acc, acc.wsum, valid, r1 - r0, width, threshold)
                    yield Rows(r0, *out, chips=chips_run)
                    chips_run = 0
                    count(item.skipped)
                acc.shift(r1 - r0)
