"""Training data from a SpaceNet-layout AOI folder: 8-bit images, road masks, file list.

Input (SpaceNet 3 layout)::

    AOI_2_Vegas_Train/
      RGB-PanSharpen/RGB-PanSharpen_AOI_2_Vegas_img1.tif      (3 bands, uint16)
      MUL-PanSharpen/MUL-PanSharpen_AOI_2_Vegas_img1.tif      (8 bands, uint16)
      geojson/spacenetroads/spacenetroads_AOI_2_Vegas_img1.geojson

Output, in the same folder (like the seed)::

      RGB-PanSharpen_8bit/   (or MUL-PanSharpen_8bit/ for 8 bands; the 8-bit RGB
                              rendering of every image always lands in RGB-PanSharpen_8bit/)
      masks_2m/<name>.tif    (uint8 0/1 on the image grid; the folder names the buffer)
      masks_2m_plots/<name>.png  (with make_plots: centerlines, RGB, mask, overlay)

plus the seed's file-list CSV (the figure is drawn by :mod:`basiss.viz.masks`). Images
are processed in parallel processes (:mod:`basiss.parallel` picks how they start); outputs
that exist are kept unless ``overwrite``; a failing image is reported in one line and the
others go on. Label warnings (see :mod:`basiss.labels.centerlines`) and failures are
collected into :class:`MasksReport`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import geopandas as gpd
import numpy as np

from basiss.errors import BasissError, file_error
from basiss.io.cog import Layer
from basiss.io.filelist import Pair, read_file_list, write_file_list
from basiss.io.raster import (
    GEOTIFF_SUFFIXES,
    PathLike,
    image_valid_area,
    open_raster,
    write_8bit,
    write_geotiff,
)
from basiss.labels import centerlines as lab
from basiss.parallel import pool_context
from basiss.progress import progress

#: Source image folder per band count, as SpaceNet 3 ships them.
BAND_FOLDERS = {3: "RGB-PanSharpen", 8: "MUL-PanSharpen"}
#: The folder of the 8-bit RGB renderings (``im_vis_file``), for both band counts.
VIS_FOLDER = "RGB-PanSharpen_8bit"
#: Where the road labels may be, first match wins (SpaceNet 3, then SpaceNet 5 naming).
LABEL_FOLDERS = ("geojson/spacenetroads", "geojson_roads")
#: Red, green, blue of a WorldView-3 MUL image (1-based: coastal, blue, green,
#: yellow, red, red edge, NIR1, NIR2), used when no RGB-PanSharpen image exists.
RGB_OF_MUL = (5, 3, 2)

Messages = list[str]


@dataclass(frozen=True)
class MaskSettings:
    """How masks and 8-bit images are made (shared by every image of a run)."""

    buffer_meters: float = 2.0
    width_from_lanes: bool = False
    meters_per_lane: float = lab.METERS_PER_LANE
    default_lanes: int = lab.DEFAULT_LANES
    lower: float = 2.0
    upper: float = 98.0
    allow_empty: bool = False


@dataclass(frozen=True)
class ImageJob:
    """Everything needed to process one image, in plain paths (picklable)."""

    name: str
    image: Path
    labels: Path | None
    labels_expected: Path
    im_file: Path
    im_vis_file: Path
    vis_source: Path | None
    mask_file: Path
    plot_file: Path | None
    n_bands: int = 3

    def outputs(self) -> list[Path]:
        """Every file this job writes."""
        out = [self.im_file, self.im_vis_file, self.mask_file]
        return out + ([self.plot_file] if self.plot_file else [])

    def pair(self) -> Pair:
        """The file-list row of this image."""
        return Pair(
            name=self.name,
            im_file=str(self.im_file),
            im_vis_file=str(self.im_vis_file),
            mask_file=str(self.mask_file),
            mask_vis_file=str(self.plot_file) if self.plot_file else "",
        )


class JobStatus(StrEnum):
    """What happened to one image."""

    DONE = "done"  # at least one output written
    SKIPPED = "skipped"  # every output existed already
    FAILED = "failed"  # an error; the image is left out of the file list


@dataclass(frozen=True)
class ImageResult:
    """What happened to one image, and its warning and error lines."""

    name: str
    status: JobStatus
    messages: Messages = field(default_factory=list)


@dataclass
class MasksReport:
    """Outcome of :func:`prepare_spacenet`.

    Attributes:
        done: images for which at least one output was written.
        skipped: images whose outputs all existed already.
        failed: images that failed (left out of the file list).
        messages: one line per warning (``warning: ...``) or failure (``error: ...``).
        output_csv: the file list.
        pairs: its rows.
    """

    done: int = 0
    skipped: int = 0
    failed: int = 0
    messages: Messages = field(default_factory=list)
    output_csv: Path | None = None
    pairs: list[Pair] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no image failed."""
        return self.failed == 0

    def summary(self) -> str:
        """One line: counts and the file list."""
        return (
            f"{self.done} done, {self.skipped} skipped, {self.failed} failed; "
            f"file list: {self.output_csv} ({len(self.pairs)} rows)"
        )


