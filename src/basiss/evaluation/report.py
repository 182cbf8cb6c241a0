"""The typed evaluation report: per-image results, aggregates, JSON, CSV and a text table.

:func:`basiss.evaluation.evaluate` returns an :class:`EvaluationReport`. Its attributes
are the numbers (``report.micro.f1``, ``report.macro.f1``, ``report.relaxed.f1``,
``report.best_threshold.threshold``, ``report.images[0].counts.tp``,
``report.unmatched.pred``); :meth:`EvaluationReport.to_json` gives the JSON document
written to disk, with keys

``threshold, buffer_meters, n_images, micro{precision, recall, f1, iou, tp, fp, fn},
macro{precision, recall, f1, iou}, best_threshold{threshold, ..., n_images} | null,
relaxed{relax_px, precision, recall, f1}`` (with ``relax_px``) ``, images[...],
skipped[{id, pred, truth, status, reason}], unmatched{pred, truth},
refused[{path, reason}]``.

An image without a single valid pixel is *skipped*: listed with the reason, left out of
``n_images``, micro, macro, the sweep and the relaxed scores (it would otherwise score a
perfect 1.0 on nothing).

Micro scores come from the confusion counts summed over images (every pixel weighs the
same); macro scores are the mean of the per-image scores.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from basiss.evaluation import metrics
from basiss.evaluation.matching import Refusal
from basiss.evaluation.metrics import Counts, RelaxedCounts
from basiss.io.raster import PathLike, atomic_outputs


class ImageStatus(StrEnum):
    """Whether an image entered the scores."""

    #: Scored: it has valid pixels.
    SCORED = "scored"
    #: Left out of every score and average: not one pixel counts (all-nodata prediction,
    #: no overlap with ``align``, imagery 0 everywhere).
    NO_VALID_PIXELS = "no_valid_pixels"


@dataclass(frozen=True)
class ImageResult:
    """The scores of one prediction against its truth.

    Attributes:
        ident: the image id both files share.
        pred, truth: the two files.
        counts: confusion counts over the valid pixels, at the report's threshold.
        relaxed: relaxed counts (with ``relax_px``), else None.
        sweep: counts at each threshold of the report's sweep (probabilities only), else None.
        best_threshold: the threshold of the highest F1 in ``sweep``, else None.
        best_f1: that F1, else None.
        status: whether the image was scored.
        reason: why it was not (empty when scored).
    """

    ident: str
    pred: Path
    truth: Path
    counts: Counts
    relaxed: RelaxedCounts | None = None
    sweep: tuple[Counts, ...] | None = None
    best_threshold: float | None = None
    best_f1: float | None = None
    status: ImageStatus = ImageStatus.SCORED
    reason: str = ""

    @classmethod
    def not_scored(cls, ident: str, pred: Path, truth: Path, reason: str) -> ImageResult:
        """An image without a valid pixel: no counts, left out of the scores."""
        return cls(ident, pred, truth, Counts(), status=ImageStatus.NO_VALID_PIXELS, reason=reason)

    @property
    def valid_pixels(self) -> int:
        """The pixels that were counted."""
        c = self.counts
        return c.tp + c.fp + c.fn + c.tn

    def to_json(self) -> dict[str, Any]:
        """The image's entry of the JSON report (also a CSV row); id, files, status and
        reason for an image that was not scored."""
        if self.status is not ImageStatus.SCORED:
            return {
                "id": self.ident,
                "pred": str(self.pred),
                "truth": str(self.truth),
                "status": self.status.value,
                "reason": self.reason,
            }
        entry: dict[str, Any] = {
            "id": self.ident,
            "pred": str(self.pred),
            "truth": str(self.truth),
            **metrics.scores(self.counts),
            "valid_pixels": self.valid_pixels,
        }
        if self.relaxed is not None:
            rc = self.relaxed
            entry.update(relaxed_precision=rc.precision, relaxed_recall=rc.recall, relaxed_f1=rc.f1)
        if self.best_threshold is not None:
            entry.update(best_threshold=self.best_threshold, best_f1=self.best_f1)
        return entry


@dataclass(frozen=True)
class MacroScores:
    """Per-image scores averaged over images (each image weighs the same)."""

    precision: float
    recall: float
    f1: float
    iou: float

    def to_json(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "iou": self.iou}


@dataclass(frozen=True)
class BestThreshold:
    """The threshold of the highest micro F1 over the images with probabilities.

    Attributes:
        threshold: the threshold.
        counts: the summed counts at that threshold (``counts.f1`` is the F1).
        n_images: how many images had probabilities (only those enter the sweep).
    """

    threshold: float
    counts: Counts
    n_images: int

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            **metrics.scores(self.counts),
            "n_images": self.n_images,
        }


@dataclass(frozen=True)
class Unmatched:
    """Files left without a partner: ``pred`` without a truth, ``truth`` without a prediction."""

    pred: tuple[Path, ...] = ()
    truth: tuple[Path, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        return {"pred": [str(p) for p in self.pred], "truth": [str(p) for p in self.truth]}


def _sum(items: Sequence[Any], zero: Any) -> Any:
    total = zero
    for item in items:
        total = total + item
    return total


@dataclass(frozen=True)
class EvaluationReport:
    """Everything :func:`basiss.evaluation.evaluate` found, with the settings it used.

    Attributes:
        threshold: probability at or above which a pixel is road.
        buffer_meters: buffer each side of GeoJSON centerlines.
        relax_px: tolerance of the relaxed scores in pixels, None when not computed.
        sweep_thresholds: the thresholds of the sweep (sorted; include ``threshold``).
        images: one result per matched pair, sorted by id (scored or not: see ``status``).
        unmatched: files without a partner.
        refused: truth-folder files that do not look like a mask.
    """

    threshold: float
    buffer_meters: float
    relax_px: int | None
    sweep_thresholds: tuple[float, ...]
    images: list[ImageResult]
    unmatched: Unmatched = field(default_factory=Unmatched)
    refused: tuple[Refusal, ...] = ()

    @property
    def scored(self) -> list[ImageResult]:
        """The images that enter the scores."""
        return [r for r in self.images if r.status is ImageStatus.SCORED]

    @property
    def skipped(self) -> list[ImageResult]:
        """The images left out of the scores (``status`` and ``reason`` say why)."""
        return [r for r in self.images if r.status is not ImageStatus.SCORED]

    @property
    def micro(self) -> Counts:
        """Counts summed over the scored images (``.f1``, ``.precision``... of all pixels)."""
        return _sum([r.counts for r in self.scored], Counts())

    @property
    def macro(self) -> MacroScores:
        """The mean of the per-image scores."""
        scored = self.scored

        def mean(name: str) -> float:
            return float(np.mean([getattr(r.counts, name) for r in scored]))

        return MacroScores(mean("precision"), mean("recall"), mean("f1"), mean("iou"))

    @property
    def relaxed(self) -> RelaxedCounts | None:
        """Relaxed counts summed over images (``.f1``...), None without ``relax_px``."""
        if self.relax_px is None:
            return None
        return _sum([r.relaxed for r in self.scored if r.relaxed is not None], RelaxedCounts())

    @property
    def best_threshold(self) -> BestThreshold | None:
        """The best threshold of the summed sweep; None when no image had probabilities."""
        sweeps = [r.sweep for r in self.scored if r.sweep is not None]
        if not sweeps:
            return None
        total = list(sweeps[0])
        for sweep in sweeps[1:]:
            total = [a + b for a, b in zip(total, sweep, strict=True)]
        t_best, c_best = metrics.best_threshold(total, self.sweep_thresholds)
        return BestThreshold(t_best, c_best, len(sweeps))

    def to_json(self) -> dict[str, Any]:
        """The JSON document of the report (see the module docstring for its keys)."""
        best = self.best_threshold
        doc: dict[str, Any] = {
            "threshold": self.threshold,
            "buffer_meters": self.buffer_meters,
            "n_images": len(self.scored),
            "micro": metrics.scores(self.micro),
            "macro": self.macro.to_json(),
            "best_threshold": best.to_json() if best is not None else None,
        }
        relaxed = self.relaxed
        if relaxed is not None:
            doc["relaxed"] = {
                "relax_px": self.relax_px,
                "precision": relaxed.precision,
                "recall": relaxed.recall,
                "f1": relaxed.f1,
            }
        doc["images"] = [r.to_json() for r in self.scored]
        doc["skipped"] = [r.to_json() for r in self.skipped]
        doc["unmatched"] = self.unmatched.to_json()
        doc["refused"] = [r.to_json() for r in self.refused]
        return doc


#: Columns of the per-image CSV (empty where a value does not apply).
CSV_COLUMNS = (
    "id",
    "pred",
    "truth",
    "tp",
    "fp",
    "fn",
    "valid_pixels",
    "precision",
    "recall",
    "f1",
    "iou",
    "relaxed_precision",
    "relaxed_recall",
    "relaxed_f1",
    "best_threshold",
    "best_f1",
)


def csv_path(out_json: PathLike) -> Path:
    """The CSV beside a JSON report: same stem, ``.csv``."""
    jpath = Path(out_json)
    cpath = jpath.with_suffix(".csv")
    return cpath if cpath != jpath else jpath.with_name(jpath.name + ".csv")


def write_report(report: EvaluationReport, out_json: PathLike) -> tuple[Path, Path]:
    """Write the JSON report and the per-image CSV beside it, atomically (both or neither).

    Returns:
        ``(json_path, csv_path)``.
    """
    jpath, cpath = Path(out_json), csv_path(out_json)
    doc = report.to_json()
    with atomic_outputs(jpath, cpath) as (jtmp, ctmp):
        jtmp.write_text(json.dumps(doc, indent=2) + "\n")
        with open(ctmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for e in doc["images"]:
                writer.writerow({k: e.get(k, "") for k in CSV_COLUMNS})
    return jpath, cpath


def _table_row(name: str, width: int, s: Counts | MacroScores) -> str:
    if isinstance(s, Counts):
        c = f"{s.tp:>10} {s.fp:>10} {s.fn:>10}"
    else:
        c = f"{'':>10} {'':>10} {'':>10}"
    return f"{name:<{width}} {c} {s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f} {s.iou:>6.3f}"


def format_table(report: EvaluationReport) -> str:
    """The report as a fixed-width text table (one row per image, then micro and macro)."""
    scored = report.scored
    width = max([len("micro (all px)"), *(len(r.ident) for r in scored)])
    head = f"{'image':<{width}} {'tp':>10} {'fp':>10} {'fn':>10} " + " ".join(
        f"{h:>6}" for h in ("prec", "recall", "f1", "iou")
    )
    lines = [head, "-" * len(head)]
    lines += [_table_row(r.ident, width, r.counts) for r in scored]
    lines.append("-" * len(head))
    lines.append(_table_row("micro (all px)", width, report.micro))
    lines.append(_table_row("macro (mean)", width, report.macro))
    lines.append(f"threshold {report.threshold:g}")
    best = report.best_threshold
    if best is not None:
        lines.append(
            f"best threshold {best.threshold:g}: f1 {best.counts.f1:.3f} "
            f"(precision {best.counts.precision:.3f}, recall {best.counts.recall:.3f}, "
            f"{best.n_images} image(s) with probabilities)"
        )
    rel = report.relaxed
    if rel is not None:
        lines.append(
            f"relaxed ({report.relax_px} px): precision {rel.precision:.3f}, "
            f"recall {rel.recall:.3f}, f1 {rel.f1:.3f}"
        )
    lines += [f"skipped {r.ident}: {r.reason}" for r in report.skipped]
    return "\n".join(lines)
