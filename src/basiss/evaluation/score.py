"""Score road predictions against the truth: pair files, read them band by band, count.

The steps have their own homes, each stating its rules: pairing files by image id in
:mod:`basiss.evaluation.matching`, reading a prediction or truth onto one grid (and which
pixels count) in :mod:`basiss.evaluation.layers`, the bands and their sums in
:mod:`basiss.evaluation.bands` and :mod:`basiss.evaluation.stream`, the metrics in
:mod:`basiss.evaluation.metrics` (pure), the figure's overview in
:mod:`basiss.evaluation.overview`, and the typed report with its JSON, CSV and table
in :mod:`basiss.evaluation.report`. This module runs them, one image at a time; an
image is read one band of rows at a time, so memory does not grow with the scene.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from basiss.errors import BasissError, file_error
from basiss.evaluation import metrics
from basiss.evaluation.layers import (
    AlignedPrediction,
    PredictionRows,
    TruthRows,
    grid_mismatch,
    image_overview,
    open_image_valid,
    open_prediction,
    open_truth_lines,
    open_truth_raster,
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
from basiss.evaluation.stream import PairRows, PixelTally, ScoreOptions, tally_pair
from basiss.io.raster import PathLike, streaming_env
from basiss.progress import progress

if TYPE_CHECKING:
    from basiss.evaluation.overview import OverviewTally

__all__ = ["ScoreOptions", "evaluate", "evaluate_with", "format_table", "open_pair", "score_pair"]

#: Largest side (pixels) of a figure panel; bigger scenes are max-pooled down.
PLOT_MAX_SIDE = 2000


@contextlib.contextmanager
def open_pair(pair: Match, image: Path | None, opts: ScoreOptions) -> Iterator[PairRows]:
    """Open a pair on one grid (the truth's, or the prediction's for a GeoJSON truth).

    Raises:
        BasissError: an unreadable file or prediction, a grid mismatch without
            ``opts.align``, a grid without the georeference a step needs, or imagery
            whose size differs from the grid.
    """
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_prediction(pair.pred))
        pred: PredictionRows = source
        truth: TruthRows
        if is_vector(pair.truth):
            grid = source.grid
            truth = open_truth_lines(pair.truth, grid, pair.pred, opts.buffer_meters)
        else:
            truth_raster = stack.enter_context(open_truth_raster(pair.truth))
            grid = truth_raster.grid
            truth = truth_raster
            problem = grid_mismatch(source.grid, grid)
            if problem is not None:
                if not opts.align:
                    raise file_error(
                        pair.pred,
                        f"grid differs from truth {pair.truth} ({problem}); "
                        "use --align to resample the prediction onto the truth grid",
                    )
                pred = AlignedPrediction(source, grid, pair.truth)
        img = None
        if image is not None:
            img = stack.enter_context(open_image_valid(image, grid.height, grid.width))
        yield PairRows(source, pred, truth, img, grid, opts.threshold)


def empty_reason(pair: PairRows, tally: PixelTally) -> str | None:
    """Why not one pixel of a scored pair counts, or None when some do."""
    if tally.valid_pixels > 0:
        return None
    if pair.grid.width * pair.grid.height == 0:
        return "the grid has no pixel"
    if not pair.source.any_valid():
        return "the prediction is nodata everywhere"
    if pair.aligned and tally.pred_valid == 0:
        return "the prediction does not overlap the truth grid (--align)"
    if pair.image is not None:
        return f"the image {pair.image.path.name} is nodata (0) wherever the prediction is valid"
    return "no pixel counts"


def score_pair(
    pair: Match, image: Path | None, opts: ScoreOptions, plots_dir: Path | None = None
) -> ImageResult:
    """Score one pair band by band: strict, relaxed (with ``relax_px``) and the sweep.

    Draws its figure in ``plots_dir`` (when given and the pair has a valid pixel). A pair
    without a valid pixel is returned not scored, with the reason.
    """
    with streaming_env(), open_pair(pair, image, opts) as rows:
        overview = None
        if plots_dir is not None:
            from basiss.evaluation.overview import OverviewTally
            from basiss.viz.plots import overview_factor

            shape = (rows.grid.height, rows.grid.width)
            factor = overview_factor(shape, PLOT_MAX_SIDE)
            overview = OverviewTally(shape, factor, rows.pred.is_prob)
        on_band = overview.add if overview is not None else None
        tally = tally_pair(rows, opts, on_band, desc=pair.ident)
        reason = empty_reason(rows, tally)
    if reason is not None:
        return ImageResult.not_scored(
            pair.ident, pair.pred, pair.truth, f"no valid pixel: {reason}"
        )
    sweep = t_best = f1_best = None
    if tally.sweep is not None:
        sweep = tuple(tally.sweep)
        t_best, c_best = metrics.best_threshold(sweep, opts.sweep_thresholds)
        f1_best = c_best.f1
    result = ImageResult(
        pair.ident, pair.pred, pair.truth, tally.counts, tally.relaxed, sweep, t_best, f1_best
    )
    if overview is not None and plots_dir is not None:
        _plot_one(result, overview, image, plots_dir)
    return result


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
    return evaluate_with(pred, truth, opts, out_json, plots_dir, image)


def evaluate_with(
    pred: PathLike,
    truth: PathLike,
    opts: ScoreOptions,
    out_json: PathLike | None = None,
    plots_dir: PathLike | None = None,
    image: PathLike | None = None,
) -> EvaluationReport:
    """:func:`evaluate` with its settings in one :class:`ScoreOptions` (checked by the caller).

    ``opts`` also holds what :func:`evaluate` picks itself, the rows per band
    (``opts.band_rows``); the scores do not depend on it.
    """
    with streaming_env():  # matching reads whole rasters decimated
        matching = match_files(pred, truth)
        images = match_images(image, matching.pairs)
        plots = Path(plots_dir) if plots_dir is not None else None
        results = [
            score_pair(pair, images.get(pair.ident), opts, plots)
            for pair in progress(matching.pairs, desc="evaluate", unit="image")
        ]
    if not any(r.status is ImageStatus.SCORED for r in results):
        why = "; ".join(f"{r.ident}: {r.reason}" for r in results[:3])
        raise file_error(Path(pred), f"nothing to score, no image has a valid pixel ({why})")
    report = EvaluationReport(
        opts.threshold,
        opts.buffer_meters,
        opts.relax_px,
        opts.sweep_thresholds,
        results,
        Unmatched(tuple(matching.unmatched_pred), tuple(matching.unmatched_truth)),
        tuple(matching.refused),
    )
    if out_json is not None:
        write_report(report, out_json)
    return report


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


def _plot_one(
    result: ImageResult, overview: OverviewTally, image: Path | None, plots_dir: Path
) -> Path:
    """The figure of one image: truth | prediction | overlay, over the imagery when given."""
    from basiss.viz import plots

    rgb = image_overview(image, overview.shape) if image is not None else None
    c = result.counts
    title = f"{result.ident}: F1 {c.f1:.3f}  IoU {c.iou:.3f}  P {c.precision:.3f}  R {c.recall:.3f}"
    return plots.draw_evaluation(
        plots_dir / f"{result.ident}_eval.png", overview.overview(), image=rgb, title=title
    )