def mask_folder_name(settings: MaskSettings) -> str:
    """``masks_2m`` for a 2 m buffer; ``masks_lanes3.5m`` for widths from lanes."""
    if settings.width_from_lanes:
        return f"masks_lanes{settings.meters_per_lane:g}m"
    return f"masks_{settings.buffer_meters:g}m"


def chip_name(image: Path, folder: str) -> str:
    """``RGB-PanSharpen_AOI_2_Vegas_img1.tif`` -> ``AOI_2_Vegas_img1``."""
    stem = image.stem
    return stem[len(folder) + 1 :] if stem.startswith(folder + "_") else stem


def _find_labels(aoi: Path, name: str) -> tuple[Path | None, Path]:
    """The label file of chip ``name`` (None when missing) and where it was expected."""
    for folder in LABEL_FOLDERS:
        d = aoi / folder
        if d.is_dir():
            for candidate in (f"spacenetroads_{name}.geojson", f"{name}.geojson"):
                if (d / candidate).is_file():
                    return d / candidate, d / candidate
            return None, d / f"spacenetroads_{name}.geojson"
    raise file_error(aoi, f"no label folder ({' or '.join(LABEL_FOLDERS)})")


def discover_spacenet(
    path_data: PathLike, n_bands: int = 3, settings: MaskSettings | None = None, plots: bool = False
) -> list[ImageJob]:
    """The jobs of a SpaceNet-layout AOI folder, sorted by chip name.

    Args:
        path_data: the AOI folder (e.g. ``AOI_2_Vegas_Train``).
        n_bands: 3 (``RGB-PanSharpen``) or 8 (``MUL-PanSharpen``).
        settings: mask settings (they name the mask folder).
        plots: whether each job also draws its figure.

    Raises:
        BasissError: missing folder, unknown band count, no images, no label folder.
    """
    settings = settings or MaskSettings()
    aoi = Path(path_data)
    if not aoi.is_dir():
        raise file_error(aoi, "no such folder")
    if n_bands not in BAND_FOLDERS:
        raise BasissError(f"n_bands must be 3 or 8, got {n_bands}")
    src_folder = BAND_FOLDERS[n_bands]
    src_dir = aoi / src_folder
    if not src_dir.is_dir():
        raise file_error(aoi, f"no {src_folder}/ folder for {n_bands}-band images")
    images = sorted(p for p in src_dir.iterdir() if p.suffix.lower() in GEOTIFF_SUFFIXES)
    if not images:
        raise file_error(src_dir, "no .tif images")
    aoi = aoi.resolve()
    out_dir = aoi / f"{src_folder}_8bit"
    mask_dir = aoi / mask_folder_name(settings)
    plot_dir = aoi / f"{mask_folder_name(settings)}_plots"
    rgb_folder = BAND_FOLDERS[3]
    jobs = []
    for image in images:
        name = chip_name(image, src_folder)
        label_file, expected = _find_labels(aoi, name)
        im_file = out_dir / f"{image.stem}.tif"
        if n_bands == 3:
            vis_file, vis_source = im_file, None
        else:
            rgb_name = f"{rgb_folder}_{name}" if image.stem != name else image.stem
            vis_file = aoi / VIS_FOLDER / f"{rgb_name}.tif"
            rgb_raw = aoi / rgb_folder / f"{rgb_name}{image.suffix}"
            vis_source = rgb_raw if rgb_raw.is_file() else None
        jobs.append(
            ImageJob(
                name=name,
                image=image.resolve(),
                labels=label_file.resolve() if label_file else None,
                labels_expected=expected,
                im_file=im_file,
                im_vis_file=vis_file,
                vis_source=vis_source,
                mask_file=mask_dir / f"{name}.tif",
                plot_file=plot_dir / f"{name}.png" if plots else None,
                n_bands=n_bands,
            )
        )
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise file_error(src_dir, "two images map to the same chip name")
    return jobs


