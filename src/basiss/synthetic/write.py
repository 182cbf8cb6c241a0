"""Writing the sample: SpaceNet-3-like chips and a broad-area scene, deterministic from a seed.

The chips are tiles of one suburb on SpaceNet's EPSG:4326 grid; the broad scene is a
second suburb in UTM, rendered and written block by block so its memory stays flat.
Every file is written atomically; files of an earlier, larger sample are removed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from shapely.geometry import Polygon, box

from basiss.errors import BasissError
from basiss.io.raster import PathLike, atomic_output, geotiff_profile
from basiss.progress import progress
from basiss.synthetic.labels import clip_labels, geojson_text
from basiss.synthetic.layout import (
    BROAD_ORIGIN,
    CHIPS_ORIGIN,
    DEG_PER_PX,
    GSD_M,
    RGB_FROM_MUL,
    UTM_EPSG,
    SampleLayout,
    labels_path,
    mul_path,
    rgb_path,
    sample_files,
)
from basiss.synthetic.painter import Scene
from basiss.synthetic.render import Grid, Textures, render
from basiss.synthetic.scene import build_scene

#: Rows of the broad scene rendered and written at a time.
_BLOCK_ROWS = 512
#: Scenes are laid out this far beyond the images, so nothing ends at an image edge.
_MARGIN_M = 40.0

Bounds = tuple[float, float, float, float]


def write_sample(
    out_dir: PathLike,
    seed: int = 0,
    n_train: int = 8,
    n_test: int = 2,
    chip_size: int = 1300,
    broad_size: int = 6000,
) -> SampleLayout:
    """Write the synthetic SpaceNet-3-like dataset under ``out_dir``.

    Args:
        out_dir: folder to write into (created; existing sample files are replaced,
            stale ones from an earlier, larger sample removed).
        seed: every random choice follows from it; the same seed gives
            byte-identical files.
        n_train: training chips (>= 1).
        n_test: test chips (>= 0); ids differ from the training ids.
        chip_size: chip side in pixels (SpaceNet 3: 1300).
        broad_size: side of the broad-area scene in pixels.

    Returns:
        The :class:`SampleLayout` of what was written.
    """
    if n_train < 1 or n_test < 0:
        raise BasissError(f"sample: need n_train >= 1 and n_test >= 0, got {n_train}, {n_test}")
    if chip_size < 32 or broad_size < 32:
        raise BasissError(
            f"sample: chip and broad sizes must be >= 32 px, got {chip_size}, {broad_size}"
        )
    layout = SampleLayout.at(out_dir)
    written = _write_chips(layout, seed, n_train, n_test, chip_size)
    written += _write_broad(layout, seed, broad_size)
    _remove_stale(layout, written)
    return layout


def _write_chips(
    layout: SampleLayout, seed: int, n_train: int, n_test: int, chip_size: int
) -> list[Path]:
    """The chips: tiles of one suburb on the SpaceNet EPSG:4326 grid, ids 1..n in rows.

    The test ids are drawn at random; the last training chip gets a nodata cut (a scene
    edge), as some SpaceNet chips have.
    """
    n = n_train + n_test
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    lon0, lat0 = CHIPS_ORIGIN
    grid = Grid(
        CRS.from_epsg(4326),
        Affine(DEG_PER_PX, 0.0, lon0, 0.0, -DEG_PER_PX, lat0),
        ncols * chip_size,
        nrows * chip_size,
    )
    rng = np.random.default_rng([seed, 1])
    tile_ids = np.arange(1, n + 1)
    test_ids = set(rng.choice(tile_ids, size=n_test, replace=False).tolist()) if n_test else set()
    train_ids = [int(i) for i in tile_ids if int(i) not in test_ids]
    world = (lon0, lat0 - grid.height * DEG_PER_PX, lon0 + grid.width * DEG_PER_PX, lat0)
    ux0, uy0, ux1, uy1 = transform_bounds(grid.crs, CRS.from_epsg(UTM_EPSG), *world, densify_pts=21)
    m = _MARGIN_M
    scene = build_scene(rng, (ux0 - m, uy0 - m, ux1 + m, uy1 + m), _transformer(UTM_EPSG, 4326))
    tex = Textures(rng, grid)
    cut_id = max(train_ids)
    written: list[Path] = []
    for tile in progress(tile_ids.tolist(), desc="sample chips", unit="chip"):
        r, c = divmod(tile - 1, ncols)
        win = Window(c * chip_size, r * chip_size, chip_size, chip_size)
        cut = _nodata_cut(rng, _window_bounds(grid, win)) if tile == cut_id else None
        split = layout.test_dir if tile in test_ids else layout.train_dir
        written += _write_chip(scene, grid, tex, win, (seed, 3, tile), cut, split, tile)
    return written


def _window_bounds(grid: Grid, win: Window) -> Bounds:
    """``left, bottom, right, top`` of ``win`` in the grid's CRS."""
    transform = grid.transform @ Affine.translation(win.col_off, win.row_off)
    left, top = transform @ (0, 0)
    right, bottom = transform @ (win.width, win.height)
    return left, bottom, right, top


