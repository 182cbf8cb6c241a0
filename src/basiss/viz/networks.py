"""The network figure: truth network against predicted network, over the image.

Truth is drawn wide and translucent (white outline), the prediction thin on top (edges red,
junctions and ends as dots), so missing roads show as bare white and false roads as red
without white beneath. Coordinates are the networks' CRS; with an image, over its overview.
"""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import numpy as np
from pyproj import Transformer

from basiss.io.bands import default_bands
from basiss.io.raster import open_raster
from basiss.viz.plots import (
    hold_extent,
    new_figure,
    plot_lines,
    read_overview,
    rgb_for_display,
    save_figure,
    world_to_pixels,
)

#: Pixels of the image overview a figure shows at most.
MAX_PIXELS = 4_000_000
TRUTH_COLOUR = "#ffffff"
PRED_COLOUR = "#ff2a2a"


def edge_lines(G: nx.MultiGraph, to_crs: str | None = None) -> list[np.ndarray]:
    """Every edge geometry of ``G`` as an ``(n, 2)`` array, optionally reprojected."""
    tr = None
    src = G.graph.get("crs")
    if to_crs is not None and src is not None:
        tr = Transformer.from_crs(src, to_crs, always_xy=True)
    out = []
    for _, _, d in G.edges(data=True):
        xy = np.asarray(d["geometry"].coords, dtype=np.float64)[:, :2]
        if tr is not None:
            xy = np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
        out.append(xy)
    return out


def network_figure(
    truth: nx.MultiGraph,
    pred: nx.MultiGraph,
    out_png: str | os.PathLike[str],
    image: str | os.PathLike[str] | None = None,
    title: str = "",
) -> Path:
    """Draw ``truth`` and ``pred`` (contract networks) over ``image`` into ``out_png``."""
    fig, axes = new_figure(1, size=8.0)
    ax = axes[0, 0]
    if image is not None:
        with open_raster(image) as ds:
            arr, scale = read_overview(ds, default_bands(ds)[:3], MAX_PIXELS)
            inverse, crs = ~ds.transform, ds.crs.to_wkt() if ds.crs else None
        ax.imshow(rgb_for_display(arr) if arr.shape[0] >= 3 else arr[0], cmap="gray")
        hold_extent(ax, arr.shape[2], arr.shape[1])

        def frame(lines: list[np.ndarray]) -> list[np.ndarray]:
            return [world_to_pixels(xy, inverse, scale) for xy in lines]

        t_lines, p_lines = frame(edge_lines(truth, crs)), frame(edge_lines(pred, crs))
    else:
        t_lines, p_lines = edge_lines(truth, pred.graph.get("crs")), edge_lines(pred)
        ax.set_aspect("equal")
        ax.set_facecolor("#303030")
    plot_lines(ax, t_lines, color=TRUTH_COLOUR, linewidth=4.0)
    plot_lines(ax, p_lines, color=PRED_COLOUR, linewidth=1.2)
    ends = [xy[[0, -1]] for xy in p_lines]
    if ends:
        pts = np.concatenate(ends)
        ax.plot(pts[:, 0], pts[:, 1], "o", color="#ffd000", markersize=2.5)
    ax.set_title(title or "truth (white) vs predicted network (red)")
    return save_figure(fig, out_png)
