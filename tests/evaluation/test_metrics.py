"""Pixel metrics: hand-computed counts, empty cases, relaxed metrics, threshold sweep."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from basiss.evaluation.metrics import (
    DEFAULT_THRESHOLDS,
    Counts,
    RelaxedCounts,
    best_threshold,
    confusion,
    near,
    relaxed_counts,
    scores,
    threshold_sweep,
)


def test_hand_computed_counts():
    pred = np.array([[1, 1, 0], [0, 1, 0]], dtype=bool)
    truth = np.array([[1, 0, 0], [0, 1, 1]], dtype=bool)
    c = confusion(pred, truth)
    assert c == Counts(tp=2, fp=1, fn=1, tn=2)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    assert c.iou == pytest.approx(0.5)
    assert scores(c) == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "iou": pytest.approx(0.5),
        "tp": 2,
        "fp": 1,
        "fn": 1,
    }


def test_valid_mask_excludes_pixels():
    pred = np.array([[1, 1, 0], [0, 1, 0]])
    truth = np.array([[1, 0, 0], [0, 1, 1]])
    valid = np.array([[1, 0, 1], [1, 1, 0]], dtype=bool)  # drops the FP and the FN
    c = confusion(pred, truth, valid)
    assert c == Counts(tp=2, fp=0, fn=0, tn=2)
    assert c.f1 == 1.0


def test_counts_add_and_precision_differs_from_recall():
    a = Counts(tp=3, fp=1, fn=0, tn=5)
    b = Counts(tp=1, fp=0, fn=3, tn=5)
    s = a + b
    assert s == Counts(tp=4, fp=1, fn=3, tn=10)
    assert s.precision == pytest.approx(0.8)
    assert s.recall == pytest.approx(4 / 7)
    assert s.f1 == pytest.approx(8 / 12)


def test_both_empty_is_perfect():
    z = np.zeros((4, 4), dtype=bool)
    c = confusion(z, z)
    assert c == Counts(tn=16)
    assert (c.precision, c.recall, c.f1, c.iou) == (1.0, 1.0, 1.0, 1.0)


def test_empty_prediction_scores_zero():
    truth = np.zeros((4, 4), dtype=bool)
    truth[1, :] = True
    c = confusion(np.zeros_like(truth), truth)
    assert (c.tp, c.fp, c.fn) == (0, 0, 4)
    assert (c.precision, c.recall, c.f1, c.iou) == (0.0, 0.0, 0.0, 0.0)


def test_empty_truth_scores_zero():
    pred = np.zeros((4, 4), dtype=bool)
    pred[:, 2] = True
    c = confusion(pred, np.zeros_like(pred))
    assert (c.tp, c.fp, c.fn) == (0, 4, 0)
    assert (c.precision, c.recall, c.f1, c.iou) == (0.0, 0.0, 0.0, 0.0)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        confusion(np.zeros((3, 3)), np.zeros((3, 4)))


# ---------------------------------------------------------------- relaxed


def _line(col: int, size: int = 40) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    m[5:35, col] = True
    return m


@pytest.mark.parametrize(
    ("tol", "expected"), [(0, 0.0), (1, 0.0), (2, 0.0), (3, 1.0), (4, 1.0), (10, 1.0)]
)
def test_relaxed_on_shifted_line(tol, expected):
    truth, pred = _line(10), _line(13)  # shifted by 3 px
    rc = relaxed_counts(pred, truth, tol)
    assert rc.pred_total == rc.truth_total == 30
    assert rc.precision == expected
    assert rc.recall == expected
    assert rc.f1 == expected


def test_relaxed_partial_tolerance_on_diagonal_shift():
    # shifted by (2, 2) rows/cols: where the columns overlap a predicted pixel is 2 px below
    # the truth; the last 2 predicted pixels are sqrt(5) and sqrt(8) px away (> 2, <= 3)
    truth = np.zeros((30, 30), dtype=bool)
    truth[5, 5:25] = True
    pred = np.roll(np.roll(truth, 2, axis=0), 2, axis=1)
    rc2 = relaxed_counts(pred, truth, 2)
    assert rc2.pred_total == 20 and rc2.pred_near == 18
    assert relaxed_counts(pred, truth, 3).f1 == 1.0


def test_relaxed_zero_tolerance_equals_strict():
    rng = np.random.default_rng(0)
    pred = rng.random((50, 60)) > 0.7
    truth = rng.random((50, 60)) > 0.6
    c = confusion(pred, truth)
    rc = relaxed_counts(pred, truth, 0)
    assert rc.precision == pytest.approx(c.precision)
    assert rc.recall == pytest.approx(c.recall)


def test_relaxed_empty_cases_and_add():
    z = np.zeros((10, 10), dtype=bool)
    line = _line(3, 10)
    assert relaxed_counts(z, z, 3).f1 == 1.0
    only_truth = relaxed_counts(z, line, 3)
    assert (only_truth.precision, only_truth.recall, only_truth.f1) == (0.0, 0.0, 0.0)
    only_pred = relaxed_counts(line, z, 3)
    assert (only_pred.precision, only_pred.recall, only_pred.f1) == (0.0, 0.0, 0.0)
    total = RelaxedCounts(1, 2, 3, 4) + RelaxedCounts(10, 20, 30, 40)
    assert total == RelaxedCounts(11, 22, 33, 44)
    pred_near, pred_total, truth_near, truth_total = total  # unpacks as a tuple
    assert (pred_near, truth_total) == (11, 44)


def test_relaxed_valid_mask():
    truth, pred = _line(10), _line(13)
    valid = np.ones_like(truth)
    valid[:, :12] = False  # hides the truth: the prediction is all false positives
    rc = relaxed_counts(pred, truth, 5, valid)
    assert rc == RelaxedCounts(0, 30, 0, 0)


def test_near_blocks_equal_whole_transform():
    rng = np.random.default_rng(1)
    mask = rng.random((97, 41)) > 0.97
    whole = ndimage.distance_transform_edt(~mask) <= 6
    assert np.array_equal(near(mask, 6, block_rows=10), whole)
    assert np.array_equal(near(mask, 0), mask)


# ---------------------------------------------------------------- sweep


def test_sweep_matches_direct_counts_in_given_order():
    rng = np.random.default_rng(2)
    prob = rng.random((40, 50)).astype(np.float32)
    truth = rng.random((40, 50)) > 0.8
    valid = rng.random((40, 50)) > 0.1
    ths = [0.9, 0.1, 0.5, 0.33, 0.0, 1.0]
    sweep = threshold_sweep(prob, truth, ths, valid)
    for t, c in zip(ths, sweep, strict=True):
        assert c == confusion(prob >= t, truth, valid)


def test_sweep_finds_the_right_threshold():
    # 10 road pixels at p=0.7; background: 80 at 0.2 and 10 at 0.5.
    # F1 is 1.0 for thresholds in (0.5, 0.7], 0.667 in (0.2, 0.5], lower elsewhere.
    prob = np.concatenate([np.full(10, 0.7), np.full(80, 0.2), np.full(10, 0.5)]).reshape(10, 10)
    truth = np.zeros(100, dtype=bool)
    truth[:10] = True
    truth = truth.reshape(10, 10)
    sweep = threshold_sweep(prob, truth, DEFAULT_THRESHOLDS)
    t, c = best_threshold(sweep, DEFAULT_THRESHOLDS)
    assert t == pytest.approx(0.51)
    assert c == Counts(tp=10, fp=0, fn=0, tn=90)
    at_half = sweep[DEFAULT_THRESHOLDS.index(0.5)]
    assert at_half.f1 == pytest.approx(2 / 3)


def test_best_threshold_needs_matching_lengths():
    with pytest.raises(ValueError):
        best_threshold([Counts()], [0.1, 0.2])
