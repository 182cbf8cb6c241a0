"""Blending and test-time-augmentation math: pure numpy, no I/O.

A chip's probabilities are added into the scene's accumulator times a weight
window (:func:`blend_weights`), and the weights into a weight sum; a finished
pixel is the weighted mean (:func:`normalise_rows`), quantised to uint8
(:func:`quantise`) and thresholded into a class mask (:func:`threshold_mask`).

``mean`` gives every chip pixel weight 1 (the seed's average over the coverage
map); ``cosine`` (default) is a separable raised-cosine (Hann) window with a
small floor, so chip borders count little where another chip overlaps them,
yet every pixel keeps a positive weight (the image's border pixels are covered
by one chip only).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from basiss.inference.options import BLENDS, Blend

#: Smallest cosine weight (relative to the chip centre's 1.0).
BLEND_FLOOR = 1e-2
#: The four flips of test-time augmentation, as numpy axes of ``(N, C, H, W)`` chips.
FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))


def blend_weights(slice_x: int, slice_y: int, kind: str = Blend.COSINE) -> np.ndarray:
    """The weight window of one chip, ``(slice_y, slice_x)`` float32 in (0, 1].

    ``mean``: all ones. ``cosine``: the outer product of two 1-D Hann windows
    sampled at pixel centres, ``floor + (1 - floor) * sin^2(pi (i + 0.5) / n)``,
    with ``floor = BLEND_FLOOR`` so no pixel has zero weight.

    Raises:
        ValueError: an unknown ``kind`` (options refuse it earlier, as a user error).
    """
    if kind == Blend.MEAN:
        return np.ones((slice_y, slice_x), dtype=np.float32)
    if kind != Blend.COSINE:
        raise ValueError(f"unknown blend {kind!r}; choose from {BLENDS}")

    def hann(n: int) -> np.ndarray:
        t = (np.arange(n, dtype=np.float64) + 0.5) / n
        return BLEND_FLOOR + (1.0 - BLEND_FLOOR) * np.sin(np.pi * t) ** 2

    return np.outer(hann(slice_y), hann(slice_x)).astype(np.float32)


def quantise(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] to uint8 ``round(255 p)`` (values outside are clipped)."""
    return np.rint(np.clip(prob, 0.0, 1.0) * 255.0).astype(np.uint8)


def threshold_mask(prob: np.ndarray, threshold: float) -> np.ndarray:
    """``(K, rows, cols)`` probabilities to a uint8 class mask ``(rows, cols)``.

    One road class: 1 where ``p >= threshold``. Several: the most probable
    class index (1..K) where its probability is ``>= threshold``, else 0.
    """
    if prob.shape[0] == 1:
        return (prob[0] >= threshold).astype(np.uint8)
    best = prob.argmax(axis=0)
    top = np.take_along_axis(prob, best[np.newaxis], axis=0)[0]
    return np.where(top >= threshold, best + 1, 0).astype(np.uint8)


def flip_tta(engine: Callable[[np.ndarray], np.ndarray], chips: np.ndarray) -> np.ndarray:
    """Mean of ``engine``'s predictions over the four flips of ``chips`` (each flipped back).

    Args:
        engine: chips ``(N, C, H, W)`` -> probabilities ``(N, K, H, W)``.
        chips: the batch.
    """
    total = None
    for axes in FLIPS:
        x = np.ascontiguousarray(np.flip(chips, axes)) if axes else chips
        p = engine(x)
        p = np.flip(p, axes) if axes else p
        total = p.copy() if total is None else total + p
    assert total is not None
    return total * np.float32(0.25)


def normalise_rows(
    acc: np.ndarray,
    wsum: np.ndarray,
    valid: np.ndarray,
    n: int,
    width: int,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``n`` accumulator rows as finished output rows.

    Args:
        acc: ``(K, rows, W')`` weighted probability sums (``W' >= width``).
        wsum: ``(rows, W')`` weight sums.
        valid: ``(rows, W')`` input pixels with data.
        n: rows to finish (from the top).
        width: image width (columns past it are padding).
        threshold: the mask threshold.

    Returns:
        ``(prob, mask, ok)``: uint8 ``(K, n, width)`` probabilities ``round(255 p)``,
        uint8 ``(n, width)`` class mask, and bool ``(n, width)`` pixels with an output
        (input data and a positive weight). Pixels without one are 0 in both.
    """
    w = wsum[:n, :width]
    ok = valid[:n, :width] & (w > 0)
    prob = acc[:, :n, :width] / np.where(w > 0, w, np.float32(1.0))
    prob[:, ~ok] = 0.0
    mask = threshold_mask(prob, threshold)
    mask[~ok] = 0
    return quantise(prob), mask, ok
