"""Scoring one pair band by band: read a band of rows onto one grid, add its counts.

Every count evaluation reports is a sum over pixels, so it adds up over bands: the
confusion counts and the threshold sweep over each band's core rows, and the relaxed
counts over the core rows of a slab holding ``relax_px`` rows of halo above and below
(a pixel's neighbours within the tolerance are then all in the slab). The sums are the
whole-image counts exactly, so evaluating a scene takes the memory of a band
(:mod:`basiss.evaluation.bands`), not of the scene.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from basiss.evaluation import metrics
from basiss.evaluation.bands import Band, band_rows, row_bands
from basiss.evaluation.layers import Grid, ImageValid, PredictionRows, PredictionSource, TruthRows
from basiss.evaluation.metrics import Counts, RelaxedCounts
from basiss.progress import progress


@dataclass(frozen=True)
class ScoreOptions:
    """How one pair is scored (the settings of :func:`basiss.evaluation.evaluate`).

    Attributes:
        threshold: probability at or above which a pixel is road.
        relax_px: tolerance (pixels) of the relaxed scores; None skips them.
        buffer_meters: buffer each side of GeoJSON centerlines, in metres.
        align: resample predictions onto the truth grid when the grids differ.
        sweep_thresholds: the thresholds of the sweep (sorted, ``threshold`` included).
        band_rows: rows per band; None picks them from the width
            (:func:`basiss.evaluation.bands.band_rows`). The scores do not depend on it.
    """

    threshold: float = 0.5
    relax_px: int | None = None
    buffer_meters: float = 2.0
    align: bool = False
    sweep_thresholds: tuple[float, ...] = metrics.DEFAULT_THRESHOLDS
    band_rows: int | None = None


@dataclass(frozen=True)
class BandReading:
    """One band's slab read onto the scoring grid.

    Attributes:
        band: the rows (core and slab).
        prob: ``(slab rows, cols)`` float32 probability, or None for a mask prediction.
        pred: bool predicted road (at the threshold).
        truth: bool true road.
        valid: bool of the pixels that count, or None for all of them.
        pred_valid: bool of the pixels where the prediction has a value (before the
            imagery's nodata), or None for all of them.
    """

    band: Band
    prob: np.ndarray | None
    pred: np.ndarray
    truth: np.ndarray
    valid: np.ndarray | None
    pred_valid: np.ndarray | None


@dataclass
class PairRows:
    """A prediction and its truth open on one grid, read band by band.

    Attributes:
        source: the prediction raster itself (on its own grid).
        pred: the prediction on the scoring grid (``source``, or it aligned to the truth).
        truth: the truth on the scoring grid.
        image: the imagery's valid pixels, or None.
        grid: the scoring grid.
        threshold: probability at or above which a pixel is road.
    """

    source: PredictionSource
    pred: PredictionRows
    truth: TruthRows
    image: ImageValid | None
    grid: Grid
    threshold: float

    @property
    def aligned(self) -> bool:
        """Whether the prediction is resampled onto the truth grid."""
        return self.pred is not self.source

    def read(self, band: Band) -> BandReading:
        """Read the slab of ``band``: prediction, truth and the pixels that count."""
        data, pred_valid = self.pred.read_rows(band.slab)
        truth = self.truth.read_rows(band.slab)
        valid = pred_valid
        if self.image is not None:
            iv = self.image.read_rows(band.slab)
            valid = iv if valid is None else valid & iv
        if self.pred.is_prob:
            return BandReading(band, data, data >= self.threshold, truth, valid, pred_valid)
        return BandReading(band, None, data, truth, valid, pred_valid)


def _core(a: np.ndarray | None, core: slice) -> np.ndarray | None:
    return None if a is None else a[core]


@dataclass
class PixelTally:
    """Counts of one pair summed band by band.

    Attributes:
        relax_px: tolerance of the relaxed counts, None for none.
        thresholds: the thresholds of the sweep.
        counts: confusion counts over the valid pixels at the threshold.
        relaxed: relaxed counts (with ``relax_px``), else None.
        sweep: counts at each threshold (probabilities only), else None.
        pred_valid: pixels of the scoring grid where the prediction has a value.
    """

    relax_px: int | None
    thresholds: tuple[float, ...]
    counts: Counts = field(default_factory=Counts)
    relaxed: RelaxedCounts | None = None
    sweep: list[Counts] | None = None
    pred_valid: int = 0

    @property
    def valid_pixels(self) -> int:
        """The pixels that were counted."""
        c = self.counts
        return c.tp + c.fp + c.fn + c.tn

    def add(self, b: BandReading) -> None:
        """Add the counts of a band's core rows."""
        core = b.band.core
        pred, truth, valid = b.pred[core], b.truth[core], _core(b.valid, core)
        self.counts = self.counts + metrics.confusion(pred, truth, valid)
        pv = _core(b.pred_valid, core)
        self.pred_valid += pred.size if pv is None else int(np.count_nonzero(pv))
        if self.relax_px is not None:
            rc = metrics.relaxed_counts(b.pred, b.truth, self.relax_px, b.valid, core=core)
            self.relaxed = rc if self.relaxed is None else self.relaxed + rc
        if b.prob is not None:
            band = metrics.threshold_sweep(b.prob[core], truth, self.thresholds, valid)
            old = self.sweep
            self.sweep = band if old is None else [a + c for a, c in zip(old, band, strict=True)]


def plan_bands(grid: Grid, opts: ScoreOptions) -> list[Band]:
    """The bands of a pair: ``opts.band_rows`` (or rows from the width), halo ``relax_px``."""
    rows = opts.band_rows if opts.band_rows is not None else band_rows(grid.width)
    return row_bands(grid.height, rows, opts.relax_px or 0)


def tally_pair(
    pair: PairRows,
    opts: ScoreOptions,
    on_band: Callable[[BandReading], None] | None = None,
    desc: str = "bands",
) -> PixelTally:
    """Read ``pair`` band by band and sum its counts.

    Args:
        pair: the prediction and truth on one grid.
        opts: threshold, relaxed tolerance, sweep thresholds, band rows.
        on_band: also called with every band read (the figure's overview).
        desc: the progress bar's label.

    Returns:
        The summed :class:`PixelTally`; the relaxed counts and the sweep stay None
        when they do not apply.
    """
    tally = PixelTally(opts.relax_px, opts.sweep_thresholds)
    if opts.relax_px is not None:
        tally.relaxed = RelaxedCounts()
    for band in progress(plan_bands(pair.grid, opts), desc=desc, unit="band"):
        reading = pair.read(band)
        tally.add(reading)
        if on_band is not None:
            on_band(reading)
    return tally
