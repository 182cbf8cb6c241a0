"""Resumable runs: finished chip-row blocks of a killed run are found and reused.

A run over a scene of several blocks writes each finished block to a hidden
folder beside the outputs, ``.<stem>.blocks-<key>/`` (:mod:`basiss.inference.blocks`),
and assembles the outputs at the end. The key (:func:`run_key`) hashes what
makes a block's pixels what they are: the model's weights and spec (a digest of
the checkpoint's bytes), every prediction option that changes a pixel, the chip
geometry, and the image's path, size and modification time. A re-run with the
same key reuses every block file that is complete and fits its block
(:func:`finished_blocks`; block files are written atomically, so one that
exists is whole, and its size and bands are checked before use); anything else
is recomputed. The folder also holds the full key (``key.txt``): a folder
whose name matches but whose key does not is emptied, never trusted.

Leftovers of a dead run on the same output are removed (:func:`clean_leftovers`):
temporary outputs ``.<stem>_prob.part-<pid>.tif`` of processes no longer
running, and block folders of other keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import rasterio

from basiss.grid import owned_rows, split_rows
from basiss.inference.blocks import BlockResult, block_paths
from basiss.inference.options import PredictOptions
from basiss.inference.scene import Scene
from basiss.inference.writer import MASK_SUFFIX, PROB_SUFFIX
from basiss.io.raster import PathLike, atomic_output

#: A single-process run over a scene of at least this many chip rows keeps block files.
RESUME_MIN_ROWS = 4
#: ... in about this many blocks (the work a kill can lose is ~1/RESUME_BLOCKS of the scene).
RESUME_BLOCKS = 32
#: Hex digits of the key in the block folder's name.
KEY_CHARS = 16
#: The file in a block folder that holds the full key.
KEY_FILE = "key.txt"
#: Options that never change a pixel (left out of the key).
NOT_IN_KEY = ("show_progress",)


def run_key(
    digest: str,
    options: PredictOptions,
    chip: tuple[int, int],
    stride: tuple[int, int],
    image: PathLike,
) -> str:
    """The key of a run over one image: equal keys give equal pixels.

    Args:
        digest: the model's digest (:attr:`basiss.inference.predictor.Predictor.digest`).
        options: the prediction options (``show_progress`` aside).
        chip, stride: the chip geometry actually used.
        image: the input image (its resolved path, size and mtime enter the key).

    Returns:
        A hex SHA-256.
    """
    st = Path(image).stat()
    opts = {k: v for k, v in asdict(options).items() if k not in NOT_IN_KEY}
    facts = {
        "model": digest,
        "options": opts,
        "chip": list(chip),
        "stride": list(stride),
        "image": [str(Path(image).resolve()), st.st_size, st.st_mtime_ns],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def resume_plan(n_rows: int) -> list[tuple[int, int]]:
    """The chip-row blocks of a single-process run: one block for small scenes, else about
    ``RESUME_BLOCKS`` blocks (at least one chip row each)."""
    if n_rows < RESUME_MIN_ROWS:
        return [(0, n_rows)]
    return split_rows(n_rows, math.ceil(n_rows / math.ceil(n_rows / RESUME_BLOCKS)))


def block_dir(out_dir: PathLike, stem: str, key: str) -> Path:
    """The hidden block folder of ``stem`` under ``key`` in ``out_dir``."""
    return Path(out_dir) / f".{stem}.blocks-{key[:KEY_CHARS]}"


def _pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this machine (or cannot be checked)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _part_pid(path: Path) -> int | None:
    """The writer's pid in a temporary name ``.<stem>.part-<pid><suffix>``, else None."""
    tail = path.name.rsplit(".part-", 1)[-1].split(".", 1)[0]
    return int(tail) if tail.isdigit() else None


def clean_leftovers(out_dir: PathLike, stem: str, keep: Path | None = None) -> list[Path]:
    """Remove what dead runs on ``stem``'s outputs left in ``out_dir``.

    Temporary outputs of processes that no longer run, and block folders other
    than ``keep``.

    Returns:
        The paths removed.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    removed = []
    for suffix in (PROB_SUFFIX, MASK_SUFFIX):
        name = stem + suffix.rsplit(".", 1)[0]
        for tmp in out.glob(f".{name}.part-*.tif"):
            pid = _part_pid(tmp)
            if pid is not None and pid != os.getpid() and not _pid_alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed.append(tmp)
    for folder in out.glob(f".{stem}.blocks-*"):
        if folder.is_dir() and folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def open_block_dir(folder: Path, key: str) -> Path:
    """Make ``folder`` the block folder of ``key``: reuse it if its key matches, else empty it.

    Temporary files in it (of a dead writer) are removed either way.
    """
    key_file = folder / KEY_FILE
    if folder.is_dir():
        ok = key_file.is_file() and key_file.read_text().strip() == key
        if not ok:
            shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for tmp in folder.glob(".*.part-*"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if not key_file.is_file():
        with atomic_output(key_file) as tmp:
            tmp.write_text(key + "\n")
    return folder


def _fits(prob: Path, mask: Path, scene: Scene, row0: int, row1: int) -> bool:
    """True when a block file pair opens and has the block's size, bands and origin."""
    want = scene.rows_profile(row0, row1)
    try:
        with rasterio.open(prob) as p, rasterio.open(mask) as m:
            return (
                (p.width, p.height, p.count) == (scene.width, row1 - row0, want["count"])
                and (m.width, m.height, m.count) == (scene.width, row1 - row0, 1)
                and p.transform == want["transform"]
            )
    except rasterio.errors.RasterioIOError:
        return False


def finished_blocks(
    folder: Path, scene: Scene, plan: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], BlockResult]:
    """The blocks of ``plan`` whose files in ``folder`` are complete (``chips`` 0: reused)."""
    done = {}
    for first, stop in plan:
        prob, mask = block_paths(folder, first, stop)
        if not (prob.is_file() and mask.is_file()):
            continue
        row0, row1 = owned_rows(scene.grid, first, stop)
        if _fits(prob, mask, scene, row0, row1):
            done[(first, stop)] = BlockResult(prob, mask, row0, row1, 0)
    return done


def block_chips(scene: Scene, blocks: Sequence[tuple[int, int]]) -> int:
    """Grid chips of the chip rows in ``blocks`` (progress already done on a re-run)."""
    return sum(stop - first for first, stop in blocks) * len(scene.grid.cols)
