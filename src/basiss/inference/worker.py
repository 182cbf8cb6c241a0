"""The worker side of a distributed run: a cached predictor per process, and the tasks.

Tasks carry the checkpoint *path*, never the model. Each worker process keeps
the predictor it built in a small cache keyed by the checkpoint's path, mtime
and size and the prediction options (:func:`worker_predictor`), so the model is
loaded (and, for ``--engine onnx``, exported) once per worker, and a re-trained
checkpoint at the same path is picked up. On its first load a worker also
undoes the nanny's ``MALLOC_TRIM_THRESHOLD_`` (:func:`relax_malloc_trim`), which
made inference 3x slower. Every task is idempotent: a re-run writes the same files.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from basiss.errors import file_error
from basiss.graph.options import GraphOptions
from basiss.inference.blocks import BlockResult, assemble_blocks, block_paths, predict_block
from basiss.inference.options import PredictOptions
from basiss.inference.predictor import Predictor, load_predictor
from basiss.inference.scene import Scene
from basiss.io.raster import PathLike

_CACHE: dict[tuple[Any, ...], Predictor] = {}
_CACHE_LOCK = threading.Lock()
_LOADS = 0
#: Predictors kept per worker (one per checkpoint/options in use).
CACHE_SIZE = 2
#: glibc ``mallopt`` parameters and the values set on a worker.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 128 << 20


def _worker_threads() -> int | None:
    """The Dask threads of the worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def relax_malloc_trim() -> bool:
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
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok


def worker_predictor(checkpoint: PathLike, options: PredictOptions) -> Predictor:
    """The predictor for ``checkpoint``, built once per worker process and cached.

    The key is the checkpoint's resolved path, mtime and size, and the options
    (a changed file or option builds a new one). ``options.threads`` None
    means the worker's Dask threads. Thread-safe.

    Raises:
        BasissError: the checkpoint is not there on this worker.
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
                relax_malloc_trim()
            pred = load_predictor(path, opts)
            _LOADS += 1
            while len(_CACHE) >= CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = pred
    return pred


def worker_loads() -> int:
    """How many predictors this process has built (run it on workers with ``client.run``)."""
    return _LOADS


def predict_scene_task(image: str, checkpoint: str, options: PredictOptions, out_dir: str) -> Any:
    """Task: a whole (one-block) scene straight into its final outputs.

    Returns:
        The :class:`basiss.inference.predict.PredictOutputs` of the scene.
    """
    from basiss.inference.predict import predict_image

    return predict_image(image, worker_predictor(checkpoint, options), out_dir)


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
    return predict_block(pred, scene, first, stop, *block_paths(part_dir, first, stop))


def assemble_task(
    scene: Scene, parts: list[BlockResult], prob_path: str, mask_path: str, part_dir: str
) -> int:
    """Task: assemble a scene's blocks (:func:`assemble_blocks`), then delete them."""
    chips = assemble_blocks(scene, parts, prob_path, mask_path)
    shutil.rmtree(part_dir, ignore_errors=True)
    return chips


def graph_task(_after: Any, prob_path: str, out_dir: str, options: GraphOptions) -> dict[str, str]:
    """Task: the road network of a finished probability raster (``_after``: the task that
    wrote it, so this runs once it is in place); returns the files by format."""
    from basiss.graph.run import graph_image

    return {k: str(v) for k, v in graph_image(prob_path, out_dir, options).paths.items()}
