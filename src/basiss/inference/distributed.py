"""Broad-area prediction on a Dask cluster: many scenes, and huge scenes in row blocks.

``basiss predict --scheduler local:N`` starts a :class:`distributed.LocalCluster`
of N single-threaded worker processes (:mod:`basiss.inference.cluster`);
``--scheduler tcp://HOST:PORT`` uses a running cluster (``dask scheduler`` +
``dask worker``). Every path (images, checkpoint, output folder) must name the
same file on the client and on every worker: a shared or network file system,
mounted at the same place.

Work units
    The client opens each image (metadata only, plus the decimated read that
    fixes the 16->8 bit stretch once per scene) and cuts the scene's chip grid
    into blocks of consecutive chip rows (:func:`basiss.inference.plan.plan_blocks`).
    A scene of one block is one task that writes the final outputs directly.
    A larger scene gives one task per block, then one assembly task
    (:mod:`basiss.inference.worker`).

Exact halo
    A block runs the earlier chip rows whose chips reach into its band of pixel
    rows (:func:`basiss.grid.halo_start`), in the same order and batches,
    through the same streaming core as one process: every output pixel sums
    the very same chips in the same order, so the result equals the
    single-process output bit for bit, with either blend. The halo costs
    about one extra chip row per block (400/300 chips: 1 row in 7 with the
    default block size).

Writing: per-block files, assembled by a final task
    Each block task writes its band of rows to its own small GeoTIFF pair in a
    hidden folder beside the outputs (``.<stem>.blocks-<key>/``,
    :mod:`basiss.inference.blocks`), atomically. The assembly task runs when
    every block of the scene is done: it streams the block files, in order,
    into ``<stem>_prob.tif`` / ``<stem>_mask.tif``, then deletes the block
    files. This was chosen over workers writing into one shared file under a
    lock because a compressed tiled GeoTIFF cannot safely take concurrent
    writers from several machines, a lock across machines is one more thing
    to fail, and a block killed half-way would leave a shared file
    half-written; with per-block files a retried task simply rewrites its own
    file, and the output appears whole or not at all. The cost is writing the
    pixels twice (deflate level 1, fast next to the model).

Resuming
    The block folder is named by the run key (:func:`basiss.inference.resume.run_key`:
    checkpoint bytes, options, image). A re-run after the client was killed
    submits only the blocks whose files are missing and assembles the rest from
    the folder; leftovers of dead runs on the same outputs are removed first. A
    run that fails with an error removes its blocks; an interrupted one keeps them.

Failures
    Tasks are submitted with ``retries`` (default 2) for exceptions; a worker
    that dies (killed, out of memory, machine lost) has its tasks re-run
    elsewhere by the scheduler. A user error (bad band count...) is raised
    on the client as the same one-line :class:`basiss.errors.BasissError`.
    Progress (chips) is counted on the client as block futures complete.
    Torch threads per worker: ``--threads``, else the worker's Dask threads
    (``dask worker --nthreads``); a ``local:N`` cluster gives each worker
    ``cores // N``.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from basiss.errors import BasissError
from basiss.graph.options import GraphOptions
from basiss.inference.blocks import BlockResult
from basiss.inference.catalog import write_prediction_collection, write_prediction_item
from basiss.inference.cluster import connect, local_threads
from basiss.inference.gsd import input_gsd, scale_factor
from basiss.inference.inputs import expand_inputs
from basiss.inference.options import PredictOptions
from basiss.inference.plan import plan_blocks
from basiss.inference.predict import PredictOutputs
from basiss.inference.predictor import checkpoint_digest, chip_geometry, with_calibration
from basiss.inference.resume import (
    block_chips,
    block_dir,
    clean_leftovers,
    finished_blocks,
    open_block_dir,
    run_key,
)
from basiss.inference.scene import Scene, scene_info
from basiss.inference.writer import output_paths, prepare_out_dir
from basiss.io.raster import PathLike, open_raster
from basiss.progress import progress
from basiss.training.checkpoint import load_checkpoint


@dataclass
class _Job:
    """One scene's plan and bookkeeping on the client."""

    image: Path
    scene: Scene
    blocks: list[tuple[int, int]]
    part_dir: Path | None = None
    reused: dict[tuple[int, int], BlockResult] | None = None
    done: float | None = None
    chips: int = 0
    chips_total: int | None = None
    graph_paths: dict[str, Path] = field(default_factory=dict)

    def prepare(self, out: Path, key: str) -> None:
        """Clean leftovers of dead runs; for a scene of several blocks, open its keyed
        block folder and note the blocks an interrupted run finished."""
        stem = self.image.stem
        if len(self.blocks) == 1:
            clean_leftovers(out, stem)
            return
        self.part_dir = block_dir(out, stem, key)
        clean_leftovers(out, stem, keep=self.part_dir)
        open_block_dir(self.part_dir, key)
        self.reused = finished_blocks(self.part_dir, self.scene, self.blocks)


