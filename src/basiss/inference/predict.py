"""Streaming broad-area prediction of whole images: :func:`predict_image`, :func:`predict_many`.

The chip grid is training's (:func:`basiss.grid.chip_grid`, flush to the edge);
the image is streamed one chip row at a time (:mod:`basiss.inference.stream`),
so peak memory depends on image width and chip size, never on height.

Outputs, on the input's exact grid (CRS, transform, size), tiled + deflate
(:mod:`basiss.inference.writer`):

- ``<stem>_prob.tif``: uint8, one band per non-background class, probability
  ``round(255 * p)`` (the full 0..255 range is data).
- ``<stem>_mask.tif``: uint8, 0 = background, 1 = road (class index 1..K-1
  with several classes) where the probability is ``>= threshold``.

Input pixels that are nodata in every band (0, or the file's nodata value) are
nodata in both outputs (GDAL's internal mask band); chips with no valid pixel
are not run through the model. Blending: :mod:`basiss.inference.blend`.

The names other modules and scripts import from here (options, predictor,
scene, writer, inputs) are re-exported.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import rasterio
from torch import nn

from basiss.graph.options import GraphOptions
from basiss.graph.run import graph_image
from basiss.grid import owned_rows
from basiss.inference.blend import blend_weights, quantise, threshold_mask
from basiss.inference.blocks import BlockResult, assemble_blocks, block_paths
from basiss.inference.catalog import write_prediction_collection, write_prediction_item
from basiss.inference.gsd import (
    input_gsd,
    rows_on_grid,
    scale_factor,
    scaled_size,
    write_scaled_vrt,
)
from basiss.inference.inputs import expand_inputs
from basiss.inference.options import BLENDS, Blend, PredictOptions
from basiss.inference.predictor import Predictor, chip_geometry, load_predictor
from basiss.inference.resume import (
    block_chips,
    block_dir,
    clean_leftovers,
    finished_blocks,
    open_block_dir,
    resume_plan,
    run_key,
)
from basiss.inference.scene import TILE, Scene, scene_info
from basiss.inference.stream import Rows, stream_rows
from basiss.inference.writer import output_paths, prepare_out_dir, write_rows
from basiss.io.raster import PathLike, open_raster
from basiss.progress import progress
from basiss.training.checkpoint import ModelSpec

__all__ = [
    "BLENDS",
    "TILE",
    "Blend",
    "PathLike",
    "PredictOptions",
    "PredictOutputs",
    "Predictor",
    "Rows",
    "Scene",
    "blend_weights",
    "chip_geometry",
    "expand_inputs",
    "load_predictor",
    "output_paths",
    "predict_image",
    "predict_many",
    "quantise",
    "scene_info",
    "stream_rows",
    "threshold_mask",
    "write_rows",
]


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
        graph_paths: the road network's files by format (``predict --graph``), else empty.
        item_path: the STAC item ``<stem>_item.json`` (None for an image without CRS).
    """

    prob_path: Path
    mask_path: Path
    seconds: float
    chips: int
    chips_total: int = 0
    pixels: int = 0
    graph_paths: dict[str, Path] = field(default_factory=dict)
    item_path: Path | None = None

    @property
    def mpx_per_s(self) -> float:
        """Throughput in megapixels per second of wall time."""
        return self.pixels / 1e6 / max(self.seconds, 1e-9)


