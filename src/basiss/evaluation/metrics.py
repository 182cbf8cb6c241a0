"""Pixel metrics for road masks: confusion counts -> precision, recall, F1, IoU.

Pure numpy/scipy, no I/O. Counts are integers that add up over images (and over
blocks of one image), so micro-averaging is ``sum(counts)`` and a metric is
computed once, at the end.

Conventions for the empty cases (never a division by zero):

* ``precision = tp / (tp + fp)``; with no predicted road pixel it is 1.0 when
  there is no true road either (nothing claimed, nothing missed) and 0.0 when
  true road exists (the prediction missed all of it).
* ``recall = tp / (tp + fn)``; with no true road pixel it is 1.0 when nothing
  is predicted either and 0.0 when road is predicted (all of it is false).
* ``f1 = 2 tp / (2 tp + fp + fn)`` and ``iou = tp / (tp + fp + fn)``; both are
  1.0 when prediction and truth are both empty (perfect agreement) and 0.0
  when only one side is empty.

So an image with no road and no predicted road scores 1.0 everywhere, and an
image where only one side has road scores 0.0 everywhere, consistently.

Relaxed metrics follow Mnih & Hinton (2010, "Learning to detect roads in
high-resolution aerial images"): with a tolerance of ``rho`` pixels, a
predicted road pixel is correct when a true road pixel lies within Euclidean
distance ``rho`` of it (relaxed precision), and a true road pixel is found when
a predicted road pixel lies within ``rho`` (relaxed recall). ``rho = 0`` gives
the strict precision and recall.

A pixel is predicted as road when ``probability >= threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

#: The thresholds a sweep tries by default: 0.01, 0.02, ..., 0.99.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(1, 100))


def _ratio(num: int, den: int, empty: float) -> float:
    """``num / den``, or ``empty`` when ``den`` is 0."""
    return float(num) / float(den) if den else empty


@dataclass(frozen=True)
class Counts:
    """Pixel confusion counts of a binary road prediction against the truth.

    Counts add (``a + b``), so aggregating over images or blocks is a sum.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``; without predicted road: 1.0 if no road was missed, else 0.0."""
        return _ratio(self.tp, self.tp + self.fp, 1.0 if self.fn == 0 else 0.0)

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``; without true road: 1.0 if no road was predicted, else 0.0."""
        return _ratio(self.tp, self.tp + self.fn, 1.0 if self.fp == 0 else 0.0)

    @property
    def f1(self) -> float:
        """``2 tp / (2 tp + fp + fn)``; 1.0 when both prediction and truth are empty."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn, 1.0)

    @property
    def iou(self) -> float:
        """``tp / (tp + fp + fn)``; 1.0 when both prediction and truth are empty."""
        return _ratio(self.tp, self.tp + self.fp + self.fn, 1.0)


def _as_bool(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != bool:
        arr = arr != 0
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, cols), got shape {arr.shape}")
    return arr


def _check_shapes(**arrays: np.ndarray | None) -> None:
    shapes = {k: np.shape(v) for k, v in arrays.items() if v is not None}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"shapes differ: {shapes}")


def _masked(
    pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``pred`` and ``truth`` as bool, False outside ``valid``; and ``valid`` as bool (or None).

    Raises:
        ValueError: the shapes differ or an array is not 2-D.
    """
    _check_shapes(pred=pred, truth=truth, valid=valid)
    p = _as_bool(pred, "pred")
    t = _as_bool(truth, "truth")
    if valid is None:
        return p, t, None
    v = _as_bool(valid, "valid")
    return p & v, t & v, v


