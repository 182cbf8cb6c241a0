"""Rendering a scene window to sensor counts: polygons -> material ids -> spectra -> DN.

Each window is one ``rasterio.features.rasterize`` of the paint layers it meets (material
ids) and one of the shadows, then vectorised numpy: a spectrum look-up, smooth value-noise
textures sampled by global pixel position (so windows of one grid join seamlessly), a
3x3 blur for the optics, path radiance and read plus shot noise for the sensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely.geometry import Polygon, box

from basiss.synthetic.layout import MAX_DN
from basiss.synthetic.materials import SHADOW_FACTOR, SPECTRA
from basiss.synthetic.painter import Scene

# DN = haze + gain * reflectance: path radiance is larger at short wavelengths.
_HAZE_DN = np.array([150.0, 120.0, 92.0, 74.0, 62.0, 52.0, 42.0, 36.0])
_GAIN_DN = 1700.0


@dataclass(frozen=True)
class Grid:
    """A (possibly virtual) raster grid: the chips' mosaic or the broad scene."""

    crs: CRS
    transform: Affine
    width: int
    height: int


class _Lattice:
    """Smooth value noise: a random lattice every ``scale`` pixels, bilinear between.

    Sampled by global pixel coordinates, so windows of one grid join seamlessly.
    """

    def __init__(self, rng: np.random.Generator, grid: Grid, scale: int) -> None:
        self.scale = scale
        shape = (grid.height // scale + 4, grid.width // scale + 4)
        self.values = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)

    def sample(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The field at every (row, col) of the grid pixels ``rows x cols``, float32."""
        s = float(self.scale)
        fr = (rows.astype(np.float64) + s) / s
        fc = (cols.astype(np.float64) + s) / s
        r0 = np.clip(np.floor(fr).astype(np.int64), 0, self.values.shape[0] - 2)
        c0 = np.clip(np.floor(fc).astype(np.int64), 0, self.values.shape[1] - 2)
        wr = (fr - r0).astype(np.float32)[:, None]
        wc = (fc - c0).astype(np.float32)[None, :]
        v = self.values
        along_r = v[r0] * (1 - wr) + v[r0 + 1] * wr  # (rows, lattice cols)
        return along_r[:, c0] * (1 - wc) + along_r[:, c0 + 1] * wc


class Textures:
    """The value-noise fields of one grid: illumination, dryness, foliage and grain."""

    def __init__(self, rng: np.random.Generator, grid: Grid) -> None:
        self.light = _Lattice(rng, grid, 96)
        self.dry = _Lattice(rng, grid, 40)
        self.dry2 = _Lattice(rng, grid, 12)
        self.mid = _Lattice(rng, grid, 4)
        self.fine = _Lattice(rng, grid, 2)


def _shapes(geoms: np.ndarray, values: np.ndarray) -> list[tuple[object, int]]:
    """(GeoJSON-like, value) pairs for ``rasterize``, built without per-vertex Python.

    Simple polygons (no holes: nearly all of them) become plain dicts from one
    vectorised coordinate dump; the rest pass through as shapely objects.
    """
    out: list[object] = list(geoms)
    simple = (shapely.get_type_id(geoms) == 3) & (shapely.get_num_interior_rings(geoms) == 0)
    idx = np.flatnonzero(simple)
    if len(idx):
        coords, which = shapely.get_coordinates(
            shapely.get_exterior_ring(geoms[idx]), return_index=True
        )
        cuts = np.flatnonzero(np.diff(which)) + 1
        for k, ring in zip(idx.tolist(), np.split(coords, cuts), strict=True):
            out[k] = {"type": "Polygon", "coordinates": [ring.tolist()]}
    return list(zip(out, values.tolist(), strict=True))


def _burn(
    geoms: np.ndarray,
    values: np.ndarray,
    tree: shapely.STRtree,
    bbox: Polygon,
    shape: tuple[int, int],
    transform: Affine,
    dtype: type,
) -> np.ndarray:
    """Rasterize the geometries of ``tree`` that meet ``bbox``, in index (paint) order."""
    out = np.zeros(shape, dtype=dtype)
    idx = np.sort(tree.query(bbox))
    if len(idx):
        rasterize(_shapes(geoms[idx], values[idx]), out=out, transform=transform)
    return out


def render(
    scene: Scene,
    grid: Grid,
    tex: Textures,
    window: Window,
    bands: Sequence[int],
    seed: Sequence[int],
    nodata: Polygon | None = None,
) -> np.ndarray:
    """Render ``window`` of ``grid``: ``(len(bands), h, w)`` uint16 DN, 0 = nodata.

    Material ids and shadows are rasterized with a one-pixel halo for the 3x3
    blur (the optics); then sensor noise (read noise plus shot noise) is added
    from a generator seeded by ``seed``.

    Args:
        scene: the paint layers, in the CRS of ``grid``.
        grid: the whole raster ``window`` is part of (textures follow its pixels).
        tex: the grid's textures.
        window: the part to render.
        bands: 0-based MUL band indices to render, in output order.
        seed: seeds the sensor noise of this window.
        nodata: an area (grid CRS) set to 0 in every band.
    """
    r0, c0 = int(window.row_off) - 1, int(window.col_off) - 1
    h, w = int(window.height) + 2, int(window.width) + 2
    ids, sh = _rasterize(scene, grid.transform @ Affine.translation(c0, r0), h, w)
    rows = np.arange(r0, r0 + h)
    cols = np.arange(c0, c0 + w)
    blurred = _blur(_radiance(scene, tex, ids, sh, rows, cols, bands))
    dn = _sensor(blurred, bands, seed)
    if nodata is not None:
        inner = grid.transform @ Affine.translation(int(window.col_off), int(window.row_off))
        hole = rasterize([(nodata, 1)], out_shape=dn.shape[1:], transform=inner, dtype=np.uint8)
        dn[:, hole.astype(bool)] = 0
    return dn


def _rasterize(scene: Scene, transform: Affine, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Material ids (uint16) and shadow flags (uint8, 1 = shade) of an ``h x w`` window."""
    left, top = transform @ (0, 0)
    right, bottom = transform @ (w, h)
    bbox = box(min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    ids = _burn(scene.paint, scene.paint_ids, scene.paint_tree, bbox, (h, w), transform, np.uint16)
    sh = _burn(scene.shade, scene.shade_vals, scene.shade_tree, bbox, (h, w), transform, np.uint8)
    return ids, sh


def _radiance(
    scene: Scene,
    tex: Textures,
    ids: np.ndarray,
    sh: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    bands: Sequence[int],
) -> np.ndarray:
    """Scene radiance in DN (before haze), ``(len(bands), h, w)`` float32.

    Reflectance is the material's spectrum pulled towards dry grass by the dryness
    field, times illumination and material textures, times shade where in shadow.
    """
    # dryness pulls lawns and fields towards dry grass: refl = spec * (1 - dry) + dry_spec * dry
    dry = tex.dry.sample(rows, cols)
    dry *= 0.9
    dry += 0.5 * tex.dry2.sample(rows, cols) + 0.45
    np.clip(dry, 0, 1, out=dry)
    dry *= scene.mix[ids]
    # brightness: illumination, then material textures (foliage, asphalt grain)
    gain = tex.light.sample(rows, cols)
    gain *= 0.05
    gain += 1.0
    gain += scene.tex_mid[ids] * tex.mid.sample(rows, cols)
    gain += scene.tex_fine[ids] * tex.fine.sample(rows, cols)
    gain *= np.float32(_GAIN_DN)
    wet_gain = gain - dry * gain
    dry *= gain  # dry * gain from here on
    del gain
    dry_dn = SPECTRA["dry"].astype(np.float32)
    out = np.empty((len(bands), *ids.shape), dtype=np.float32)
    tmp = np.empty(ids.shape, dtype=np.float32)
    for k, b in enumerate(bands):
        refl = out[k]
        np.take(scene.spectra[:, b], ids, out=refl)
        refl *= wet_gain
        np.multiply(dry, dry_dn[b], out=tmp)
        refl += tmp
        np.take(np.array([1.0, SHADOW_FACTOR[b]], dtype=np.float32), sh, out=tmp)
        refl *= tmp
    return out


def _blur(out: np.ndarray) -> np.ndarray:
    """A 3x3 binomial blur (about 0.7 px, the optics) that drops the one-pixel halo."""
    v = out[:, 1:-1] * 2
    v += out[:, :-2]
    v += out[:, 2:]
    blurred = v[:, :, 1:-1] * 2
    blurred += v[:, :, :-2]
    blurred += v[:, :, 2:]
    blurred *= 0.0625
    return blurred


def _sensor(blurred: np.ndarray, bands: Sequence[int], seed: Sequence[int]) -> np.ndarray:
    """Path radiance, then read + shot noise (its level set by the first band), to uint16.

    Works in place on ``blurred``.
    """
    haze = np.array([_HAZE_DN[b] for b in bands], dtype=np.float32)[:, None, None]
    blurred += haze + 0.5  # + 0.5: truncation below rounds
    sigma = np.maximum(blurred[0], 0)
    sigma *= 0.12
    sigma += 9.0
    np.sqrt(sigma, out=sigma)
    noise = np.random.default_rng(list(seed)).standard_normal(blurred.shape, dtype=np.float32)
    noise *= sigma
    blurred += noise
    del sigma, noise
    np.clip(blurred, 1, MAX_DN, out=blurred)
    return blurred.astype(np.uint16)
