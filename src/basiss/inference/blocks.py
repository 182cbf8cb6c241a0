"""Row-block files: a block of chip rows predicted into its own small GeoTIFF pair,
and the blocks of a scene assembled, in order, into its final outputs.

A block of chip rows ``first .. stop-1`` owns the pixel rows
:func:`basiss.grid.owned_rows` gives; it runs its halo too, through the same
streaming core as a whole-image run, so the assembled outputs equal that run's
bit for bit. Block files sit in a hidden folder beside the outputs, named by
their chip rows (:func:`block_paths`); each is written atomically, so a block
file that exists is complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.windows import Window

from basiss.errors import file_error
from basiss.grid import owned_rows
from basiss.inference.predictor import Predictor
from basiss.inference.scene import TILE, Scene
from basiss.inference.stream import Rows, stream_rows
from basiss.inference.writer import MASK_SUFFIX, PROB_SUFFIX, write_rows
from basiss.io.raster import PathLike, open_raster


@dataclass(frozen=True)
class BlockResult:
    """One predicted block: its files, pixel rows ``[row0, row1)`` and chips run."""

    prob_path: Path
    mask_path: Path
    row0: int
    row1: int
    chips: int


def block_paths(part_dir: PathLike, first: int, stop: int) -> tuple[Path, Path]:
    """The file pair of chip rows ``first .. stop-1`` in ``part_dir``."""
    base = f"rows{first:06d}-{stop:06d}"
    d = Path(part_dir)
    return d / f"{base}{PROB_SUFFIX}", d / f"{base}{MASK_SUFFIX}"


def predict_block(
    pred: Predictor, scene: Scene, first: int, stop: int, prob_path: Path, mask_path: Path
) -> BlockResult:
    """Predict chip rows ``first .. stop-1`` of ``scene`` into a block file pair.

    The files hold the block's own pixel rows (:func:`basiss.grid.owned_rows`)
    on the scene's grid (origin shifted), written atomically.
    """
    row0, row1 = owned_rows(scene.grid, first, stop)
    with open_raster(scene.path) as ds, scene.env():
        rows = stream_rows(pred, ds, scene, first, stop)
        chips = write_rows(rows, prob_path, mask_path, scene.rows_profile(row0, row1), cog=False)
    return BlockResult(Path(prob_path), Path(mask_path), row0, row1, chips)


def block_rows(part: BlockResult, bands: int) -> Iterator[Rows]:
    """The rows of a block file pair, read back in strips of one tile height.

    Raises:
        BasissError: the files do not hold the block's rows and bands.
    """
    with rasterio.open(part.prob_path) as p, rasterio.open(part.mask_path) as m:
        if p.height != part.row1 - part.row0 or p.count != bands or m.height != p.height:
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
            yield from block_rows(part, scene.profile["count"])

    with scene.env():
        write_rows(rows(), prob_path, mask_path, scene.profile)
    return sum(b.chips for b in ordered)