def predict_image(
    image: PathLike,
    model_or_checkpoint: PathLike | tuple[nn.Module, ModelSpec] | Predictor,
    out_dir: PathLike,
    options: PredictOptions | None = None,
    graph: GraphOptions | None = None,
) -> PredictOutputs:
    """Predict one image of any size, streaming, into ``out_dir``.

    A scene of several chip-row blocks (:func:`basiss.inference.resume.resume_plan`)
    is written block by block to a hidden folder, then assembled: a re-run after a
    kill reuses the finished blocks (:mod:`basiss.inference.resume`) and writes the
    same outputs as an uninterrupted run. A run that fails with an error removes its
    blocks; one that is interrupted (Ctrl-C, a kill) keeps them for the next run.

    Args:
        image: a raster with the checkpoint's bands (any dtype; non-uint8 is
            stretched as in training).
        model_or_checkpoint: checkpoint path, ``(model, spec)``, or a
            :class:`Predictor` (then its own options apply and ``options`` is
            ignored).
        out_dir: folder for ``<stem>_prob.tif`` and ``<stem>_mask.tif``.
        options: see :class:`PredictOptions`.
        graph: also extract the road network of the probability
            (:func:`basiss.graph.run.graph_image`, every format) with these options.

    Returns:
        The written paths, wall time and chip counts (``chips``: chips run by this
        call; blocks reused from an interrupted run count none).

    Raises:
        BasissError: a bad output folder, image, or image that does not fit the model.
    """
    t0 = time.perf_counter()
    out = prepare_out_dir(out_dir)
    pred = load_predictor(model_or_checkpoint, options, images=[image])
    prob_path, mask_path = output_paths(image, out)
    with open_raster(image) as ds:
        gsd = input_gsd(ds, pred.options.input_gsd)
    factor = scale_factor(pred.spec.gsd, gsd, pred.options.gsd, pred.spec.zoom)
    if factor != 1.0:
        chips_run, chips_total, scene = _predict_rescaled(image, pred, out, factor, gsd)
    else:
        chips_run, chips_total, scene = _predict_native(image, pred, out)
    graph_paths = {} if graph is None else graph_image(prob_path, out, graph).paths
    item = write_prediction_item(
        image, prob_path, mask_path, pred.spec, pred.digest, graph_paths,
        has_crs=scene.profile["crs"] is not None,
    )  # fmt: skip
    return PredictOutputs(
        prob_path=prob_path,
        mask_path=mask_path,
        seconds=time.perf_counter() - t0,
        chips=chips_run,
        chips_total=chips_total,
        pixels=scene.width * scene.height,
        graph_paths=graph_paths,
        item_path=item,
    )


def _predict_rescaled(
    image: PathLike, pred: Predictor, out: Path, factor: float, gsd: float | None
) -> tuple[int, int, Scene]:
    """Predict ``image`` resampled by ``factor`` (to the model's GSD) in a hidden working
    folder ``.<stem>.gsd/``, then write the outputs on the image's own grid
    (:mod:`basiss.inference.gsd`). Returns the chips run, the chips of the resampled grid
    and the image's scene."""
    stem = Path(image).stem
    work = out / f".{stem}.gsd"
    work.mkdir(exist_ok=True)
    if pred.options.show_progress:
        why = (
            f"{gsd:g} m pixels, the model's are {pred.spec.gsd:g} m"
            if gsd is not None and pred.spec.gsd is not None
            else f"the model learnt at x{pred.spec.zoom:g} of its training images' resolution"
        )
        print(
            f"{Path(image).name}: {why}: predicting at x{factor:.3g} and back onto the input grid",
            file=sys.stderr,
        )
    try:
        with open_raster(image) as ds:
            vrt = write_scaled_vrt(
                image, ds, scaled_size(ds.width, ds.height, factor), work / f"{stem}.vrt"
            )
        inner = replace(pred, options=replace(pred.options, gsd="off", input_gsd=None))
        done = _predict_native(vrt, inner, work)
        prob_path, mask_path = output_paths(image, out)
        with open_raster(image) as ds:
            scene = scene_info(ds, image, pred.spec, pred.chip, pred.stride)
            with scene.env():
                rows = rows_on_grid(work / f"{stem}_prob.tif", ds, work, pred.options.threshold)
                write_rows(rows, prob_path, mask_path, scene.profile)
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # an interrupted run (Ctrl-C, a kill) keeps the folder: its VRT is rewritten only when
    # it changes, so the next run's blocks have the same key and resume
    shutil.rmtree(work, ignore_errors=True)
    return done[0], done[1], scene


