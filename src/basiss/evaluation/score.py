"""Evaluate road predictions against the truth: file matching, raster I/O, reports.

The metrics themselves are in :mod:`basiss.evaluation.metrics` (pure); this module does
the I/O around them: it pairs prediction and truth files by image id, reads
them onto one grid, counts, and writes a JSON report, a CSV beside it, and
optional figures.

Rules (stated once, here):

* **Image id.** A file's id is its name without extension(s), without a known
  suffix (``_prob``, ``_mask``, ``_pred``, ``_truth``, ``_gt``, ``_sat``,
  ``_label(s)``) and without a known prefix (``RGB-PanSharpen_``,
  ``MUL-PanSharpen_``, ``PAN-PanSharpen_``, ``PS-RGB_``, ``PS-MS_``, ``PAN_``,
  ``MUL_``, ``RGB_``, ``spacenetroads_``, ``satImage_``, ``satimage_``). So
  ``RGB-PanSharpen_AOI_2_Vegas_img123_prob.tif``,
  ``spacenetroads_AOI_2_Vegas_img123.geojson`` and
  ``AOI_2_Vegas_img123_mask.tif`` all have id ``AOI_2_Vegas_img123``. Files
  with equal ids pair up; files still unpaired then pair on their trailing
  ``img<digits>`` token when it is unique on both sides. A single prediction
  file and a single truth file always pair, whatever their names.
* **Several candidates for one id.** A prediction folder from ``basiss
  predict`` holds ``<stem>_prob.tif`` and ``<stem>_mask.tif``: the probability
  wins (it allows the threshold sweep); a truth raster wins over a GeoJSON.
* **Prediction values** (band 1): a name ending in ``_mask`` or an integer
  raster whose maximum is <= 1 is a 0/1 mask (road = non-zero); otherwise
  uint8 is a probability scaled 0..255 (``p = v / 255``) and float is a
  probability in 0..1. A pixel is road when ``p >= threshold``.
* **Truth values** (band 1): road = non-zero when the maximum is <= 1 (0/1
  masks); road = value > 127 otherwise (0/255 PNG masks, anti-aliased grey).
  A GeoJSON of centerlines is buffered by ``buffer_meters`` and rasterized on
  the prediction's grid (:func:`basiss.labels.centerlines.road_mask_on_grid`).
* **Valid pixels.** Pixels are left out of every count where the prediction
  raster's own mask band says nodata (GDAL's internal mask, as ``basiss
  predict`` writes it), where the prediction equals its raster's nodata value
  (when set and not 0, since 0 means "no road"; NaN for float rasters),
  where the ``image`` is 0 in every band (the SpaceNet outside-the-scene
  convention), and, with ``align``, outside the
  prediction's footprint. Truth nodata is not used.
* **Grids.** Sizes must be equal; CRS and transform must be equal too when
  both rasters are georeferenced (a PNG truth has no georeference and is
  matched by size only). Otherwise it is an error, unless ``align`` resamples
  the prediction onto the truth grid (nearest for masks, bilinear for
  probabilities).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.warp
from rasterio.enums import MaskFlags, Resampling

from basiss.errors import BasissError, file_error
from basiss.evaluation import metrics
from basiss.evaluation.metrics import Counts, RelaxedCounts
from basiss.io.bands import default_bands
from basiss.io.raster import (
    RASTER_SUFFIXES,
    PathLike,
    atomic_output,
    dataset_nodata,
    open_raster,
)
from basiss.progress import progress

VECTOR_EXTS = (".geojson", ".json")
ID_SUFFIXES = ("_prob", "_mask", "_pred", "_truth", "_gt", "_sat", "_labels", "_label")
ID_PREFIXES = (
    "RGB-PanSharpen_",
    "MUL-PanSharpen_",
    "PAN-PanSharpen_",
    "PS-RGB_",
    "PS-MS_",
    "PAN_",
    "MUL_",
    "RGB_",
    "spacenetroads_",
    "satImage_",
    "satimage_",
)
_IMG_TOKEN = re.compile(r"img\d+")

#: Largest side (pixels) of a figure panel; bigger scenes are max-pooled down.
PLOT_MAX_SIDE = 2000


# ---------------------------------------------------------------- file matching


def image_id(path: PathLike) -> str:
    """The image id of a file name (see the module docstring for the rule).

    >>> image_id("RGB-PanSharpen_AOI_2_Vegas_img123_prob.tif")
    'AOI_2_Vegas_img123'
    >>> image_id("spacenetroads_AOI_2_Vegas_img123.geojson")
    'AOI_2_Vegas_img123'
    """
    name = Path(path).name
    lower = name.lower()
    for ext in RASTER_SUFFIXES + VECTOR_EXTS:
        if lower.endswith(ext):
            name = name[: -len(ext)]
            break
    changed = True
    while changed:
        changed = False
        for suf in ID_SUFFIXES:
            if name.endswith(suf) and len(name) > len(suf):
                name, changed = name[: -len(suf)], True
        for pre in ID_PREFIXES:
            if name.startswith(pre) and len(name) > len(pre):
                name, changed = name[len(pre) :], True
    return name


def _img_token(ident: str) -> str | None:
    found = _IMG_TOKEN.findall(ident)
    return found[-1] if found else None


def _is_vector(path: Path) -> bool:
    return path.name.lower().endswith(VECTOR_EXTS)


def _list_files(path: Path, exts: tuple[str, ...], what: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise file_error(path, "no such file or folder")
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(exts)
    )
    if not files:
        raise file_error(path, f"no {what} files ({', '.join(exts)}) in this folder")
    return files


def _pick(ident: str, cands: list[Path], rank: Any, what: str) -> Path:
    """One file per id: the best ``rank`` wins; a tie is an error."""
    if len(cands) == 1:
        return cands[0]
    ranked = sorted(cands, key=rank)
    if rank(ranked[0]) == rank(ranked[1]):
        names = ", ".join(p.name for p in cands)
        raise file_error(ranked[0].parent, f"several {what} files for image id {ident}: {names}")
    return ranked[0]


def _pred_rank(p: Path) -> int:
    stem = p.name.rsplit(".", 1)[0]
    return 0 if stem.endswith("_prob") else 2 if stem.endswith("_mask") else 1


def _truth_rank(p: Path) -> int:
    return 1 if _is_vector(p) else 0


def _by_id(files: list[Path], rank: Any, what: str) -> dict[str, Path]:
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(image_id(f), []).append(f)
    return {k: _pick(k, v, rank, what) for k, v in groups.items()}


@dataclass(frozen=True)
class Match:
    """A prediction file matched to its truth file by their shared image id."""

    ident: str
    pred: Path
    truth: Path


def match_files(pred: PathLike, truth: PathLike) -> tuple[list[Match], list[Path], list[Path]]:
    """Match prediction and truth files (or folders) by image id.

    Returns:
        ``(pairs, unmatched_predictions, unmatched_truths)``, pairs sorted by id.

    Raises:
        BasissError: when a path is missing, a folder holds no usable file, or
            no pair matches at all (the message lists the unmatched files).
    """
    pred_p, truth_p = Path(pred), Path(truth)
    preds = _list_files(pred_p, RASTER_SUFFIXES, "prediction raster")
    truths = _list_files(truth_p, RASTER_SUFFIXES + VECTOR_EXTS, "truth")
    if pred_p.is_file() and truth_p.is_file():
        return [Match(image_id(pred_p), pred_p, truth_p)], [], []
    pmap = _by_id(preds, _pred_rank, "prediction")
    tmap = _by_id(truths, _truth_rank, "truth")
    pairs = [Match(k, pmap[k], tmap[k]) for k in sorted(pmap.keys() & tmap.keys())]
    rest_p = {k: v for k, v in pmap.items() if k not in tmap}
    rest_t = {k: v for k, v in tmap.items() if k not in pmap}
    # second chance: a unique trailing img<digits> token on both sides
    tok_p: dict[str, list[str]] = {}
    tok_t: dict[str, list[str]] = {}
    for k in rest_p:
        if (tok := _img_token(k)) is not None:
            tok_p.setdefault(tok, []).append(k)
    for k in rest_t:
        if (tok := _img_token(k)) is not None:
            tok_t.setdefault(tok, []).append(k)
    for tok in sorted(tok_p.keys() & tok_t.keys()):
        if len(tok_p[tok]) == 1 and len(tok_t[tok]) == 1:
            kp, kt = tok_p[tok][0], tok_t[tok][0]
            pairs.append(Match(kp, rest_p.pop(kp), rest_t.pop(kt)))
    pairs.sort(key=lambda p: p.ident)
    unmatched_p, unmatched_t = sorted(rest_p.values()), sorted(rest_t.values())
    if not pairs:
        raise BasissError(
            f"no prediction matches a truth by image id: predictions {_names(unmatched_p)}; "
            f"truths {_names(unmatched_t)}"
        )
    return pairs, unmatched_p, unmatched_t


def _names(paths: Sequence[Path], limit: int = 5) -> str:
    shown = [f"{p.name} (id {image_id(p)})" for p in paths[:limit]]
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(shown) + more if shown else "none"


def _match_image(image: PathLike | None, pairs: list[Match]) -> dict[str, Path]:
    """Imagery for figures and the nodata mask, by image id (a single file fits a single pair)."""
    if image is None:
        return {}
    ip = Path(image)
    if ip.is_file() and len(pairs) == 1:
        return {pairs[0].ident: ip}
    files = _list_files(ip, RASTER_SUFFIXES, "image")
    out: dict[str, Path] = {}
    by_id = {image_id(f): f for f in files}
    by_tok = {}
    for k, f in by_id.items():
        tok = _img_token(k)
        if tok is not None:
            by_tok.setdefault(tok, []).append(f)
    for pair in pairs:
        if pair.ident in by_id:
            out[pair.ident] = by_id[pair.ident]
        elif (tok := _img_token(pair.ident)) is not None and len(by_tok.get(tok, [])) == 1:
            out[pair.ident] = by_tok[tok][0]
    return out


# ---------------------------------------------------------------- reading


@dataclass
class Layer:
    """One band on a grid: a probability (float32 0..1) or a mask (bool), plus valid pixels."""

    path: Path
    data: np.ndarray
    is_prob: bool
    valid: np.ndarray | None
    crs: Any
    transform: Any
    width: int
    height: int

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None


def _stem(path: Path) -> str:
    return path.name.rsplit(".", 1)[0]


def read_prediction(path: PathLike) -> Layer:
    """Read band 1 of a prediction raster as a probability or a mask (rules in the module doc)."""
    p = Path(path)
    with open_raster(p) as ds:
        arr = ds.read(1)
        nodata = ds.nodata
        grid = (ds.crs, ds.transform, ds.width, ds.height)
        flags = ds.mask_flag_enums[0]
        # a mask band of its own (as `basiss predict` writes), not one derived from nodata
        own_mask = MaskFlags.per_dataset in flags and MaskFlags.nodata not in flags
        valid: np.ndarray | None = ds.read_masks(1) != 0 if own_mask else None
    if valid is not None and valid.all():
        valid = None
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if nodata is not None and not math.isnan(nodata) and nodata != 0:
            bad |= arr == nodata
        if bad.any():
            valid = ~bad if valid is None else valid & ~bad
            arr = np.where(bad, 0, arr)
    elif nodata is not None and not math.isnan(nodata) and nodata != 0:
        bad = arr == nodata
        if bad.any():
            valid = ~bad if valid is None else valid & ~bad
            arr = np.where(bad, 0, arr)
    stem = _stem(p)
    vmax = float(arr.max()) if arr.size else 0.0
    if stem.endswith("_mask") or (
        not stem.endswith("_prob") and not np.issubdtype(arr.dtype, np.floating) and vmax <= 1
    ):
        data, is_prob = arr != 0, False
    elif np.issubdtype(arr.dtype, np.floating):
        if vmax > 1.0 + 1e-6 or float(arr.min()) < -1e-6:
            raise file_error(p, f"float prediction outside 0..1 (min {arr.min()}, max {vmax})")
        data, is_prob = np.clip(arr, 0.0, 1.0).astype(np.float32), True
    elif arr.dtype == np.uint8:
        data, is_prob = arr.astype(np.float32) / np.float32(255.0), True
    else:
        raise file_error(
            p,
            f"{arr.dtype} prediction with values above 1: expected a 0/1 mask, "
            "a uint8 0..255 or a float 0..1 probability",
        )
    return Layer(p, data, is_prob, valid, *grid)


def read_truth_raster(path: PathLike) -> Layer:
    """Read band 1 of a truth mask: road = non-zero for 0/1 masks, > 127 otherwise."""
    p = Path(path)
    with open_raster(p) as ds:
        arr = ds.read(1)
        grid = (ds.crs, ds.transform, ds.width, ds.height)
    vmax = float(np.nanmax(arr)) if arr.size else 0.0
    road = (arr != 0) if vmax <= 1 else (arr > 127)
    return Layer(p, road, False, None, *grid)


def rasterize_truth(path: Path, grid: Layer, buffer_meters: float) -> Layer:
    """Buffer and rasterize GeoJSON centerlines on ``grid`` with the ``masks`` rules."""
    if not grid.georeferenced:
        raise file_error(grid.path, f"has no CRS; cannot place the GeoJSON truth {path.name}")
    try:
        from basiss.labels import centerlines as labels
    except ImportError as exc:  # pragma: no cover - during development only
        raise file_error(path, f"GeoJSON truth needs basiss.labels.centerlines ({exc})") from None
    mask = labels.road_mask_on_grid(
        path,
        grid.crs,
        grid.transform,
        grid.width,
        grid.height,
        buffer_meters=buffer_meters,
        image_name=grid.path.name,
    )
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[0]
    return Layer(path, mask != 0, False, None, grid.crs, grid.transform, grid.width, grid.height)


def _same_transform(a: Any, b: Any) -> bool:
    """Equal up to 1% of a pixel in origin and 1e-6 relative in pixel size."""
    if a is None or b is None:
        return a is b
    px = max(abs(a.a), abs(a.e), 1e-300)
    origin = abs(a.c - b.c) <= 0.01 * px and abs(a.f - b.f) <= 0.01 * px
    scale = all(
        abs(x - y) <= 1e-6 * px for x, y in ((a.a, b.a), (a.b, b.b), (a.d, b.d), (a.e, b.e))
    )
    return origin and scale


def grid_mismatch(pred: Layer, truth: Layer) -> str | None:
    """What differs between the two grids (size, CRS, transform), or None."""
    if (pred.width, pred.height) != (truth.width, truth.height):
        return f"size {pred.width}x{pred.height} vs {truth.width}x{truth.height}"
    if pred.georeferenced and truth.georeferenced:
        if pred.crs != truth.crs:
            return f"CRS {pred.crs.to_string()} vs {truth.crs.to_string()}"
        if not _same_transform(pred.transform, truth.transform):
            return "transform (origin or pixel size) differs"
    return None


def align_to(pred: Layer, truth: Layer) -> Layer:
    """Resample ``pred`` onto the truth grid: nearest for masks, bilinear for probabilities.

    Pixels of the truth grid outside the prediction (or on its nodata) become invalid.
    """
    if not (pred.georeferenced and truth.georeferenced):
        missing = pred.path if not pred.georeferenced else truth.path
        raise file_error(missing, "has no georeference; --align needs both grids georeferenced")
    src = pred.data.astype(np.float32)
    if pred.valid is not None:
        src = np.where(pred.valid, src, np.float32(np.nan))
    dst = np.full((truth.height, truth.width), np.nan, dtype=np.float32)
    rasterio.warp.reproject(
        source=src,
        destination=dst,
        src_transform=pred.transform,
        src_crs=pred.crs,
        src_nodata=np.nan,
        dst_transform=truth.transform,
        dst_crs=truth.crs,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear if pred.is_prob else Resampling.nearest,
    )
    valid = np.isfinite(dst)
    data = np.where(valid, dst, 0.0).astype(np.float32)
    out = data if pred.is_prob else data >= 0.5
    return Layer(
        pred.path,
        out,
        pred.is_prob,
        valid,
        truth.crs,
        truth.transform,
        truth.width,
        truth.height,
    )


def image_valid(path: Path, height: int, width: int) -> np.ndarray:
    """True where the image is non-zero in some band (0 everywhere = outside the scene)."""
    with open_raster(path) as ds:
        if (ds.width, ds.height) != (width, height):
            raise file_error(
                path, f"image size {ds.width}x{ds.height} differs from the grid {width}x{height}"
            )
        nodata = dataset_nodata(ds)
        valid = np.zeros((height, width), dtype=bool)
        for b in default_bands(ds):
            valid |= ds.read(b) != nodata
    return valid


def image_overview(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The image read decimated to ``shape`` (rows, cols), channels-first, for figures."""
    with open_raster(path) as ds:
        bands = default_bands(ds)[:3]
        return ds.read(bands, out_shape=(len(bands), *shape), resampling=Resampling.average)