def predict_distributed(
    images: Sequence[PathLike],
    checkpoint: PathLike,
    out_dir: PathLike,
    options: PredictOptions | None = None,
    scheduler: Any = "local:2",
    block_rows: int | None = None,
    retries: int = 2,
    timeout: float | None = None,
    graph: GraphOptions | None = None,
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
        graph: also extract each scene's road network on the cluster, once its
            probability is written (see :func:`basiss.inference.predict.predict_image`).

    Returns:
        One :class:`PredictOutputs` per image, in input order; ``seconds`` is the
        time from submission to the scene's outputs being in place, ``chips``
        counts halo chips once per block that ran them.
    """
    t0 = time.perf_counter()
    if retries < 0:
        raise BasissError(f"retries must be >= 0, got {retries}")
    opts = options or PredictOptions()
    if opts.threads is None:
        opts = replace(opts, threads=local_threads(scheduler))
    ckpt = Path(checkpoint).resolve()
    _, spec = load_checkpoint(ckpt)
    chip, stride = chip_geometry(spec, opts)
    paths = expand_inputs(images)
    opts = with_calibration(opts, paths)  # int8: every worker calibrates alike
    scenes, rescaled = [], []
    for p in paths:
        with open_raster(p) as ds:
            scenes.append(scene_info(ds, p, spec, chip, stride))
            factor = scale_factor(spec.gsd, input_gsd(ds, opts.input_gsd), opts.gsd, spec.zoom)
        rescaled.append(factor != 1.0)
    out = prepare_out_dir(Path(out_dir).resolve())
    digest = checkpoint_digest(ckpt)
    with connect(scheduler) as client:
        workers = sum(client.nthreads().values())
        plans = plan_blocks([len(s.grid.rows) for s in scenes], workers, block_rows)
        # a scene predicted at the model's GSD is one task (predict_image resamples it)
        plans = [
            [(0, len(s.grid.rows))] if r else b
            for s, b, r in zip(scenes, plans, rescaled, strict=True)
        ]
        jobs = [_Job(p, s, b) for p, s, b in zip(paths, scenes, plans, strict=True)]
        for job in jobs:
            job.prepare(out, run_key(digest, opts, chip, stride, job.image))
        try:
            _run(client, jobs, str(ckpt), opts, out, retries, timeout, graph)
        except Exception:
            for job in jobs:
                if job.part_dir is not None:
                    shutil.rmtree(job.part_dir, ignore_errors=True)
            raise
    outputs = [_with_item(_outputs(job, out, t0), job, spec, digest) for job in jobs]
    write_prediction_collection([o.item_path for o in outputs if o.item_path], out)
    return outputs


def _with_item(result: PredictOutputs, job: _Job, spec: Any, digest: str) -> PredictOutputs:
    """``result`` with its STAC item written (on the client, once the network is in place)."""
    item = write_prediction_item(
        job.image, result.prob_path, result.mask_path, spec, digest, result.graph_paths,
        has_crs=job.scene.profile["crs"] is not None,
    )  # fmt: skip
    return replace(result, item_path=item)


def _outputs(job: _Job, out: Path, t0: float) -> PredictOutputs:
    """The :class:`PredictOutputs` of a finished job."""
    prob_path, mask_path = output_paths(job.image, out)
    return PredictOutputs(
        prob_path=prob_path,
        mask_path=mask_path,
        seconds=(job.done or time.perf_counter()) - t0,
        chips=job.chips,
        chips_total=job.chips_total or len(job.scene.grid),
        pixels=job.scene.width * job.scene.height,
        graph_paths=job.graph_paths,
    )


@dataclass
class _Submitted:
    """The futures of a run: all of them, their progress weights, and the final ones."""

    futures: list[Any]
    weight: dict[str, int]  # future key -> chips it finishes (progress)
    final: dict[str, _Job]  # future key -> the job whose outputs it writes
    graphs: dict[str, _Job] = field(default_factory=dict)  # future key -> its network's job


def _submit_graphs(
    client: Any, sub: _Submitted, out: Path, graph: GraphOptions, retries: int
) -> None:
    """After each scene's final task, a task extracting its road network."""
    from basiss.inference import worker

    for key, job in list(sub.final.items()):
        final = next(f for f in sub.futures if f.key == key)
        prob_path, _ = output_paths(job.image, out)
        g = client.submit(
            worker.graph_task, final, str(prob_path), str(out), graph,
            key=f"basiss-graph-{job.image.stem}-{key.rsplit('-', 1)[-1]}", retries=retries,
            pure=False, priority=1,
        )  # fmt: skip
        sub.graphs[g.key] = job
        sub.futures.append(g)


def _submit(
    client: Any, jobs: list[_Job], ckpt: str, opts: PredictOptions, out: Path, retries: int
) -> _Submitted:
    """Submit every scene's tasks: one scene task, or block tasks and an assembly task."""
    from basiss.inference import worker

    token = uuid.uuid4().hex[:8]
    sub = _Submitted([], {}, {})
    for job in jobs:
        stem, cols = job.image.stem, len(job.scene.grid.cols)
        prob_path, mask_path = output_paths(job.image, out)
        if len(job.blocks) == 1:
            f = client.submit(
                worker.predict_scene_task, str(job.image), ckpt, opts, str(out),
                key=f"basiss-scene-{stem}-{token}", retries=retries, pure=False,
            )  # fmt: skip
            sub.weight[f.key], sub.final[f.key] = len(job.scene.grid), job
            sub.futures.append(f)
            continue
        assert job.part_dir is not None and job.reused is not None
        parts: list[Any] = []
        for first, stop in job.blocks:
            if (first, stop) in job.reused:
                parts.append(job.reused[(first, stop)])
                continue
            f = client.submit(
                worker.predict_block_task, ckpt, opts, job.scene, first, stop, str(job.part_dir),
                key=f"basiss-block-{stem}-{first}-{token}", retries=retries, pure=False,
            )  # fmt: skip
            sub.weight[f.key] = (stop - first) * cols
            parts.append(f)
        f = client.submit(
            worker.assemble_task, job.scene, parts, str(prob_path), str(mask_path),
            str(job.part_dir), key=f"basiss-assemble-{stem}-{token}", retries=retries,
            pure=False, priority=1,
        )  # fmt: skip
        sub.final[f.key] = job
        sub.futures += [*(p for p in parts if not isinstance(p, BlockResult)), f]
    return sub


def _run(
    client: Any,
    jobs: list[_Job],
    ckpt: str,
    opts: PredictOptions,
    out: Path,
    retries: int,
    timeout: float | None,
    graph: GraphOptions | None = None,
) -> None:
    """Submit every scene's tasks, count progress, record finish times; cancel on failure."""
    from distributed import as_completed

    t0 = time.perf_counter()
    sub = _submit(client, jobs, ckpt, opts, out, retries)
    if graph is not None:
        _submit_graphs(client, sub, out, graph, retries)
    total = sum(len(j.scene.grid) for j in jobs)
    reused = sum(block_chips(j.scene, list(j.reused or ())) for j in jobs)
    bar = progress(
        total=total, initial=reused, unit="chip", desc=f"predict {len(jobs)} image(s) on dask"
    )
    try:
        with bar:
            for f in as_completed(sub.futures, timeout=timeout):
                result = f.result()  # re-raises the task's error
                bar.update(sub.weight.get(f.key, 0))
                if f.key in sub.graphs:
                    sub.graphs[f.key].graph_paths = {k: Path(v) for k, v in result.items()}
                    continue
                job = sub.final.get(f.key)
                if job is not None:
                    job.done = time.perf_counter()
                    job.chips = result.chips if isinstance(result, PredictOutputs) else result
                    if isinstance(result, PredictOutputs):  # a scene task: its own grid
                        job.chips_total = result.chips_total
                mpx = sum(j.scene.width * j.scene.height for j in jobs if j.done) / 1e6
                bar.set_postfix_str(f"{mpx / max(time.perf_counter() - t0, 1e-9):.2f} Mpx/s")
    except BaseException:
        client.cancel(sub.futures, force=True)
        raise


__all__ = ["BlockResult", "predict_distributed"]