def _predict_native(image: PathLike, pred: Predictor, out: Path) -> tuple[int, int, Scene]:
    """Predict ``image`` on its own grid into ``out``; returns the chips run, the chips of
    the grid and the scene."""
    prob_path, mask_path = output_paths(image, out)
    with open_raster(image) as ds:
        scene = scene_info(ds, image, pred.spec, pred.chip, pred.stride)
        plan = resume_plan(len(scene.grid.rows))
        bar = progress(
            total=len(scene.grid),
            unit="chip",
            desc=Path(image).name,
            disable=None if pred.options.show_progress else True,
        )
        with scene.env(), bar:
            if len(plan) == 1:
                clean_leftovers(out, Path(image).stem)
                rows = _rate(stream_rows(pred, ds, scene, tick=bar.update), bar, scene.width)
                chips_run = write_rows(rows, prob_path, mask_path, scene.profile)
            else:
                chips_run = _predict_blocks(pred, ds, scene, plan, (prob_path, mask_path), bar)
    return chips_run, len(scene.grid), scene


def _todo_runs(
    plan: Sequence[tuple[int, int]], done: Iterable[tuple[int, int]]
) -> list[list[tuple[int, int]]]:
    """The blocks of ``plan`` not in ``done``, grouped into runs of consecutive blocks.

    >>> _todo_runs([(0, 1), (1, 2), (2, 3), (3, 4)], [(1, 2)])
    [[(0, 1)], [(2, 3), (3, 4)]]
    """
    finished = set(done)
    runs: list[list[tuple[int, int]]] = []
    for block in plan:
        if block in finished:
            continue
        if runs and runs[-1][-1][1] == block[0]:
            runs[-1].append(block)
        else:
            runs.append([block])
    return runs


def _predict_blocks(
    pred: Predictor,
    ds: rasterio.io.DatasetReader,
    scene: Scene,
    plan: Sequence[tuple[int, int]],
    outputs: tuple[Path, Path],
    bar: Any,
) -> int:
    """Predict the blocks of ``plan`` not finished yet into the run's block folder, then
    assemble the outputs. Each run of consecutive missing blocks is one stream (its halo
    once, at its start). Returns the chips run."""
    out, stem = outputs[0].parent, scene.path.stem
    key = run_key(pred.digest, pred.options, pred.chip, pred.stride, scene.path)
    folder = block_dir(out, stem, key)
    clean_leftovers(out, stem, keep=folder)
    open_block_dir(folder, key)
    parts = finished_blocks(folder, scene, plan)
    bar.update(block_chips(scene, list(parts)))
    try:
        for run in _todo_runs(plan, parts):
            stream = stream_rows(pred, ds, scene, run[0][0], run[-1][1], tick=bar.update)
            with contextlib.closing(stream):
                for first, stop in run:
                    row0, row1 = owned_rows(scene.grid, first, stop)
                    prob, mask = block_paths(folder, first, stop)
                    rows = itertools.islice(stream, stop - first)
                    profile = scene.rows_profile(row0, row1)
                    chips = write_rows(rows, prob, mask, profile, cog=False)
                    parts[(first, stop)] = BlockResult(prob, mask, row0, row1, chips)
        chips_run = assemble_blocks(scene, list(parts.values()), *outputs)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return chips_run


def _rate(rows: Iterable[Rows], bar: Any, width: int) -> Iterator[Rows]:
    """Pass ``rows`` through, showing Mpx/s on ``bar``."""
    t0 = time.perf_counter()
    for band in rows:
        yield band
        mpx = band.stop * width / 1e6 / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{mpx:.2f} Mpx/s", refresh=False)


def predict_many(
    images: Sequence[PathLike],
    checkpoint: PathLike | tuple[nn.Module, ModelSpec] | Predictor,
    out_dir: PathLike,
    options: PredictOptions | None = None,
    graph: GraphOptions | None = None,
) -> list[PredictOutputs]:
    """Predict several images (paths, folders, file-list CSVs), loading the model once.

    The ONNX engine is exported once here, not per image. Over several images, a STAC
    ``collection.json`` in ``out_dir`` links their items.
    """
    paths = expand_inputs(images)
    prepare_out_dir(out_dir)
    pred = load_predictor(checkpoint, options, images=paths)
    outputs = [predict_image(p, pred, out_dir, graph=graph) for p in paths]
    write_prediction_collection([o.item_path for o in outputs if o.item_path], out_dir)
    return outputs
