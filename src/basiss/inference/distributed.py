"""Broad-area prediction on a Dask cluster: many scenes, and huge scenes in row blocks.

``basiss predict --scheduler local:N`` starts a :class:`distributed.LocalCluster`
of N single-threaded worker processes; ``--scheduler tcp://HOST:PORT`` uses a
running cluster (``dask scheduler`` + ``dask worker``). Every path (images,
checkpoint, output folder) must name the same file on the client and on every
worker: a shared or network file system, mounted at the same place.

Work units
    The client opens each image (metadata only, plus the decimated read that
    fixes the 16->8 bit stretch once per scene) and cuts the scene's chip grid
    (:func:`basiss.grid.chip_grid`, the single-process grid) into blocks of
    consecutive chip rows (:func:`plan_blocks`). A scene of one block is one
    task that writes the final outputs directly (:func:`basiss.inference.predict.predict_image`).
    A larger scene gives one task per block, then one assembly task.

Exact halo
    A block of chip rows ``first .. stop-1`` owns the pixel rows from the start
    of chip row ``first`` to the start of chip row ``stop`` (the last block: to
    the bottom), so the blocks of a scene own disjoint bands that tile it. It
    also runs the earlier chip rows whose chips reach into its band (the halo,
    :func:`basiss.inference.predict.halo_start`), in the same order and batches, through
    the same streaming core as one process
    (:func:`basiss.inference.predict.stream_rows`): every output pixel sums the very same
    chips in the same order, so the result equals the single-process output
    bit for bit, with either blend. The halo costs about one extra chip row
    per block (400/300 chips: 1 row in 7 with the default block size).

Writing: per-block files, assembled by a final task
    Each block task writes its band of rows to its own small GeoTIFF pair in a
    hidden folder beside the outputs (``.<stem>.blocks-<token>/``), atomically
    (temporary name, rename). The assembly task runs when every block of the
    scene is done: it streams the block files, in order, into
    ``<stem>_prob.tif`` / ``<stem>_mask.tif`` (same format, internal nodata
    mask and temporary-name-then-rename as one process), then deletes the
    block files. This was chosen over workers writing into one shared file
    under a lock because a compressed tiled GeoTIFF cannot safely take
    concurrent writers from several machines, a lock across machines is one
    more thing to fail, and a block killed half-way would leave a shared file
    half-written; with per-block files a retried task simply rewrites its own
    file, and the output appears whole or not at all. The cost is writing the
    pixels twice (deflate level 1, fast next to the model).

Model once per worker
    Tasks carry the checkpoint *path*, never the model. Each worker process
    keeps the predictor it built in a small cache keyed by the checkpoint's
    path, mtime and size and the prediction options (:func:`worker_predictor`),
    so the model is loaded (and, for ``--engine onnx``, exported) once per
    worker, and a re-trained checkpoint at the same path is picked up. On
    its first load a worker also undoes the nanny's ``MALLOC_TRIM_THRESHOLD_``
    (:func:`_relax_malloc_trim`), which made inference 3x slower.
    Torch threads per worker: ``--threads``, else the worker's Dask threads
    (``dask worker --nthreads``); a ``local:N`` cluster gives each worker
    ``cores // N``.

Failures
    Tasks are submitted with ``retries`` (default 2) for exceptions; a worker
    that dies (killed, out of memory, machine lost) has its tasks re-run
    elsewhere by the scheduler. Block and assembly tasks are idempotent, so a
    re-run gives the same files. A user error (bad band count...) is raised
    on the client as the same one-line :class:`basiss.errors.BasissError`.
    Progress (chips) is counted on the client as block futures complete.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import rasterio
from rasterio.windows import Window

from basiss.errors import BasissError, file_error
from basiss.inference.predict import (
    TILE,
    PathLike,
    PredictOptions,
    Predictor,
    PredictOutputs,
    Rows,
    Scene,
    chip_geometry,
    expand_inputs,
    load_predictor,
    output_paths,
    owned_rows,
    predict_image,
    scene_info,
    stream_rows,
    write_rows,
)
from basiss.io.raster import open_raster
from basiss.progress import progress
from basiss.training.checkpoint import load_checkpoint

#: Auto block size bounds, in chip rows: small blocks waste halo, big ones retry slowly.
MIN_BLOCK_ROWS = 4
MAX_BLOCK_ROWS = 16
#: Blocks aimed at per worker (load balance when few scenes are large).
BLOCKS_PER_WORKER = 2
#: Seconds to wait for a cluster (connection, first workers).
CONNECT_TIMEOUT = 20.0


# ------------------------------------------------------------------ planning (pure)


def split_rows(n_rows: int, n_blocks: int) -> list[tuple[int, int]]:
    """Split chip rows ``0 .. n_rows-1`` into ``n_blocks`` consecutive near-equal ranges.

    >>> split_rows(27, 4)
    [(0, 6), (6, 13), (13, 20), (20, 27)]
    """
    if n_rows < 1 or n_blocks < 1:
        raise ValueError(f"need n_rows, n_blocks >= 1, got {n_rows}, {n_blocks}")
    k = min(n_blocks, n_rows)
    edges = [i * n_rows // k for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def plan_blocks(
    chip_rows: Sequence[int], workers: int, block_rows: int | None = None
) -> list[list[tuple[int, int]]]:
    """Chip-row blocks for each scene of a run.

    Args:
        chip_rows: the number of chip rows of each scene.
        workers: worker threads of the cluster.
        block_rows: chip rows per block (the last block of a scene may have
            fewer); None: automatic. The automatic size
            aims at ``BLOCKS_PER_WORKER`` blocks per worker over the whole run,
            splitting a scene in proportion to its share of the rows, with
            blocks of ``MIN_BLOCK_ROWS`` to ``MAX_BLOCK_ROWS`` chip rows (a
            scene smaller than that stays one block). Many small scenes stay
            whole; one large scene is split so every worker is busy.

    Returns:
        Per scene, its ``(first, stop)`` chip-row ranges, in order.
    """
    if block_rows is not None:
        if block_rows < 1:
            raise BasissError(f"block rows must be >= 1, got {block_rows}")
        return [[(a, min(a + block_rows, n)) for a in range(0, n, block_rows)] for n in chip_rows]
    total = max(1, sum(chip_rows))
    target = BLOCKS_PER_WORKER * max(1, workers)
    plans = []
    for n in chip_rows:
        share = math.ceil(target * n / total)
        k = max(math.ceil(n / MAX_BLOCK_ROWS), min(share, n // MIN_BLOCK_ROWS))
        plans.append(split_rows(n, max(1, k)))
    return plans


# ------------------------------------------------------------------ worker side

_CACHE: dict[tuple[Any, ...], Predictor] = {}
_CACHE_LOCK = threading.Lock()
_LOADS = 0
#: Predictors kept per worker (one per checkpoint/options in use).
CACHE_SIZE = 2


def _worker_threads() -> int | None:
    """The Dask threads of the worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def _relax_malloc_trim() -> bool:
    """Undo, in this process, the nanny's ``MALLOC_TRIM_THRESHOLD_=65536`` (glibc only).

    Dask's nanny starts workers with that setting so they hand freed memory
    back to the OS at once. A fixed trim threshold also freezes glibc's mmap
    threshold at 128 KiB, so every chip batch's tensors are fresh ``mmap``
    pages, and inference runs 3x slower (measured, 1 thread, small unet: four
    600x600 scenes in 1.6 s in a plain process, 4.9 s in a worker, 2.2 s in a
    worker after this). Here the thresholds become 32 MiB (mmap: larger
    arrays are still returned at once) and 128 MiB (trim).

    Returns:
        True when the thresholds were changed.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = libc.mallopt(m_mmap_threshold, 32 << 20) == 1
    return libc.mallopt(m_trim_threshold, 128 << 20) == 1 and ok


def worker_predictor(checkpoint: PathLike, options: PredictOptions) -> Predictor:
    """The predictor for ``checkpoint``, built once per worker process and cached.

    The key is the checkpoint's resolved path, mtime and size, and the options
    (a changed file or option builds a new one). ``options.threads`` None
    means the worker's Dask threads. Thread-safe.
    """
    global _LOADS
    path = Path(checkpoint).resolve()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise file_error(path, "no such checkpoint (on this worker)") from None
    opts = replace(options, show_progress=False)
    if opts.threads is None:
        opts = replace(opts, threads=_worker_threads())
    key = (str(path), st.st_mtime_ns, st.st_size, repr(opts))
    with _CACHE_LOCK:
        pred = _CACHE.get(key)
        if pred is None:
            if not _LOADS:
                _relax_malloc_trim()
            pred = load_predictor(path, opts)
            _LOADS += 1
            while len(_CACHE) >= CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = pred
    return pred


def worker_loads() -> int:
    """How many predictors this process has built (run it on workers with ``client.run``)."""
    return _LOADS


@dataclass(frozen=True)
class BlockResult:
    """One predicted block: its files, rows and chips."""

    prob_path: Path
    mask_path: Path
    row0: int
    row1: int
    chips: int


def predict_scene_task(
    image: str, checkpoint: str, options: PredictOptions, out_dir: str
) -> PredictOutputs:
    """Task: a whole (one-block) scene straight into its final outputs."""
    return predict_image(image, worker_predictor(checkpoint, options), out_dir)


def predict_block(
    pred: Predictor, scene: Scene, first: int, stop: int, prob_path: Path, mask_path: Path
) -> BlockResult:
    """Predict chip rows ``first .. stop-1`` of ``scene`` into a block file pair.

    The files hold the block's own pixel rows (:func:`basiss.inference.predict.owned_rows`)
    on the scene's grid (origin shifted), written atomically.
    """
    row0, row1 = owned_rows(scene.grid, first, stop)
    with open_raster(scene.path) as ds, scene.env():
        rows = stream_rows(pred, ds, scene, first, stop)
        chips = write_rows(rows, prob_path, mask_path, scene.rows_profile(row0, row1))
    return BlockResult(Path(prob_path), Path(mask_path), row0, row1, chips)


def predict_block_task(
    checkpoint: str,
    options: PredictOptions,
    scene: Scene,
    first: int,
    stop: int,
    part_dir: str,
) -> BlockResult:
    """Task: one block of a scene into ``part_dir`` (see :func:`predict_block`)."""
    pred = worker_predictor(checkpoint, options)
    base = Path(part_dir) / f"rows{first:06d}-{stop:06d}"
    return predict_block(
        pred, scene, first, stop, base.with_name(base.name + "_prob.tif"),
        base.with_name(base.name + "_mask.tif"),
    )  # fmt: skip


def _block_rows(part: BlockResult, bands: int) -> Iterator[Rows]:
    """The rows of a block file pair, read back in strips of one tile height."""
    with rasterio.open(part.prob_path) as p, rasterio.open(part.mask_path) as m:
        if p.height != part.row1 - part.row0 or p.count != bands:
            raise file_error(part.prob_path, "block file does not match its block")
        for r in range(0, p.height, TILE):
            win = Window(0, r, p.width, min(TILE, p.height - r))
            yield Rows(
                row=part.row0 + r,
                prob=p.read(window=win),
                mask=m.read(1, window=win),
                valid=p.dataset_mask(window=win) > 0,
                chips=0,
            )


def assemble_blocks(
    scene: Scene, parts: Sequence[BlockResult], prob_path: PathLike, mask_path: PathLike
) -> int:
    """Stream block file pairs, top to bottom, into the scene's final output pair.

    Returns:
        The chips the blocks ran (halo chips count once per block that ran them).

    Raises:
        ValueError: the blocks do not tile the scene's rows (a planning bug).
    """
    ordered = sorted(parts, key=lambda b: b.row0)
    edges = [b.row0 for b in ordered] + [scene.height]
    if edges[0] != 0 or any(b.row1 != e for b, e in zip(ordered, edges[1:], strict=True)):
        raise ValueError(f"blocks {[(b.row0, b.row1) for b in ordered]} do not tile the scene")

    def rows() -> Iterator[Rows]:
        for part in ordered:
            yield from _block_rows(part, scene.profile["count"])

    with scene.env():
        write_rows(rows(), prob_path, mask_path, scene.profile)
    return sum(b.chips for b in ordered)


def assemble_task(
    scene: Scene, parts: list[BlockResult], prob_path: str, mask_path: str, part_dir: str
) -> int:
    """Task: assemble a scene's blocks (:func:`assemble_blocks`), then delete them."""
    chips = assemble_blocks(scene, parts, prob_path, mask_path)
    shutil.rmtree(part_dir, ignore_errors=True)
    return chips


