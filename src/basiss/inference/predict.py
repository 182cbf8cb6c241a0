"""Streaming broad-area inference: a sliding window over an image of any size.

The chip grid is training's (:func:`basiss.grid.chip_grid`, flush to the
edge). The image is processed one chip row at a time:

1. a background reader thread reads the row's strip once, stretches it to
   8 bits exactly as training saw it (non-uint8 input: per-band percentiles
   from a decimated read of the whole scene, computed once), cuts the chips
   with numpy and normalises them in batches;
2. the model runs the batches; each chip's probabilities, times a blending
   weight window, are added to a float32 accumulator one chip tall and one
   image wide, and the weights to a weight buffer;
3. when the next chip row starts, the pixel rows above it are final: they are
   divided by their accumulated weight, quantised and written to the two
   output GeoTIFFs (in whole tile rows), and the buffers shift up.

Peak memory therefore depends on image width and chip size, never on height.

Steps 1-3 are one function, :func:`stream_rows`, which can also run a block
of consecutive chip rows (plus the halo of chip rows above it, so the block's
pixel rows come out exactly as in a whole-image run): :func:`predict_image`
runs it over the whole image, :mod:`basiss.inference.distributed` over blocks on Dask
workers.

Outputs, on the input's exact grid (CRS, transform, size), tiled + deflate:

- ``<stem>_prob.tif``: uint8, one band per non-background class, probability
  ``round(255 * p)`` (the full 0..255 range is data).
- ``<stem>_mask.tif``: uint8, 0 = background, 1 = road (class index 1..K-1
  with several classes) where the probability is ``>= threshold``.

Nodata: input pixels that are nodata in every band (0, or the file's nodata
value) are nodata in both outputs. Since 0 is a valid probability, nodata is
not a pixel value but GDAL's per-dataset *internal mask band* (0 = nodata),
which rasterio reads with ``ds.dataset_mask()`` / ``read(masked=True)`` and
GIS tools show as transparent; under it the pixel values are 0 (background).
Chips with no valid pixel are not run through the model.

Blending (:func:`blend_weights`): ``mean`` gives every chip pixel weight 1
(the seed's average over the coverage map); ``cosine`` (default) is a
separable raised-cosine (Hann) window with a small floor, so chip borders
count little where another chip overlaps them, yet every pixel keeps a
positive weight (the image's border pixels are covered by one chip only).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from torch import nn

from basiss.data.normalize import Normalisation
from basiss.errors import BasissError, file_error
from basiss.grid import ChipGrid, chip_grid
from basiss.inference.engines import ENGINES, Engine, make_engine
from basiss.io.bands import model_bands
from basiss.io.filelist import read_file_list
from basiss.io.raster import (
    GEOTIFF_SUFFIXES,
    PathLike,
    apply_stretch,
    atomic_outputs,
    dataset_nodata,
    geotiff_profile,
    is_8bit,
    open_raster,
    read_window,
    stretch_limits,
    valid_pixels,
)
from basiss.progress import progress
from basiss.training.checkpoint import ModelSpec, load_checkpoint, resolve_device

BLENDS = ("cosine", "mean")
#: Smallest cosine weight (relative to the chip centre's 1.0).
BLEND_FLOOR = 1e-2
#: Output tile size; finished rows are written in whole tile rows.
TILE = 256
#: Batches the reader thread may prepare ahead of the model.
PREFETCH = 2


@dataclass
class PredictOptions:
    """How to predict.

    Attributes:
        slice: chip size (x, y); None: the checkpoint's.
        stride: step between chips (x, y); None: the checkpoint's (scaled to
            ``slice`` when ``slice`` is overridden, keeping the overlap ratio).
        batch_size: chips per model call.
        blend: ``cosine`` (tapered, seam-free) or ``mean`` (the seed's average).
        threshold: probability at or above which the mask says road.
        tta: average the predictions of the four flips (identity, left-right,
            up-down, both); 4x the model time.
        engine: ``torch`` or ``onnx`` (onnxruntime, CPU).
        device: ``auto``, ``cpu`` or ``cuda`` (torch engine).
        threads: CPU threads for the engine (None: its default).
        show_progress: a progress bar on a terminal.
    """

    slice: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    batch_size: int = 4
    blend: str = "cosine"
    threshold: float = 0.5
    tta: bool = False
    engine: str = "torch"
    device: str = "auto"
    threads: int | None = None
    show_progress: bool = True

    def __post_init__(self) -> None:
        if self.blend not in BLENDS:
            raise BasissError(f"unknown blend {self.blend!r}; choose from {', '.join(BLENDS)}")
        if self.engine not in ENGINES:
            raise BasissError(f"unknown engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        if self.batch_size < 1:
            raise BasissError(f"batch size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.threshold <= 1.0:
            raise BasissError(f"threshold must be in [0, 1], got {self.threshold}")


@dataclass(frozen=True)
class PredictOutputs:
    """What :func:`predict_image` wrote.

    Attributes:
        prob_path: the probability GeoTIFF.
        mask_path: the 0/1 mask GeoTIFF.
        seconds: wall time of the image.
        chips: chips run through the model (all-nodata chips are skipped).
        chips_total: chips of the grid.
        pixels: pixels of the image (width x height).
    """

    prob_path: Path
    mask_path: Path
    seconds: float
    chips: int
    chips_total: int = 0
    pixels: int = 0

    @property
    def mpx_per_s(self) -> float:
        return self.pixels / 1e6 / max(self.seconds, 1e-9)


@dataclass
class Predictor:
    """A model ready to predict: engine, spec, chip geometry, weights and options."""

    spec: ModelSpec
    engine: Engine
    chip: tuple[int, int]
    stride: tuple[int, int]
    options: PredictOptions
    weights: np.ndarray = field(repr=False)

    @property
    def n_out(self) -> int:
        """Probability bands (non-background classes)."""
        return n_outputs(self.spec)


# --------------------------------------------------------------------- pure math


def n_outputs(spec: ModelSpec) -> int:
    """Probability bands of a model's output: its non-background classes (at least 1)."""
    return max(1, spec.n_classes - 1)


def blend_weights(slice_x: int, slice_y: int, kind: str = "cosine") -> np.ndarray:
    """The weight window of one chip, ``(slice_y, slice_x)`` float32 in (0, 1].

    ``mean``: all ones. ``cosine``: the outer product of two 1-D Hann windows
    sampled at pixel centres, ``floor + (1 - floor) * sin^2(pi (i + 0.5) / n)``,
    with ``floor = BLEND_FLOOR`` so no pixel has zero weight.
    """
    if kind == "mean":
        return np.ones((slice_y, slice_x), dtype=np.float32)
    if kind != "cosine":
        raise ValueError(f"unknown blend {kind!r}; choose from {BLENDS}")

    def hann(n: int) -> np.ndarray:
        t = (np.arange(n, dtype=np.float64) + 0.5) / n
        return BLEND_FLOOR + (1.0 - BLEND_FLOOR) * np.sin(np.pi * t) ** 2

    return np.outer(hann(slice_y), hann(slice_x)).astype(np.float32)


def quantise(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] to uint8 ``round(255 p)``."""
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


def flip_tta(engine: Engine, chips: np.ndarray) -> np.ndarray:
    """Mean of the engine's predictions over the four flips of ``chips``."""
    total = None
    for axes in ((), (-1,), (-2,), (-2, -1)):
        x = np.ascontiguousarray(np.flip(chips, axes)) if axes else chips
        p = engine(x)
        p = np.flip(p, axes) if axes else p
        total = p.copy() if total is None else total + p
    assert total is not None
    return total * np.float32(0.25)


# ------------------------------------------------------------------ loading


def chip_geometry(spec: ModelSpec, options: PredictOptions) -> tuple[tuple[int, int], ...]:
    """``(chip, stride)`` as ``(x, y)`` pairs: the options' or the checkpoint's, validated."""
    chip = tuple(options.slice) if options.slice is not None else tuple(spec.slice)
    if options.stride is not None:
        stride = tuple(options.stride)
    elif options.slice is None:
        stride = tuple(spec.stride)
    else:  # keep the checkpoint's overlap ratio
        stride = tuple(
            max(1, round(c * s / max(1, t)))
            for c, s, t in zip(chip, spec.stride, spec.slice, strict=True)
        )
    if min(chip) < 1 or min(stride) < 1:
        raise BasissError(f"slice and stride must be >= 1, got {chip} and {stride}")
    if stride[0] > chip[0] or stride[1] > chip[1]:
        raise BasissError(f"stride {stride} larger than slice {chip} would leave gaps")
    return chip, stride  # type: ignore[return-value]


def load_predictor(
    model_or_checkpoint: PathLike | tuple[nn.Module, ModelSpec] | Predictor,
    options: PredictOptions | None = None,
) -> Predictor:
    """Load a checkpoint (or wrap a model + spec) and build its engine once.

    Args:
        model_or_checkpoint: a checkpoint path, a ``(model, spec)`` pair, or a
            :class:`Predictor` (returned unchanged).
        options: prediction options (default: :class:`PredictOptions`).
    """
    if isinstance(model_or_checkpoint, Predictor):
        return model_or_checkpoint
    opts = options or PredictOptions()
    device = resolve_device(opts.device) if opts.engine == "torch" else "cpu"
    if isinstance(model_or_checkpoint, tuple):
        model, spec = model_or_checkpoint
    else:
        model, spec = load_checkpoint(model_or_checkpoint, device)
    chip, stride = chip_geometry(spec, opts)
    model.eval()
    engine = make_engine(
        opts.engine, model, spec.n_classes, spec.in_channels, chip, device, opts.threads
    )
    return Predictor(
        spec=spec,
        engine=engine,
        chip=chip,
        stride=stride,
        options=opts,
        weights=blend_weights(chip[0], chip[1], opts.blend),
    )


# ------------------------------------------------------------------ scene


@dataclass(frozen=True)
class Scene:
    """What predicting one image needs to know about it, computed once per image.

    Attributes:
        path: the image.
        width, height: its size in pixels.
        bands: 1-based bands read for the model.
        nodata: the input value meaning "no data" (0 when the file has none).
        limits: per-band 16->8 bit stretch limits ``(bands, 2)``, None for uint8 input.
        grid: the chip grid over the whole image.
        profile: the full-scene output profile (``<stem>_prob.tif``; the mask has 1 band).
        cache_bytes: GDAL block cache for a run over this image.
    """

    path: Path
    width: int
    height: int
    bands: list[int]
    nodata: float
    limits: np.ndarray | None
    grid: ChipGrid
    profile: dict[str, Any]
    cache_bytes: int

    @property
    def acc_width(self) -> int:
        """Accumulator width: the image, or the one chip that reaches past a narrow image."""
        return max(self.width, self.grid.cols[-1] + self.grid.slice_x)

    def rows_profile(self, row0: int, row1: int) -> dict[str, Any]:
        """The output profile of pixel rows ``[row0, row1)`` (same grid, shifted origin)."""
        transform = self.profile["transform"] @ rasterio.Affine.translation(0, row0)
        return dict(self.profile, height=row1 - row0, transform=transform)

    def env(self) -> rasterio.Env:
        """The GDAL settings of a run: bounded block cache, nodata as an internal mask."""
        return rasterio.Env(GDAL_CACHEMAX=self.cache_bytes, GDAL_TIFF_INTERNAL_MASK=True)


def scene_info(
    ds: rasterio.io.DatasetReader,
    path: PathLike,
    spec: ModelSpec,
    chip: tuple[int, int],
    stride: tuple[int, int],
    limits: np.ndarray | None = None,
) -> Scene:
    """Check ``ds`` against the model and work out its grid, stretch and output profile.

    Args:
        ds: the open image.
        path: the image's path (for messages and :attr:`Scene.path`).
        spec: the model's spec (bands, stretch, classes).
        chip, stride: the chip geometry ``(x, y)`` (:attr:`Predictor.chip`, ``.stride``).
        limits: known stretch limits (e.g. computed once for all blocks of a scene);
            None: computed here for non-uint8 input (a decimated read of the scene).

    Raises:
        BasissError: the image's bands do not fit the model.
    """
    bands = model_bands(ds, spec.bands, spec.in_channels, path)
    sx, sy = chip
    grid = chip_grid(ds.width, ds.height, sx, sy, stride[0], stride[1])
    itemsize = int(np.dtype(ds.dtypes[0]).itemsize)
    acc_width = max(ds.width, grid.cols[-1] + sx)
    cache = _gdal_cache_bytes(acc_width, sy, len(bands) * itemsize)
    if limits is None and not is_8bit(ds):
        with rasterio.Env(GDAL_CACHEMAX=cache):
            limits = stretch_limits(ds, bands, spec.stretch[0], spec.stretch[1])
    profile = geotiff_profile(
        ds.width, ds.height, n_outputs(spec), "uint8", ds.crs, ds.transform, None, TILE
    )
    return Scene(
        path=Path(path),
        width=ds.width,
        height=ds.height,
        bands=bands,
        nodata=dataset_nodata(ds),
        limits=limits,
        grid=grid,
        profile=profile,
        cache_bytes=cache,
    )


# ------------------------------------------------------------------ chip-row blocks


def halo_start(rows: Sequence[int], slice_y: int, first: int) -> int:
    """The first chip row whose chips reach pixel row ``rows[first]``.

    A block that must finish the pixel rows from ``rows[first]`` on has to run
    these earlier chip rows too (its halo), so that every pixel sees exactly
    the chips it sees in a run over the whole image.

    >>> halo_start([0, 300, 600, 900], 400, 2)
    1
    >>> halo_start([0, 48, 96, 136], 64, 3)
    2
    """
    j = first
    while j > 0 and rows[j - 1] + slice_y > rows[first]:
        j -= 1
    return j


def owned_rows(grid: ChipGrid, first: int, stop: int) -> tuple[int, int]:
    """Pixel rows ``[row0, row1)`` finished by chip rows ``first .. stop-1``.

    Chip row ``i`` finishes the pixel rows from its own start up to the next
    chip row's start (the last one: to the image's bottom), so consecutive
    blocks of chip rows own consecutive, disjoint bands of pixel rows.
    """
    n = len(grid.rows)
    if not 0 <= first < stop <= n:
        raise ValueError(f"chip rows [{first}, {stop}) outside 0..{n}")
    row1 = grid.rows[stop] if stop < n else grid.height
    return grid.rows[first], row1


# ------------------------------------------------------------------ reading


@dataclass
class _Item:
    """One message from the reader: a row start, a batch, or a row end."""

    kind: str  # "row" | "batch" | "end"
    row: int
    valid: np.ndarray | None = None  # "row": (slice_y, acc_width) bool
    cols: list[int] | None = None  # "batch": chip column offsets
    x: np.ndarray | None = None  # "batch": normalised chips (n, C, sy, sx)
    skipped: int = 0  # "end": chips of the row that had no valid pixel


def _read_rows(
    ds: rasterio.io.DatasetReader,
    scene: Scene,
    rows: Sequence[int],
    norm: Normalisation,
    batch_size: int,
) -> Iterator[_Item]:
    """Read, stretch, cut and normalise the chips of each chip row in ``rows``, in batches."""
    grid = scene.grid
    sx, sy = grid.slice_x, grid.slice_y
    for r in rows:
        raw = read_window(ds, Window(0, r, scene.acc_width, sy), scene.bands)
        valid = valid_pixels(raw, scene.nodata)
        strip = raw if scene.limits is None else apply_stretch(raw, scene.limits, valid)
        del raw
        yield _Item("row", r, valid=valid)
        col_valid = valid.any(axis=0)
        live = [c for c in grid.cols if col_valid[c : c + sx].any()]
        for i in range(0, len(live), batch_size):
            cols = live[i : i + batch_size]
            chips = np.stack([strip[:, :, c : c + sx] for c in cols])
            yield _Item("batch", r, cols=cols, x=norm.apply(chips))
        yield _Item("end", r, skipped=len(grid.cols) - len(live))


def _prefetch(items: Iterator[_Item], depth: int) -> Iterator[_Item]:
    """Run ``items`` in a background thread, ``depth`` items ahead of the consumer.

    Exceptions in the thread are re-raised in the consumer; when the consumer
    stops early, the thread is told to stop.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(obj: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(obj, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)

    thread = threading.Thread(target=work, name="basiss-reader", daemon=True)
    thread.start()
    try:
        while True:
            obj = q.get()
            if obj is done:
                return
            if isinstance(obj, BaseException):
                raise obj
            yield obj
    finally:
        stop.set()
        thread.join(timeout=10)


# ------------------------------------------------------------------ the streaming core


@dataclass(frozen=True)
class Rows:
    """A band of finished output rows, as :func:`stream_rows` yields them.

    Attributes:
        row: the image row of the first one.
        prob: ``(K, n, W)`` uint8 probabilities ``round(255 p)``.
        mask: ``(n, W)`` uint8 class mask.
        valid: ``(n, W)`` bool, False where the output is nodata.
        chips: chips run through the model for this band (its chip row).
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


def stream_rows(
    pred: Predictor,
    ds: rasterio.io.DatasetReader,
    scene: Scene,
    first: int = 0,
    stop: int | None = None,
    tick: Callable[[int], Any] | None = None,
) -> Iterator[Rows]:
    """Predict chip rows ``first .. stop-1`` of ``scene`` and yield the pixel rows they finish.

    The one streaming core of both the single-process and the block-wise
    (distributed) prediction. A background thread reads each chip row's strip
    once and prepares its batches; the model runs them; probabilities times the
    blending window go into an accumulator one chip tall and one image wide.
    When a chip row ends, the pixel rows above the next chip row are final:
    they are normalised by their weight, quantised and yielded, and the
    buffers shift up.

    For a block (``first > 0``) the halo chip rows above it
    (:func:`halo_start`) are run as well, their rows are not yielded: the
    yielded rows ``owned_rows(grid, first, stop)`` are then exactly (bit for
    bit) those of a run over the whole image.

    Args:
        pred: the predictor.
        ds: the open image (read in the background thread only).
        scene: :func:`scene_info` of ``ds``.
        first, stop: chip-row indices into ``scene.grid.rows`` (default: all).
        tick: called with a number of chips done (run or skipped), for progress.

    Yields:
        :class:`Rows`, top to bottom, covering ``owned_rows(grid, first, stop)``.
    """
    grid = scene.grid
    rows = grid.rows
    stop = len(rows) if stop is None else stop
    owned_rows(grid, first, stop)  # validates the range
    begin = halo_start(rows, grid.slice_y, first)
    sx, sy = grid.slice_x, grid.slice_y
    k, weights, opts = pred.n_out, pred.weights, pred.options
    acc = np.zeros((k, sy, scene.acc_width), np.float32)
    wsum = np.zeros((sy, scene.acc_width), np.float32)
    valid: np.ndarray | None = None
    index = {r: i for i, r in enumerate(rows)}
    run = (lambda x: flip_tta(pred.engine, x)) if opts.tta else pred.engine
    chips_run = 0
    reader = _read_rows(ds, scene, rows[begin:stop], pred.spec.normalisation, opts.batch_size)
    with contextlib.closing(_prefetch(reader, PREFETCH)) as items:
        for item in items:
            if item.kind == "row":
                valid = item.valid
            elif item.kind == "batch":
                assert item.x is not None and item.cols is not None
                probs = run(item.x)
                for j, c in enumerate(item.cols):
                    acc[:, :, c : c + sx] += probs[j] * weights
                    wsum[:, c : c + sx] += weights
                chips_run += len(item.cols)
                if tick is not None:
                    tick(len(item.cols))
            else:  # end of a chip row: rows above the next chip row are final
                assert valid is not None
                i = index[item.row]
                r0, r1 = owned_rows(grid, i, i + 1)
                n = r1 - r0
                if i >= first:
                    prob, mask, ok = _finish(acc, wsum, valid, n, scene.width, opts.threshold)
                    yield Rows(r0, prob, mask, ok, chips_run)
                    chips_run = 0
                acc[:, : sy - n] = acc[:, n:]
                acc[:, sy - n :] = 0.0
                wsum[: sy - n] = wsum[n:]
                wsum[sy - n :] = 0.0
                if tick is not None and item.skipped:
                    tick(item.skipped)


def _finish(
    acc: np.ndarray,
    wsum: np.ndarray,
    valid: np.ndarray,
    n: int,
    width: int,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``n`` accumulator rows normalised by their weight: ``(prob u8, mask, valid)``."""
    w = wsum[:n, :width]
    ok = valid[:n, :width] & (w > 0)
    prob = acc[:, :n, :width] / np.where(w > 0, w, np.float32(1.0))
    prob[:, ~ok] = 0.0
    mask = threshold_mask(prob, threshold)
    mask[~ok] = 0
    return quantise(prob), mask, ok


# ------------------------------------------------------------------ writing


class _TileRowWriter:
    """Collects finished pixel rows and writes them to both outputs in whole tile rows.

    Writing whole tile rows means every compressed tile is written once.
    """

    def __init__(
        self, prob_ds: Any, mask_ds: Any, width: int, height: int, bands: int, tile: int
    ) -> None:
        self.prob_ds, self.mask_ds = prob_ds, mask_ds
        self.width, self.height, self.tile = width, height, tile
        self.prob = np.zeros((bands, tile, width), np.uint8)
        self.mask = np.zeros((tile, width), np.uint8)
        self.valid = np.zeros((tile, width), np.uint8)
        self.start = 0  # file row of self.prob[:, 0]
        self.fill = 0

    @property
    def rows_done(self) -> int:
        """Rows handed to :meth:`add` so far."""
        return self.start + self.fill

    def add(self, prob: np.ndarray, mask: np.ndarray, valid: np.ndarray) -> None:
        """Append finished rows: ``prob (K, n, W)`` uint8, ``mask``/``valid (n, W)``."""
        done = 0
        n = mask.shape[0]
        if self.rows_done + n > self.height:
            raise ValueError(f"{self.rows_done + n} rows for a {self.height}-row file")
        while done < n:
            k = min(n - done, self.tile - self.fill)
            self.prob[:, self.fill : self.fill + k] = prob[:, done : done + k]
            self.mask[self.fill : self.fill + k] = mask[done : done + k]
            self.valid[self.fill : self.fill + k] = valid[done : done + k]
            self.fill += k
            done += k
            if self.fill == self.tile:
                self.flush()

    def flush(self) -> None:
        if not self.fill:
            return
        win = Window(0, self.start, self.width, self.fill)
        msk = self.valid[: self.fill] * np.uint8(255)
        self.prob_ds.write(self.prob[:, : self.fill], window=win)
        self.prob_ds.write_mask(msk, window=win)
        self.mask_ds.write(self.mask[np.newaxis, : self.fill], window=win)
        self.mask_ds.write_mask(msk, window=win)
        self.start += self.fill
        self.fill = 0


def output_paths(image: PathLike, out_dir: PathLike) -> tuple[Path, Path]:
    """``(DIR/<stem>_prob.tif, DIR/<stem>_mask.tif)`` for an input image."""
    stem = Path(image).stem
    out = Path(out_dir)
    return out / f"{stem}_prob.tif", out / f"{stem}_mask.tif"


def write_rows(
    rows: Iterable[Rows], prob_path: PathLike, mask_path: PathLike, profile: dict[str, Any]
) -> int:
    """Write bands of finished rows to a probability + mask GeoTIFF pair, atomically.

    Call it under :meth:`Scene.env` (internal nodata masks, bounded cache).

    Args:
        rows: consecutive :class:`Rows` that fill the profile's height exactly.
        prob_path, mask_path: the outputs (replaced only if everything succeeds).
        profile: the probability file's profile (the mask gets the same with 1 band).

    Returns:
        Chips run (the sum of ``Rows.chips``).

    Raises:
        ValueError: the rows do not fill the file exactly (a bug, never a user error).
    """
    width, height, bands = profile["width"], profile["height"], profile["count"]
    chips = 0
    with (
        atomic_outputs(Path(prob_path), Path(mask_path)) as (tmp_prob, tmp_mask),
        rasterio.open(tmp_prob, "w", **profile) as prob_ds,
        rasterio.open(tmp_mask, "w", **dict(profile, count=1)) as mask_ds,
    ):
        writer = _TileRowWriter(prob_ds, mask_ds, width, height, bands, TILE)
        for band in rows:
            writer.add(band.prob, band.mask, band.valid)
            chips += band.chips
        writer.flush()
        if writer.rows_done != height:
            raise ValueError(f"wrote {writer.rows_done} of {height} rows")
    return chips


def _gdal_cache_bytes(width: int, slice_y: int, bytes_per_px: int) -> int:
    """GDAL block cache for one run: a few strips of input tiles, not the scene.

    GDAL's default (5% of RAM) would keep caching input blocks as the reader
    moves down a tall scene, growing memory with the height.
    """
    strip = width * (slice_y + 2 * TILE) * bytes_per_px
    return int(max(16 << 20, 2 * strip))


# ------------------------------------------------------------------ predicting


def predict_image(
    image: PathLike,
    model_or_checkpoint: PathLike | tuple[nn.Module, ModelSpec] | Predictor,
    out_dir: PathLike,
    options: PredictOptions | None = None,
) -> PredictOutputs:
    """Predict one image of any size, streaming, into ``out_dir``.

    Args:
        image: a raster with the checkpoint's bands (any dtype; non-uint8 is
            stretched as in training).
        model_or_checkpoint: checkpoint path, ``(model, spec)``, or a
            :class:`Predictor` (then its own options apply and ``options`` is
            ignored).
        out_dir: folder for ``<stem>_prob.tif`` and ``<stem>_mask.tif``.
        options: see :class:`PredictOptions`.

    Returns:
        The written paths, wall time and chip counts.
    """
    t0 = time.perf_counter()
    pred = load_predictor(model_or_checkpoint, options)
    prob_path, mask_path = output_paths(image, out_dir)
    with open_raster(image) as ds:
        scene = scene_info(ds, image, pred.spec, pred.chip, pred.stride)
        bar = progress(
            total=len(scene.grid),
            unit="chip",
            desc=Path(image).name,
            disable=None if pred.options.show_progress else True,
        )
        with scene.env(), bar:
            rows = stream_rows(pred, ds, scene, tick=bar.update)
            chips_run = write_rows(
                _rate(rows, bar, scene.width), prob_path, mask_path, scene.profile
            )
    return PredictOutputs(
        prob_path=prob_path,
        mask_path=mask_path,
        seconds=time.perf_counter() - t0,
        chips=chips_run,
        chips_total=len(scene.grid),
        pixels=scene.width * scene.height,
    )


def _rate(rows: Iterable[Rows], bar: Any, width: int) -> Iterator[Rows]:
    """Pass ``rows`` through, showing Mpx/s on ``bar``."""
    t0 = time.perf_counter()
    for band in rows:
        yield band
        mpx = band.stop * width / 1e6 / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{mpx:.2f} Mpx/s", refresh=False)


def expand_inputs(items: Iterable[PathLike]) -> list[Path]:
    """Images from paths, folders (their ``*.tif``/``*.tiff``) and file-list CSVs (``im_file``).

    Raises:
        BasissError: a missing path, an empty folder, or two images with one stem
            (their outputs would overwrite each other).
    """
    images: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in GEOTIFF_SUFFIXES)
            if not found:
                raise file_error(p, "folder has no .tif images")
            images.extend(found)
        elif p.suffix.lower() == ".csv":
            images.extend(Path(pair.im_file) for pair in read_file_list(p))
        elif p.exists():
            images.append(p)
        else:
            raise file_error(p, "no such file")
    seen: dict[str, Path] = {}
    for img in images:
        if img.stem in seen and seen[img.stem] != img:
            raise file_error(img, f"has the same name as {seen[img.stem]}; outputs would clash")
        seen[img.stem] = img
    return list(dict.fromkeys(images))


def predict_many(
    images: Sequence[PathLike],
    checkpoint: PathLike | tuple[nn.Module, ModelSpec] | Predictor,
    out_dir: PathLike,
    options: PredictOptions | None = None,
) -> list[PredictOutputs]:
    """Predict several images (paths, folders, file-list CSVs), loading the model once.

    The ONNX engine is exported once here, not per image.
    """
    paths = expand_inputs(images)
    pred = load_predictor(checkpoint, options)
    return [predict_image(p, pred, out_dir) for p in paths]
