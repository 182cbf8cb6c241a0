"""The road-mask figure: centerlines, the 8-bit image, the mask and their overlay.

Drawn per image by ``basiss masks --make-plots`` (the seed's 4-panel figure), to check at
a glance that a mask sits on its roads. Large images are drawn from a decimated read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from rasterio.transform import Affine

from basiss.io.raster import PathLike, open_raster
from basiss.labels.centerlines import load_centerlines
from basiss.viz.plots import (
    hold_extent,
    new_figure,
    plot_lines,
    read_overview,
    rgb_for_display,
    save_figure,
    shrink_nearest,
    world_to_pixels,
)

#: Pixels of the image panels (read decimated): about 1000 x 1000.
PLOT_MAX_PIXELS = 1000 * 1000


def plot_road_mask(
    labels: PathLike | None,
    rgb_image: PathLike,
    mask: np.ndarray,
    out_path: PathLike,
    title: str = "",
) -> Path:
    """The 4-panel figure: centerlines, 8-bit RGB, mask, overlay (PNG).

    Images larger than :data:`PLOT_MAX_PIXELS` are drawn decimated (nearest pixel, the
    mask alike), so a figure costs the same for a chip and for a whole scene.

    Args:
        labels: the centerline file (None: no labels).
        rgb_image: an 8-bit RGB (or any) image on the mask's grid.
        mask: ``(rows, cols)`` 0/1 road mask.
        out_path: the PNG to write (atomically).
        title: drawn above the first panel.

    Returns:
        The PNG path.
    """
    with open_raster(rgb_image) as ds:
        bands = list(range(1, min(ds.count, 3) + 1))
        arr, scale = read_overview(ds, bands, PLOT_MAX_PIXELS)
        crs, inv = ds.crs, ~ds.transform
    rows, cols = arr.shape[1:]
    rgb = rgb_for_display(arr)
    small = shrink_nearest(mask, (rows, cols)).astype(bool)
    lines = _pixel_lines(labels, crs, inv, scale) if crs is not None else []
    fig, axes = new_figure(4)
    ax0, ax1, ax2, ax3 = axes[0]
    ax0.set_facecolor("white")
    plot_lines(ax0, lines, color="tab:blue", linewidth=1.0)
    hold_extent(ax0, cols, rows)
    ax0.set_aspect("equal")
    ax0.set_title(f"{title}\ncenterlines ({len(lines)})" if title else "centerlines")
    ax1.imshow(rgb)
    ax1.set_title("8-bit image")
    ax2.imshow(small, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax2.set_title(f"mask ({int(mask.sum())} road px)")
    overlay = rgb.copy()
    overlay[small] = (0.5 * overlay[small] + 0.5 * np.array([255, 0, 0])).astype(np.uint8)
    ax3.imshow(overlay)
    ax3.set_title("overlay")
    return save_figure(fig, out_path)


def _pixel_lines(
    labels: PathLike | None, crs: object, inverse: Affine, scale: tuple[float, float]
) -> list[np.ndarray]:
    """Centerline vertices in overview pixel (col, row) coordinates, one array per part.

    Polygon labels are drawn by their outline.
    """
    if labels is None:
        return []
    gdf = load_centerlines(labels)
    geoms = gdf.geometry.dropna()
    geoms = geoms[~geoms.is_empty]
    if len(geoms) == 0:
        return []
    parts = shapely.get_parts(shapely.force_2d(np.asarray(geoms.to_crs(crs).values)))
    lines = []
    for geom in parts:
        for line in [geom.exterior] if geom.geom_type == "Polygon" else [geom]:
            if line.geom_type in ("LineString", "LinearRing"):
                lines.append(world_to_pixels(np.asarray(line.coords), inverse, scale))
    return lines