# ---------------------------------------------------------------- evaluation


def _sum_counts(items: Sequence[Counts]) -> Counts:
    total = Counts()
    for c in items:
        total = total + c
    return total


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
) -> dict[str, Any]:
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
        The report: ``micro`` and ``macro`` scores, ``images`` (one entry
        each), ``best_threshold`` (None without probability predictions),
        ``relaxed`` (with ``relax_px``), ``unmatched`` and the settings.
    """
    if not 0.0 <= threshold <= 1.0:
        raise BasissError(f"threshold must be in [0, 1], got {threshold}")
    if relax_px is not None and relax_px < 0:
        raise BasissError(f"relax_px must be >= 0, got {relax_px}")
    pairs, unmatched_p, unmatched_t = match_files(pred, truth)
    images = _match_image(image, pairs)
    sweep_th = sorted(set(thresholds) | {threshold})
    entries: list[dict[str, Any]] = []
    counts: list[Counts] = []
    relaxed: list[RelaxedCounts] = []
    sweep_total: list[Counts] | None = None
    for pair in progress(pairs, desc="evaluate", unit="image"):
        p_layer = read_prediction(pair.pred)
        if _is_vector(pair.truth):
            t_layer = rasterize_truth(pair.truth, p_layer, buffer_meters)
        else:
            t_layer = read_truth_raster(pair.truth)
            problem = grid_mismatch(p_layer, t_layer)
            if problem is not None:
                if not align:
                    raise file_error(
                        pair.pred,
                        f"grid differs from truth {pair.truth} ({problem}); "
                        "use --align to resample the prediction onto the truth grid",
                    )
                p_layer = align_to(p_layer, t_layer)
        valid = p_layer.valid
        img = images.get(pair.ident)
        if img is not None:
            iv = image_valid(img, t_layer.height, t_layer.width)
            valid = iv if valid is None else valid & iv
        truth_mask = t_layer.data
        pred_mask = p_layer.data >= threshold if p_layer.is_prob else p_layer.data
        c = metrics.confusion(pred_mask, truth_mask, valid)
        counts.append(c)
        entry: dict[str, Any] = {
            "id": pair.ident,
            "pred": str(pair.pred),
            "truth": str(pair.truth),
            **metrics.scores(c),
            "valid_pixels": c.tp + c.fp + c.fn + c.tn,
        }
        if relax_px is not None:
            rc = metrics.relaxed_counts(pred_mask, truth_mask, relax_px, valid)
            relaxed.append(rc)
            entry.update(relaxed_precision=rc.precision, relaxed_recall=rc.recall, relaxed_f1=rc.f1)
        if p_layer.is_prob:
            sweep = metrics.threshold_sweep(p_layer.data, truth_mask, sweep_th, valid)
            t_best, c_best = metrics.best_threshold(sweep, sweep_th)
            entry.update(best_threshold=t_best, best_f1=c_best.f1)
            sweep_total = (
                sweep
                if sweep_total is None
                else [a + b for a, b in zip(sweep_total, sweep, strict=True)]
            )
        entries.append(entry)
        if plots_dir is not None:
            _plot_one(pair, p_layer, pred_mask, truth_mask, valid, img, c, Path(plots_dir))
    report = _report(
        entries, counts, relaxed, sweep_total, sweep_th, threshold, relax_px, buffer_meters
    )
    report["unmatched"] = {
        "pred": [str(p) for p in unmatched_p],
        "truth": [str(p) for p in unmatched_t],
    }
    if out_json is not None:
        write_report(report, out_json)
    return report


def _report(
    entries: list[dict[str, Any]],
    counts: list[Counts],
    relaxed: list[RelaxedCounts],
    sweep_total: list[Counts] | None,
    sweep_th: list[float],
    threshold: float,
    relax_px: int | None,
    buffer_meters: float,
) -> dict[str, Any]:
    micro = metrics.scores(_sum_counts(counts))
    macro = {
        k: float(np.mean([e[k] for e in entries])) for k in ("precision", "recall", "f1", "iou")
    }
    report: dict[str, Any] = {
        "threshold": threshold,
        "buffer_meters": buffer_meters,
        "n_images": len(entries),
        "micro": micro,
        "macro": macro,
        "best_threshold": None,
    }
    if sweep_total is not None:
        t_best, c_best = metrics.best_threshold(sweep_total, sweep_th)
        report["best_threshold"] = {
            "threshold": t_best,
            **metrics.scores(c_best),
            "n_images": sum(1 for e in entries if "best_threshold" in e),
        }
    if relax_px is not None:
        total = RelaxedCounts()
        for rc in relaxed:
            total = total + rc
        report["relaxed"] = {
            "relax_px": relax_px,
            "precision": total.precision,
            "recall": total.recall,
            "f1": total.f1,
        }
    report["images"] = entries
    return report


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


def write_report(report: dict[str, Any], out_json: PathLike) -> tuple[Path, Path]:
    """Write the JSON report and the per-image CSV beside it (same stem), atomically."""
    jpath = Path(out_json)
    cpath = jpath.with_suffix(".csv")
    if cpath == jpath:
        cpath = jpath.with_name(jpath.name + ".csv")
    with atomic_output(jpath) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_output(cpath) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for e in report["images"]:
            writer.writerow({k: e.get(k, "") for k in CSV_COLUMNS})
    return jpath, cpath


def format_table(report: dict[str, Any]) -> str:
    """The report as a fixed-width text table (one row per image, then micro and macro)."""
    rows = [(e["id"], e) for e in report["images"]]
    width = max([len("micro (all px)"), *(len(r[0]) for r in rows)])
    head = f"{'image':<{width}} {'tp':>10} {'fp':>10} {'fn':>10} " + " ".join(
        f"{h:>6}" for h in ("prec", "recall", "f1", "iou")
    )
    lines = [head, "-" * len(head)]

    def fmt(name: str, s: dict[str, Any], counts: bool = True) -> str:
        c = (
            f"{s['tp']:>10} {s['fp']:>10} {s['fn']:>10}"
            if counts
            else f"{'':>10} {'':>10} {'':>10}"
        )
        return (
            f"{name:<{width}} {c} {s['precision']:>6.3f} {s['recall']:>6.3f} "
            f"{s['f1']:>6.3f} {s['iou']:>6.3f}"
        )

    lines += [fmt(name, e) for name, e in rows]
    lines.append("-" * len(head))
    lines.append(fmt("micro (all px)", report["micro"]))
    lines.append(fmt("macro (mean)", report["macro"], counts=False))
    lines.append(f"threshold {report['threshold']:g}")
    best = report.get("best_threshold")
    if best:
        lines.append(
            f"best threshold {best['threshold']:g}: f1 {best['f1']:.3f} "
            f"(precision {best['precision']:.3f}, recall {best['recall']:.3f}, "
            f"{best['n_images']} image(s) with probabilities)"
        )
    rel = report.get("relaxed")
    if rel:
        lines.append(
            f"relaxed ({rel['relax_px']} px): precision {rel['precision']:.3f}, "
            f"recall {rel['recall']:.3f}, f1 {rel['f1']:.3f}"
        )
    return "\n".join(lines)


def _plot_one(
    pair: Match,
    pred: Layer,
    pred_mask: np.ndarray,
    truth_mask: np.ndarray,
    valid: np.ndarray | None,
    image: Path | None,
    c: Counts,
    plots_dir: Path,
) -> Path:
    from basiss.viz import plots

    factor = plots.overview_factor(truth_mask.shape, PLOT_MAX_SIDE)
    shape = plots.pooled_shape(truth_mask.shape, factor)
    rgb = image_overview(image, shape) if image is not None else None
    title = f"{pair.ident}: F1 {c.f1:.3f}  IoU {c.iou:.3f}  P {c.precision:.3f}  R {c.recall:.3f}"
    return plots.evaluation_figure(
        plots_dir / f"{pair.ident}_eval.png",
        truth_mask,
        pred_mask,
        prob=pred.data if pred.is_prob else None,
        valid=valid,
        image=rgb,
        title=title,
        max_side=PLOT_MAX_SIDE,
    )