def _write_chip(
    scene: Scene,
    grid: Grid,
    tex: Textures,
    win: Window,
    seed: Sequence[int],
    cut: Polygon | None,
    split: Path,
    tile: int,
) -> list[Path]:
    """Render chip ``tile`` (8-band MUL, its RGB bands) and write both and its labels."""
    transform = grid.transform @ Affine.translation(win.col_off, win.row_off)
    footprint = box(*_window_bounds(grid, win))
    mul = render(scene, grid, tex, win, range(8), seed, cut)
    valid = footprint.difference(cut) if cut is not None else footprint
    feats = clip_labels(scene, valid, 2 * DEG_PER_PX, None)
    written = [_write_tif(mul_path(split, tile), mul, grid.crs, transform)]
    rgb = np.ascontiguousarray(mul[list(RGB_FROM_MUL)])
    written.append(_write_tif(rgb_path(split, tile), rgb, grid.crs, transform))
    lp = labels_path(split, tile)
    _write_text(lp, geojson_text(feats))
    return [*written, lp]


def _write_broad(layout: SampleLayout, seed: int, broad_size: int) -> list[Path]:
    """The broad scene: a separate suburb nearby, in UTM at 0.3 m, written by row blocks."""
    tr = Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
    bx, by = tr.transform(*BROAD_ORIGIN)
    bx, by = round(bx), round(by)
    bgrid = Grid(
        CRS.from_epsg(UTM_EPSG), Affine(GSD_M, 0.0, bx, 0.0, -GSD_M, by), broad_size, broad_size
    )
    side = broad_size * GSD_M
    m = _MARGIN_M
    brng = np.random.default_rng([seed, 2])
    bscene = build_scene(brng, (bx - m, by - side - m, bx + side + m, by + m), None)
    btex = Textures(brng, bgrid)
    profile = _tif_profile(broad_size, broad_size, 3, bgrid.crs, bgrid.transform)
    blocks = range(0, broad_size, _BLOCK_ROWS)
    with atomic_output(layout.broad_image) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for row in progress(blocks, desc="sample broad scene", unit="block"):
            win = Window(0, row, broad_size, min(_BLOCK_ROWS, broad_size - row))
            dst.write(render(bscene, bgrid, btex, win, RGB_FROM_MUL, (seed, 4, row)), window=win)
    footprint = box(bx, by - side, bx + side, by)
    feats = clip_labels(bscene, footprint, 2 * GSD_M, _transformer(UTM_EPSG, 4326))
    _write_text(layout.broad_labels, geojson_text(feats))
    return [layout.broad_image, layout.broad_labels]


def _transformer(src: int, dst: int) -> Callable[[np.ndarray], np.ndarray]:
    """``(n, 2)`` coordinates from EPSG ``src`` to EPSG ``dst`` (x, y order)."""
    tr = Transformer.from_crs(src, dst, always_xy=True)

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return apply


def _nodata_cut(rng: np.random.Generator, chip_bounds: Bounds) -> Polygon:
    """A slanted all-zero margin over the lower part of a chip (a scene edge)."""
    left, bottom, right, top = chip_bounds
    hgt = top - bottom
    ya = top - hgt * rng.uniform(0.55, 0.7)
    yb = top - hgt * rng.uniform(0.78, 0.92)
    pad = hgt * 0.01
    return Polygon(
        [
            (left - pad, ya),
            (right + pad, yb),
            (right + pad, bottom - pad),
            (left - pad, bottom - pad),
        ]
    )


def _tif_profile(width: int, height: int, count: int, crs: CRS, transform: Affine) -> dict:
    """The project's tiled deflate GeoTIFF profile, uint16, nodata 0."""
    return geotiff_profile(width, height, count, "uint16", crs, transform, 0)


def _write_tif(path: Path, array: np.ndarray, crs: CRS, transform: Affine) -> Path:
    """Write a ``(bands, rows, cols)`` uint16 array as a GeoTIFF, atomically."""
    profile = _tif_profile(array.shape[2], array.shape[1], array.shape[0], crs, transform)
    with atomic_output(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(array)
    return path


def _write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _remove_stale(layout: SampleLayout, written: list[Path]) -> None:
    """Delete sample files from an earlier run that this run did not write."""
    keep = {p.resolve() for p in written}
    for f in sample_files(layout):
        if f.resolve() not in keep:
            f.unlink()