# ------------------------------------------------------------------ client side


def parse_scheduler(text: str) -> tuple[str, Any]:
    """``local:N`` -> ``("local", N)``; ``tcp://HOST:PORT`` (or another Dask address) -> as is.

    Raises:
        BasissError: anything else.
    """
    if text.startswith("local:"):
        n = text.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise BasissError(f"--scheduler {text!r}: local:N needs N >= 1 workers")
        return "local", int(n)
    if "://" in text and text.split("://", 1)[1]:
        return "address", text
    raise BasissError(f"--scheduler {text!r}: use local:N or tcp://HOST:PORT")


@contextlib.contextmanager
def connect(scheduler: Any, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``, closed (cluster too) on exit.

    Args:
        scheduler: ``local:N`` (a loopback :class:`~distributed.LocalCluster` of
            N one-thread worker processes), a scheduler address
            (``tcp://HOST:PORT``), or an existing ``Client`` (used, not closed).
        timeout: seconds to wait for the connection.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    kind, value = parse_scheduler(str(scheduler))
    if kind == "local":
        with (
            LocalCluster(
                n_workers=value,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster, timeout=timeout) as client,
        ):
            yield client
        return
    try:
        client = Client(value, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise BasissError(f"cannot reach the Dask scheduler at {value} ({exc})") from None
    with client:
        yield client


def _local_threads(scheduler: Any) -> int | None:
    """Torch threads per worker of a ``local:N`` cluster (the cores shared out), else None."""
    if not isinstance(scheduler, str):
        return None
    kind, n = parse_scheduler(scheduler)
    if kind != "local":
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // n)


@dataclass
class _Job:
    """One scene's plan and bookkeeping on the client."""

    image: Path
    scene: Scene
    blocks: list[tuple[int, int]]
    part_dir: Path | None = None
    done: float | None = None
    chips: int = 0


def predict_distributed(
    images: Sequence[PathLike],
    checkpoint: PathLike,
    out_dir: PathLike,
    options: PredictOptions | None = None,
    scheduler: Any = "local:2",
    block_rows: int | None = None,
    retries: int = 2,
    timeout: float | None = None,
) -> list[PredictOutputs]:
    """Predict images (paths, folders, file-list CSVs) on a Dask cluster.

    Outputs are those of :func:`basiss.inference.predict.predict_many`, bit for bit.

    Args:
        images: inputs, as for :func:`basiss.inference.predict.predict_many`.
        checkpoint: the checkpoint file (its path is what workers load).
        out_dir: output folder (shared by the client and the workers).
        options: prediction options (``threads`` None: see the module docstring).
        scheduler: ``local:N``, ``tcp://HOST:PORT``, or a ``distributed.Client``.
        block_rows: chip rows per block (None: :func:`plan_blocks` decides).
        retries: re-runs of a failed task before the run fails.
        timeout: seconds for the whole run (None: no limit); on expiry the
            run's tasks are cancelled and :class:`TimeoutError` is raised.

    Returns:
        One :class:`PredictOutputs` per image, in input order; ``seconds`` is the
        time from submission to the scene's outputs being in place, ``chips``
        counts halo chips once per block that ran them.
    """
    from distributed import as_completed

    t0 = time.perf_counter()
    if retries < 0:
        raise BasissError(f"retries must be >= 0, got {retries}")
    opts = options or PredictOptions()
    if opts.threads is None:
        opts = replace(opts, threads=_local_threads(scheduler))
    ckpt = Path(checkpoint).resolve()
    _, spec = load_checkpoint(ckpt)
    chip, stride = chip_geometry(spec, opts)
    paths = expand_inputs(images)
    scenes = []
    for p in paths:
        with open_raster(p) as ds:
            scenes.append(scene_info(ds, p, spec, chip, stride))
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with connect(scheduler) as client:
        workers = sum(client.nthreads().values())
        plans = plan_blocks([len(s.grid.rows) for s in scenes], workers, block_rows)
        jobs = [_Job(p, s, b) for p, s, b in zip(paths, scenes, plans, strict=True)]
        try:
            _run(client, jobs, str(ckpt), opts, out, retries, timeout, as_completed)
        finally:
            for job in jobs:
                if job.part_dir is not None:
                    shutil.rmtree(job.part_dir, ignore_errors=True)
    results = []
    for job in jobs:
        prob_path, mask_path = output_paths(job.image, out)
        results.append(
            PredictOutputs(
                prob_path=prob_path,
                mask_path=mask_path,
                seconds=(job.done or time.perf_counter()) - t0,
                chips=job.chips,
                chips_total=len(job.scene.grid),
                pixels=job.scene.width * job.scene.height,
            )
        )
    return results


def _run(
    client: Any,
    jobs: list[_Job],
    ckpt: str,
    opts: PredictOptions,
    out: Path,
    retries: int,
    timeout: float | None,
    as_completed: Any,
) -> None:
    """Submit every scene's tasks, count progress, record finish times; cancel on failure."""
    t0 = time.perf_counter()
    token = uuid.uuid4().hex[:8]
    weight: dict[str, int] = {}  # future key -> chips it finishes (progress)
    final: dict[str, _Job] = {}  # future key -> the job whose outputs it writes
    futures = []
    for job in jobs:
        stem, cols = job.image.stem, len(job.scene.grid.cols)
        prob_path, mask_path = output_paths(job.image, out)
        if len(job.blocks) == 1:
            f = client.submit(
                predict_scene_task, str(job.image), ckpt, opts, str(out),
                key=f"basiss-scene-{stem}-{token}", retries=retries, pure=False,
            )  # fmt: skip
            weight[f.key], final[f.key] = len(job.scene.grid), job
            futures.append(f)
            continue
        job.part_dir = out / f".{stem}.blocks-{token}"
        job.part_dir.mkdir(parents=True, exist_ok=True)
        parts = []
        for first, stop in job.blocks:
            f = client.submit(
                predict_block_task, ckpt, opts, job.scene, first, stop, str(job.part_dir),
                key=f"basiss-block-{stem}-{first}-{token}", retries=retries, pure=False,
            )  # fmt: skip
            weight[f.key] = (stop - first) * cols
            parts.append(f)
        f = client.submit(
            assemble_task, job.scene, parts, str(prob_path), str(mask_path), str(job.part_dir),
            key=f"basiss-assemble-{stem}-{token}", retries=retries, pure=False, priority=1,
        )  # fmt: skip
        final[f.key] = job
        futures += [*parts, f]
    total = sum(len(j.scene.grid) for j in jobs)
    bar = progress(total=total, unit="chip", desc=f"predict {len(jobs)} image(s) on dask")
    try:
        with bar:
            for f in as_completed(futures, timeout=timeout):
                result = f.result()  # re-raises the task's error
                bar.update(weight.get(f.key, 0))
                job = final.get(f.key)
                if job is not None:
                    job.done = time.perf_counter()
                    job.chips = result.chips if isinstance(result, PredictOutputs) else result
                mpx = sum(j.scene.width * j.scene.height for j in jobs if j.done) / 1e6
                bar.set_postfix_str(f"{mpx / max(time.perf_counter() - t0, 1e-9):.2f} Mpx/s")
    except BaseException:
        client.cancel(futures, force=True)
        raise