def _mask_for(job: ImageJob, settings: MaskSettings) -> np.ndarray:
    """The road mask of ``job`` on its image's grid (all zero when labels are missing)."""
    if job.labels is None:
        warnings.warn(
            lab.LabelWarning(f"{job.labels_expected}: no such label file; all-zero mask"),
            stacklevel=2,
        )
        empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
        labels: Path | gpd.GeoDataFrame = empty
    else:
        labels = job.labels
    return lab.road_mask(
        labels,
        job.image,
        settings.buffer_meters,
        width_from_lanes=settings.width_from_lanes,
        meters_per_lane=settings.meters_per_lane,
        default_lanes=settings.default_lanes,
    )


def _check_bands(job: ImageJob) -> None:
    """An image of another band count than its AOI's ``--n-bands`` is an error."""
    with open_raster(job.image) as ds:
        if ds.count != job.n_bands:
            raise file_error(job.image, f"has {ds.count} band(s); this run takes {job.n_bands}")


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) made one space."""
    return " ".join(text.split())


def _needed(path: Path, overwrite: bool) -> bool:
    """Whether ``path`` is to be (re)written."""
    return overwrite or not path.exists()


def process_image(job: ImageJob, settings: MaskSettings, overwrite: bool = False) -> ImageResult:
    """Make the outputs of one image; never raises.

    Order: the mask is computed in memory first (it validates labels and the
    image's CRS), then the 8-bit image, the RGB rendering and the mask are
    written (each atomically), then the figure. A failure leaves no partial
    file; bad labels, a bad image or a missing CRS fail before anything is written.

    Returns:
        The status and the warning/error lines.
    """
    todo = [p for p in job.outputs() if _needed(p, overwrite)]
    if not todo:
        return ImageResult(job.name, JobStatus.SKIPPED)
    errors: Messages = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _check_bands(job)
            mask = _mask_for(job, settings)
            outside = [w for w in caught if issubclass(w.category, lab.LabelsOutsideWarning)]
            if outside and not settings.allow_empty:
                raise file_error(job.labels or job.labels_expected, lab.OUTSIDE_PROBLEM)
            if _needed(job.im_file, overwrite):
                write_8bit(job.image, job.im_file, lower=settings.lower, upper=settings.upper)
            if job.im_vis_file != job.im_file and _needed(job.im_vis_file, overwrite):
                if job.vis_source is not None:
                    write_8bit(
                        job.vis_source, job.im_vis_file, None, settings.lower, settings.upper
                    )
                else:  # the 8-bit MUL image's red, green, blue bands, passed through
                    write_8bit(job.im_file, job.im_vis_file, RGB_OF_MUL)
            if _needed(job.mask_file, overwrite):
                with open_raster(job.image) as ds:
                    crs, transform = ds.crs, ds.transform
                valid = image_valid_area(job.image)
                write_geotiff(job.mask_file, mask, crs, transform, Layer.MASK, valid)
            if job.plot_file is not None and _needed(job.plot_file, overwrite):
                from basiss.viz.masks import plot_road_mask  # matplotlib: only if asked

                plot_road_mask(job.labels, job.im_vis_file, mask, job.plot_file, title=job.name)
            status = JobStatus.DONE
        except BasissError as exc:
            errors.append(_one_line(f"error: {exc}"))
            status = JobStatus.FAILED
        except Exception as exc:  # a batch must go on: report anything else in one line
            errors.append(_one_line(f"error: {job.image}: {type(exc).__name__}: {exc}"))
            status = JobStatus.FAILED
    notes = [
        _one_line(f"warning: {w.message}")
        for w in caught
        if issubclass(w.category, lab.LabelWarning)
    ]
    return ImageResult(job.name, status, notes + errors)


def _run_jobs(
    jobs: list[ImageJob], settings: MaskSettings, overwrite: bool, workers: int
) -> Iterable[tuple[ImageJob, ImageResult]]:
    """Process jobs in this process (workers == 1) or a process pool; yield as they finish."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, process_image(job, settings, overwrite)
        return
    # fork when safe, else forkserver: workers start from a clean process even when the
    # caller holds threads (torch, GDAL) that a plain fork could leave locked.
    ctx = pool_context(preload=[__name__])
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures: dict[Future[ImageResult], ImageJob] = {
            pool.submit(process_image, job, settings, overwrite): job for job in jobs
        }
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # worker died (killed, out of memory...)
                result = ImageResult(
                    job.name, JobStatus.FAILED, [f"error: {job.image}: worker failed ({exc!r})"]
                )
            yield job, result


def _write_csv_if_changed(path: Path, pairs: list[Pair]) -> None:
    """Write the file list unless the same rows are already there (re-runs stay no-ops)."""
    if path.is_file():
        try:
            if read_file_list(path) == pairs:
                return
        except BasissError:
            pass
    write_file_list(path, pairs)


def prepare_spacenet(
    path_data: PathLike,
    output_csv: PathLike,
    n_bands: int = 3,
    buffer_meters: float = 2.0,
    make_plots: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    width_from_lanes: bool = False,
    meters_per_lane: float = lab.METERS_PER_LANE,
    default_lanes: int = lab.DEFAULT_LANES,
    lower: float = 2.0,
    upper: float = 98.0,
    allow_empty: bool = False,
) -> MasksReport:
    """8-bit images, road masks (and figures) for a SpaceNet AOI folder, plus the file list.

    Args:
        path_data: the AOI folder (``RGB-PanSharpen/`` or ``MUL-PanSharpen/`` and
            ``geojson/spacenetroads/``); outputs are written inside it.
        output_csv: the file-list CSV (columns ``name, im_file, im_vis_file,
            mask_file, mask_vis_file``, absolute paths; failed images left out).
        n_bands: 3 or 8.
        buffer_meters: centerline buffer each side (metres).
        make_plots: also write the 4-panel figure per image.
        overwrite: redo outputs that exist (otherwise they are kept).
        workers: processes (default: all cores).
        width_from_lanes: per-road width from ``lane_number`` (:mod:`basiss.labels.centerlines`).
        meters_per_lane: lane width for ``width_from_lanes``.
        default_lanes: lane count when a road has none.
        lower: lower percentile of the 8-bit stretch.
        upper: upper percentile of the 8-bit stretch.
        allow_empty: keep an image whose roads all miss it (all-zero mask); by default
            it fails (likely a CRS mistake) and stays out of the file list.

    Returns:
        Counts and messages; the caller decides the exit status from ``failed``.

    Raises:
        BasissError: the folder itself is unusable (nothing is written then).
    """
    if not 0.0 <= lower < upper <= 100.0:
        raise BasissError(
            f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}"
        )
    settings = MaskSettings(
        buffer_meters, width_from_lanes, meters_per_lane, default_lanes, lower, upper, allow_empty
    )
    if not width_from_lanes and buffer_meters <= 0:
        raise BasissError(f"buffer must be > 0 metres, got {buffer_meters}")
    jobs = discover_spacenet(path_data, n_bands, settings, make_plots)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    report = MasksReport(output_csv=Path(output_csv))
    ok: set[str] = set()
    bar = progress(total=len(jobs), desc="masks", unit="image")
    try:
        for job, result in _run_jobs(jobs, settings, overwrite, workers):
            bar.update(1)
            report.messages.extend(result.messages)
            if result.status is JobStatus.FAILED:
                report.failed += 1
                continue
            ok.add(job.name)
            if result.status is JobStatus.SKIPPED:
                report.skipped += 1
            else:
                report.done += 1
    finally:
        bar.close()
    report.pairs = [job.pair() for job in jobs if job.name in ok]
    if report.pairs:
        _write_csv_if_changed(Path(output_csv), report.pairs)
    else:
        report.messages.append(f"error: {output_csv}: not written, no image succeeded")
    return report
