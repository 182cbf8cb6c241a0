"""The sample preview: one training chip (RGB and false colour) and the broad scene.

A quick look at what :func:`basiss.synthetic.write_sample` made, centerlines drawn over
the imagery so a reader sees at once that labels and roads agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.windows import Window

from basiss.errors import BasissError
from basiss.geo import line_length_m
from basiss.io.raster import PathLike, open_raster
from basiss.synthetic.layout import SampleLayout, image_ids, labels_path, mul_path, rgb_path
from basiss.viz.plots import (
    hold_extent,
    new_figure,
    plot_lines,
    read_overview,
    rgb_for_display,
    save_figure,
    world_to_pixels,
)

#: Pixels of the broad-scene overview panel (read decimated).
OVERVIEW_PIXELS = 1500 * 1500
#: Side of the full-resolution crop of the broad scene.
CROP_PX = 700
#: MUL bands of the false-colour panel (1-based: NIR1, red, green).
FALSE_COLOUR = [7, 5, 3]


def _read_lines(path: Path) -> list[np.ndarray]:
    """The LineString vertices of a GeoJSON label file, one ``(n, 2)`` array a line."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [np.asarray(f["geometry"]["coordinates"], dtype=np.float64) for f in data["features"]]


def _busiest_chip(train_dir: Path) -> int:
    """The training chip with the most road length: it shows the most."""
    ids = image_ids(train_dir)
    if not ids:
        raise BasissError(f"{train_dir}: no RGB-PanSharpen chips to preview")
    wgs84 = CRS.from_epsg(4326)
    lengths = [
        sum(line_length_m(c, wgs84) for c in _read_lines(labels_path(train_dir, i))) for i in ids
    ]
    return ids[int(np.argmax(lengths))]


def write_preview(layout: SampleLayout, out_png: PathLike) -> Path:
    """A PNG: one training chip (RGB and false colour) and the broad scene, labels overlaid.

    Args:
        layout: the sample to show.
        out_png: the PNG to write (atomically).

    Returns:
        the PNG path.

    Raises:
        BasissError: the sample has no training chip.
    """
    chip = _busiest_chip(layout.train_dir)
    fig, axes = new_figure(2, 2, size=6.0)
    _chip_panels(axes[0], layout.train_dir, chip)
    _broad_panels(axes[1], layout)
    return save_figure(fig, out_png)


def _chip_panels(axes: np.ndarray, train_dir: Path, chip: int) -> None:
    """RGB with centerlines, and MUL false colour, of chip ``chip`` at full resolution."""
    with open_raster(rgb_path(train_dir, chip)) as ds:
        rgb, inv = ds.read(), ~ds.transform
    with open_raster(mul_path(train_dir, chip)) as ds:
        mul = ds.read(FALSE_COLOUR)
    ax = axes[0]
    ax.imshow(rgb_for_display(rgb))
    hold_extent(ax, rgb.shape[2], rgb.shape[1])
    lines = [world_to_pixels(c, inv) for c in _read_lines(labels_path(train_dir, chip))]
    plot_lines(ax, lines, linewidth=1.0)
    ax.set_title(f"train chip img{chip}: RGB + centerlines (EPSG:4326)")
    axes[1].imshow(rgb_for_display(mul))
    axes[1].set_title("same chip, MUL false colour (NIR1, red, green)")


def _broad_panels(axes: np.ndarray, layout: SampleLayout) -> None:
    """The broad scene decimated with its centerlines, and a central crop at full size."""
    with open_raster(layout.broad_image) as ds:
        small, scale = read_overview(ds, [1, 2, 3], OVERVIEW_PIXELS, Resampling.average)
        crop = min(ds.width, ds.height, CROP_PX)
        r0, c0 = (ds.height - crop) // 2, (ds.width - crop) // 2
        zoom = ds.read(window=Window(c0, r0, crop, crop))
        inv, crs, size = ~ds.transform, ds.crs, (ds.width, ds.height)
    to_img = Transformer.from_crs(4326, crs, always_xy=True)
    ax = axes[0]
    ax.imshow(rgb_for_display(small))
    hold_extent(ax, small.shape[2], small.shape[1])
    lines = []
    for c in _read_lines(layout.broad_labels):
        xy = np.column_stack(to_img.transform(c[:, 0], c[:, 1]))
        lines.append(world_to_pixels(xy, inv, scale))
    plot_lines(ax, lines, linewidth=0.7)
    ax.set_title(f"broad scene {size[0]}x{size[1]} px ({crs.to_string()}) + centerlines")
    axes[1].imshow(rgb_for_display(zoom))
    axes[1].set_title(f"broad scene, {crop}x{crop} px crop at full resolution")
