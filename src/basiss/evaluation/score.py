"""Score road predictions against the truth: pair files, read them onto one grid, count.

The steps have their own homes, each stating its rules: pairing files by image id in
:mod:`basiss.evaluation.matching`, reading a prediction or truth onto one grid (and which
pixels count) in :mod:`basiss.evaluation.layers`, the metrics in
:mod:`basiss.evaluation.metrics` (pure), and the typed report with its JSON, CSV and table
in :mod:`basiss.evaluation.report`. This module runs them, one image at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basiss.errors import BasissError, file_error
from basiss.evaluation import metrics
from basiss.evaluation.layers import (
    Layer,
    align_to,
    grid_mismatch,
    image_overview,
    image_valid,
    rasterize_truth,
    read_prediction,
    read_truth_raster,
)
from basiss.evaluation.matching import Match, is_vector, match_files, match_images
from basiss.evaluation.report import (
    EvaluationReport,
    ImageResult,
    ImageStatus,
    Unmatched,
    csv_path,
    format_table,
    write_report,
)
from basiss.io.raster import PathLike
from basiss.progress import progress

__all__ = ["evaluate", "format_table", "score_pair"]

#: Largest side (pixels) of a figure panel; bigger scenes are max-pooled down.
PLOT_MAX_SIDE = 2000


@dataclass(frozen=True)
class ScoreOptions:
    """How one pair is scored (the settings of :func:`evaluate`)."""

    threshold: float = 0.5
    relax_px: int | None = None
    buffer_meters: float = 2.0
    align: bool = False
    sweep_thresholds: tuple[float, ...] = metrics.DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class Scene:
    """A pair read onto one grid.

    Attributes:
        pred: the prediction layer (probability or mask).
        pred_mask: ``(rows, cols)`` bool road at the threshold.
        truth: ``(rows, cols)`` bool true road.
        valid: bool of the pixels that count, or None for all of them.
        empty_reason: why not one pixel counts, or None when some do.
    """

    pred: Layer
    pred_mask: np.ndarray
    truth: np.ndarray
    valid: np.ndarray | None
    empty_reason: str | None = None


def _none_valid(valid: np.ndarray | None) -> bool:
    return valid is not None and not valid.any()


def load_pair(pair: Match, image: Path | None, opts: ScoreOptions) -> Scene:
    """Read a pair onto one grid (the truth's, or the prediction's for a GeoJSON truth).

    A scene where not one pixel counts carries the reason in ``empty_reason``.
    """
    p_layer = read_prediction(pair.pred)
    reason = "the prediction is nodata everywhere" if _none_valid(p_layer.valid) else None
    if is_vector(pair.truth):
        t_layer = rasterize_truth(pair.truth, p_layer, opts.buffer_meters)
    else:
        t_layer = read_truth_raster(pair.truth)
        problem = grid_mismatch(p_layer, t_layer)
        if problem is not None:
            if not opts.align:
                raise file_error(
                    pair.pred,
                    f"grid differs from truth {pair.truth} ({problem}); "
                    "use --align to resample the prediction onto the truth grid",
                )
            p_layer = align_to(p_layer, t_layer)
            if reason is None and _none_valid(p_layer.valid):
                reason = "the prediction does not overlap the truth grid (--align)"
    valid = p_layer.valid
    if image is not None:
        iv = image_valid(image, t_layer.height, t_layer.width)
        valid = iv if valid is None else valid & iv
        if reason is None and _none_valid(valid):
            reason = f"the image {image.name} is nodata (0) wherever the prediction is valid"
    pred_mask = p_layer.data >= opts.threshold if p_layer.is_prob else p_layer.data
    if reason is None and pred_mask.size == 0:
        reason = "the grid has no pixel"
    return Scene(p_layer, pred_mask, t_layer.data, valid, reason)


def score_pair(pair: Match, scene: Scene, opts: ScoreOptions) -> ImageResult:
    """Count one pair read onto one grid: strict, relaxed (with ``relax_px``) and the sweep."""
    pred_mask, truth, valid = scene.pred_mask, scene.truth, scene.valid
    counts = metrics.confusion(pred_mask, truth, valid)
    relaxed = None
    if opts.relax_px is not None:
        relaxed = metrics.relaxed_counts(pred_mask, truth, opts.relax_px, valid)
    sweep = t_best = f1_best = None
    if scene.pred.is_prob:
        sweep = tuple(metrics.threshold_sweep(scene.pred.data, truth, opts.sweep_thresholds, valid))
        t_best, c_best = metrics.best_threshold(sweep, opts.sweep_thresholds)
        f1_best = c_best.f1
    return ImageResult(pair.ident, pair.pred, pair.truth, counts, relaxed, sweep, t_best, f1_best)


def evaluate(
    pred: PathLike,
    truth: PathLike,
    out_json: PathLike | None = None,
    threshold: float = 0.5,
    relax_px: int | None = None,
    buffer_meters: float = 2.0,
    align: bool = False,
    plots_dir: PathLike | None = None,
    image: PathLike | None = None,
    thresholds: Sequence[float] = metrics.DEFAULT_THRESHOLDS,
) -> EvaluationReport:
    """Score predictions against the truth; write the report (JSON + CSV) and figures.

    Args:
        pred: a prediction raster or a folder of them.
        truth: a truth mask raster / centerline GeoJSON, or a folder of them.
        out_json: where to write the JSON report; the CSV (one row per image)
            goes beside it with the same stem. None writes nothing.
        threshold: probability at or above which a pixel is road.
        relax_px: tolerance (pixels) for relaxed precision/recall/F1; None skips them.
        buffer_meters: buffer each side of a GeoJSON centerline, in metres.
        align: resample predictions onto the truth grid when the grids differ.
        plots_dir: folder for one figure per image (truth | prediction | overlay).
        image: imagery (file or folder, matched by id) drawn under the overlay
            and used for the nodata mask.
        thresholds: thresholds of the sweep for probability predictions.

    Returns:
        The :class:`~basiss.evaluation.report.EvaluationReport` (``.micro``, ``.macro``,
        ``.relaxed``, ``.best_threshold``, ``.images``, ``.skipped``, ``.unmatched``,
        ``.refused``; ``.to_json()``). Images without a valid pixel are in ``.skipped``
        and enter no score.

    Raises:
        BasissError: a bad setting, an unwritable ``out_json``, files that cannot be paired
            for sure (:func:`~basiss.evaluation.matching.match_files`), a grid mismatch
            without ``align``, or no image with a valid pixel.
    """
    if not 0.0 <= threshold <= 1.0:
        raise BasissError(f"threshold must be in [0, 1], got {threshold}")
    if relax_px is not None and relax_px < 0:
        raise BasissError(f"relax_px must be >= 0, got {relax_px}")
    if out_json is not None:
        check_report_path(out_json)
    opts = ScoreOptions(
        threshold, relax_px, buffer_meters, align, tuple(sorted(set(thresholds) | {threshold}))
    )
    matching = match_files(pred, truth)
    images = match_images(image, matching.pairs)
    plots = Path(plots_dir) if plots_dir is not None else None
    results = [
        _evaluate_one(pair, images.get(pair.ident), opts, plots)
        for pair in progress(matching.pairs, desc="evaluate", unit="image")
    ]
    if not any(r.status is ImageStatus.SCORED for r in results):
        why = "; ".join(f"{r.ident}: {r.reason}" for r in results[:3])
        raise file_error(Path(pred), f"nothing to score, no image has a valid pixel ({why})")
    report = EvaluationReport(
        threshold,
        buffer_meters,
        relax_px,
        opts.sweep_thresholds,
        results,
        Unmatched(tuple(matching.unmatched_pred), tuple(matching.unmatched_truth)),
        tuple(matching.refused),
    )
    if out_json is not None:
        write_report(report, out_json)
    return report


def _evaluate_one(
    pair: Match, image: Path | None, opts: ScoreOptions, plots_dir: Path | None
) -> ImageResult:
    """Read and score one pair (drawing its figure); a pair without valid pixel is skipped."""
    scene = load_pair(pair, image, opts)
    if scene.empty_reason is not None:
        reason = f"no valid pixel: {scene.empty_reason}"
        return ImageResult.not_scored(pair.ident, pair.pred, pair.truth, reason)
    result = score_pair(pair, scene, opts)
    if plots_dir is not None:
        _plot_one(result, scene, image, plots_dir)
    return result


def check_report_path(out_json: PathLike) -> None:
    """Refuse a report path that cannot be written, before any work is done.

    Raises:
        BasissError: the path (or the CSV beside it) is a folder, or a parent is a file.
    """
    for p in (Path(out_json), csv_path(out_json)):
        if p.is_dir():
            raise file_error(p, "is a folder; the report needs a file name (e.g. report.json)")
    parent = Path(out_json).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise file_error(parent, "is a file, not a folder; cannot write the report under it")


def _plot_one(result: ImageResult, scene: Scene, image: Path | None, plots_dir: Path) -> Path:
    """The figure of one image: truth | prediction | overlay, over the imagery when given."""
    from basiss.viz import plots

    truth_mask = scene.truth
    factor = plots.overview_factor(truth_mask.shape, PLOT_MAX_SIDE)
    shape = plots.pooled_shape(truth_mask.shape, factor)
    rgb = image_overview(image, shape) if image is not None else None
    c = result.counts
    title = f"{result.ident}: F1 {c.f1:.3f}  IoU {c.iou:.3f}  P {c.precision:.3f}  R {c.recall:.3f}"
    return plots.evaluation_figure(
        plots_dir / f"{result.ident}_eval.png",
        truth_mask,
        scene.pred_mask,
        prob=scene.pred.data if scene.pred.is_prob else None,
        valid=scene.valid,
        image=rgb,
        title=title,
        max_side=PLOT_MAX_SIDE,
    )