def confusion(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> Counts:
    """Confusion counts of ``pred`` against ``truth`` over the ``valid`` pixels.

    Args:
        pred: ``(rows, cols)`` predicted road (bool, or non-zero = road).
        truth: ``(rows, cols)`` true road, same shape.
        valid: optional ``(rows, cols)`` bool; pixels where it is False are
            not counted at all (nodata).

    Returns:
        :class:`Counts` with ``tp + fp + fn + tn`` equal to the number of valid pixels.
    """
    p, t, v = _masked(pred, truth, valid)
    total = p.size if v is None else int(np.count_nonzero(v))
    tp = int(np.count_nonzero(p & t))
    n_pred = int(np.count_nonzero(p))
    n_true = int(np.count_nonzero(t))
    fp = n_pred - tp
    fn = n_true - tp
    return Counts(tp=tp, fp=fp, fn=fn, tn=total - tp - fp - fn)


def scores(c: Counts) -> dict[str, float | int]:
    """The report entry of one set of counts: precision, recall, f1, iou, tp, fp, fn."""
    return {
        "precision": c.precision,
        "recall": c.recall,
        "f1": c.f1,
        "iou": c.iou,
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
    }


def f1_of(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    s = precision + recall
    return 2.0 * precision * recall / s if s > 0 else 0.0


class RelaxedCounts(NamedTuple):
    """The ingredients of relaxed precision and recall (Mnih & Hinton 2010).

    Attributes:
        pred_near: predicted road pixels with a true road pixel within the tolerance.
        pred_total: predicted road pixels.
        truth_near: true road pixels with a predicted road pixel within the tolerance.
        truth_total: true road pixels.

    ``a + b`` adds the counts element-wise (not tuple concatenation), so they
    micro-aggregate like :class:`Counts`. The empty cases follow the module's
    conventions.
    """

    pred_near: int = 0
    pred_total: int = 0
    truth_near: int = 0
    truth_total: int = 0

    def __add__(self, other: tuple) -> RelaxedCounts:  # type: ignore[override]
        return RelaxedCounts(*(int(a) + int(b) for a, b in zip(self, other, strict=True)))

    @property
    def precision(self) -> float:
        """Share of predicted road near true road; empty prediction: 1.0 if no truth else 0.0."""
        return _ratio(self.pred_near, self.pred_total, 1.0 if self.truth_total == 0 else 0.0)

    @property
    def recall(self) -> float:
        """Share of true road near predicted road; empty truth: 1.0 if no prediction else 0.0."""
        return _ratio(self.truth_near, self.truth_total, 1.0 if self.pred_total == 0 else 0.0)

    @property
    def f1(self) -> float:
        """Harmonic mean of relaxed precision and recall (1.0 when both sides are empty)."""
        if self.pred_total == 0 and self.truth_total == 0:
            return 1.0
        return f1_of(self.precision, self.recall)


def near(mask: np.ndarray, radius: int, block_rows: int = 1024) -> np.ndarray:
    """Pixels within Euclidean distance ``radius`` (pixels) of a True pixel of ``mask``.

    Computed with a distance transform in row blocks with a halo of
    ``radius`` rows, so memory stays bounded on large scenes; the result is the
    same as one transform of the whole image.

    Args:
        mask: ``(rows, cols)`` bool.
        radius: tolerance in pixels, >= 0 (0 returns ``mask`` itself).
        block_rows: rows per block.
    """
    m = _as_bool(mask, "mask")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0 or not m.any():
        return m.copy()
    out = np.empty_like(m)
    rows = m.shape[0]
    for r0 in range(0, rows, block_rows):
        r1 = min(rows, r0 + block_rows)
        h0, h1 = max(0, r0 - radius), min(rows, r1 + radius)
        slab = m[h0:h1]
        if not slab.any():
            out[r0:r1] = False
            continue
        dist = ndimage.distance_transform_edt(~slab)
        out[r0:r1] = dist[r0 - h0 : r1 - h0] <= radius
    return out


def relaxed_counts(
    pred: np.ndarray,
    truth: np.ndarray,
    relax_px: int,
    valid: np.ndarray | None = None,
    core: slice | None = None,
) -> RelaxedCounts:
    """Relaxed precision/recall ingredients with a tolerance of ``relax_px`` pixels.

    Pixels outside ``valid`` are treated as neither predicted nor true road
    (they neither count nor help a neighbour count).

    Args:
        pred: ``(rows, cols)`` predicted road.
        truth: ``(rows, cols)`` true road.
        relax_px: tolerance in pixels (Euclidean distance), >= 0.
        valid: optional bool mask of the pixels to evaluate.
        core: count only these rows (a band of a scene). The counts are those of the
            whole scene's rows when the arrays hold ``relax_px`` rows above and below
            ``core`` (fewer at the scene's edges): every neighbour within the tolerance
            is then in the arrays.

    Returns:
        :class:`RelaxedCounts` ``(pred_near, pred_total, truth_near, truth_total)``.
    """
    p, t, _ = _masked(pred, truth, valid)
    rows = slice(None) if core is None else core
    pc, tc = p[rows], t[rows]
    return RelaxedCounts(
        pred_near=int(np.count_nonzero(pc & near(t, relax_px)[rows])),
        pred_total=int(np.count_nonzero(pc)),
        truth_near=int(np.count_nonzero(tc & near(p, relax_px)[rows])),
        truth_total=int(np.count_nonzero(tc)),
    )


def threshold_sweep(
    prob: np.ndarray,
    truth: np.ndarray,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    valid: np.ndarray | None = None,
) -> list[Counts]:
    """Confusion counts at each threshold (road where ``prob >= threshold``), in one pass.

    Each pixel is binned by how many (sorted) thresholds it reaches; cumulative
    sums of those bins over true-road and background pixels give TP and FP for
    every threshold at once.

    Args:
        prob: ``(rows, cols)`` road probability in 0..1.
        truth: ``(rows, cols)`` true road.
        thresholds: the thresholds to try (any order).
        valid: optional bool mask of the pixels to evaluate.

    Returns:
        One :class:`Counts` per threshold, in the order given.
    """
    _check_shapes(prob=prob, truth=truth, valid=valid)
    t = _as_bool(truth, "truth")
    p = np.asarray(prob)
    if valid is not None:
        v = _as_bool(valid, "valid")
        p, t = p[v], t[v]
    else:
        p, t = p.ravel(), t.ravel()
    th = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort(th, kind="stable")
    sorted_th = th[order]
    k = len(th)
    # level[i] = number of sorted thresholds <= prob[i]; the pixel is road at sorted index j < level
    level = np.searchsorted(sorted_th, p.astype(np.float64), side="right")
    pos = np.bincount(level[t], minlength=k + 1)
    neg = np.bincount(level[~t], minlength=k + 1)
    # road at sorted threshold j <=> level > j: counts are suffix sums from level j+1
    tp_sorted = np.cumsum(pos[::-1])[::-1][1:]
    fp_sorted = np.cumsum(neg[::-1])[::-1][1:]
    n_true, n_false = int(t.sum()), int(t.size - t.sum())
    out: list[Counts] = [Counts()] * k
    for j, idx in enumerate(order):
        tp, fp = int(tp_sorted[j]), int(fp_sorted[j])
        out[idx] = Counts(tp=tp, fp=fp, fn=n_true - tp, tn=n_false - fp)
    return out


def best_threshold(counts: Sequence[Counts], thresholds: Sequence[float]) -> tuple[float, Counts]:
    """The threshold with the highest F1 (the lowest such threshold on ties), and its counts."""
    if len(counts) != len(thresholds) or not counts:
        raise ValueError("need one Counts per threshold, at least one")
    f1s = [c.f1 for c in counts]
    best = max(f1s)
    cands = [i for i, f in enumerate(f1s) if f == best]
    i = min(cands, key=lambda j: thresholds[j])
    return float(thresholds[i]), counts[i]
