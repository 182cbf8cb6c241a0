"""The paint model of a scene: polygons in paint order, each with a material, and shadows.

A :class:`Painter` collects layers as the scene is built (later layers cover earlier
ones); :meth:`Painter.scene` freezes them into a :class:`Scene`, moved to the image CRS
and indexed, which the renderer rasterises window by window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from basiss.errors import BasissError
from basiss.synthetic.materials import SHADOW_PER_M, SUN_DIR, Materials
from basiss.synthetic.network import Road
from basiss.synthetic.shapes import translate


@dataclass
class Scene:
    """Polygons in paint order with material ids, shadow polygons, material tables.

    Geometry is in the CRS of the images it is rendered on; ``roads`` keep the
    metric centerlines (UTM) and ``lines`` the same lines in the image CRS.
    """

    paint: np.ndarray
    paint_ids: np.ndarray
    shade: np.ndarray
    shade_vals: np.ndarray
    spectra: np.ndarray
    mix: np.ndarray
    tex_mid: np.ndarray
    tex_fine: np.ndarray
    roads: list[Road]
    lines: np.ndarray
    paint_tree: shapely.STRtree = field(init=False)
    shade_tree: shapely.STRtree = field(init=False)

    def __post_init__(self) -> None:
        self.paint_tree = shapely.STRtree(self.paint)
        self.shade_tree = shapely.STRtree(self.shade)


class Painter:
    """Collects (polygon, material) layers in paint order and shadow polygons."""

    def __init__(self) -> None:
        self.mat = Materials()
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        self.shadows: list[np.ndarray] = []
        self.occluders: list[np.ndarray] = []

    def paint(self, geoms: np.ndarray | Sequence, ids: np.ndarray | int) -> None:
        """Add a layer on top: ``geoms`` painted with material ``ids`` (one, or one each)."""
        g = np.asarray(geoms, dtype=object).ravel()
        if g.size:
            self.layers.append((g, np.broadcast_to(np.asarray(ids, dtype=np.int64), g.shape)))

    def cast(self, footprints: np.ndarray, heights: np.ndarray, occlude: bool = True) -> None:
        """Shadows of prisms ``footprints`` x ``heights`` on the ground (to the north-west)."""
        if len(footprints) == 0:
            return
        shift = -SUN_DIR[None, :] * (np.asarray(heights) * SHADOW_PER_M)[:, None]
        moved = translate(footprints, shift)
        self.shadows.append(shapely.convex_hull(shapely.union(footprints, moved)))
        if occlude:
            self.occluders.append(np.asarray(footprints, dtype=object))

    def scene(
        self, roads: list[Road], to_image: Callable[[np.ndarray], np.ndarray] | None
    ) -> Scene:
        """The layers so far as a :class:`Scene` in the image CRS (``to_image``; None: as is).

        Empty polygons are dropped and large ones diced into tiles; occluders (cars, tree
        crowns) are listed after the shadows with value 0, so nothing shades them.
        """
        paint = np.concatenate([g for g, _ in self.layers])
        ids = np.concatenate([v for _, v in self.layers])
        shadows = np.concatenate(self.shadows) if self.shadows else np.array([], dtype=object)
        occl = np.concatenate(self.occluders) if self.occluders else np.array([], dtype=object)
        shade = np.concatenate([shadows, occl])
        vals = np.concatenate([np.ones(len(shadows), np.uint8), np.zeros(len(occl), np.uint8)])
        lines = np.array([r.line for r in roads], dtype=object)
        ok = ~shapely.is_empty(paint)
        paint, ids = _dice(paint[ok], ids[ok])
        if to_image is not None:
            paint = shapely.transform(paint, to_image)
            shade = shapely.transform(shade, to_image)
            lines = shapely.transform(lines, to_image) if len(lines) else lines
        spectra, mix, tm, tf = self.mat.tables()
        if spectra.shape[0] >= 65535:
            raise BasissError(f"sample: too many materials ({spectra.shape[0]})")
        return Scene(paint, ids, shade, vals, spectra, mix, tm, tf, roads, lines)


def _dice(
    geoms: np.ndarray, values: np.ndarray, tile: float = 120.0, max_vertices: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """Cut geometries with many vertices (the sidewalk network, fields) into tiles.

    Each piece keeps its value and its place in the paint order, so a window
    only rasterizes the pieces it meets.
    """
    big = shapely.get_num_coordinates(geoms) > max_vertices
    if not big.any():
        return geoms, values
    pieces_g: list[np.ndarray] = []
    pieces_v: list[np.ndarray] = []
    for g, v, is_big in zip(geoms, values, big, strict=True):
        if not is_big:
            pieces_g.append(np.array([g], dtype=object))
            pieces_v.append(np.array([v]))
            continue
        x0, y0, x1, y1 = g.bounds
        xs = np.arange(x0, x1, tile)
        ys = np.arange(y0, y1, tile)
        gx, gy = np.meshgrid(xs, ys)
        tiles = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + tile, gy.ravel() + tile)
        cut = shapely.intersection(g, tiles)
        cut = cut[~shapely.is_empty(cut)]
        pieces_g.append(cut)
        pieces_v.append(np.full(len(cut), v))
    return np.concatenate(pieces_g), np.concatenate(pieces_v)
