"""Streaming: a scene's raw pixel graph computed band by band, seam-free.

The scene is cut into bands of rows. Each band is read with ``halo`` rows above and
below (windowed reads), thresholded, cleaned, thinned and distance-transformed as one
window (:mod:`basiss.graph.raster`); only the band's own rows of the results are kept.
Its skeleton rows are traced into pieces (:mod:`basiss.graph.pixels`) once the next band
is known (the two rows on each side are the neighbours' *own* rows, so the pieces of two
bands always fit); the pieces of all bands are assembled once
(:mod:`basiss.graph.stitch`). Memory: one window (``band + 2 halo`` rows of the scene's
width, a few bytes per pixel per array) plus the vector pieces, so it depends on the
scene's width, never its height.

Exactness: the raw graph is the one of the whole scene in one window whenever every
raster decision in a band's own rows is the same in its window as in the scene:

* thinning and the distance transform: the halo exceeds the half-width of the thickest
  road blob near a band edge (thinning erodes one layer per pass; the fronts that start
  at a cut edge stop once the blob there is one pixel thin);
* small holes / blobs: a component touching a cut edge is judged large; that is the
  scene's answer unless a component smaller than the area limit spans more rows than
  the halo (a long one-pixel sliver);
* hysteresis: a weak region is kept when it holds a strong pixel within its window, i.e.
  exact when the strong seed is within the halo of the band.

Beyond these limits (a parking lot wider than twice the halo cut by a band edge, ...)
the skeleton near the seam may differ from the whole-scene one by a few pixels; the
network stays connected and consistent (pieces always join), it is just not identical.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np

from basiss.graph.options import GraphOptions, PixelOptions
from basiss.graph.pixels import BandPixels, band_pieces
from basiss.graph.raster import clean_mask, distance_m, road_pixels, skeleton
from basiss.graph.stitch import assemble
from basiss.progress import progress

#: Reads scene rows ``[a, b)`` as float32 probability 0..1 (nodata as 0), shape (b - a, W).
RowReader = Callable[[int, int], np.ndarray]

#: Pixels per band when the band height is automatic (the window is ~1.5x that).
AUTO_BAND_PIXELS = 4_000_000


def band_height(width: int, height: int, popt: PixelOptions, band_rows: int | None) -> int:
    """Rows per band: ``band_rows``, else ``popt.band_rows``, else ~4 Mpx per band.

    Never below 16 rows (every band but the last needs two rows for its neighbour's
    context) nor above the scene's height.
    """
    rows = band_rows or popt.band_rows
    if rows is None:
        rows = max(4 * popt.halo, AUTO_BAND_PIXELS // max(1, width))
    return int(min(max(16, rows), max(1, height)))


def band_ranges(height: int, rows: int) -> list[tuple[int, int]]:
    """``[(r0, r1), ...]``: consecutive bands of ``rows`` rows covering ``0..height``."""
    return [(r, min(r + rows, height)) for r in range(0, height, rows)]


def band_rasters(
    read: RowReader, r0: int, r1: int, height: int, options: GraphOptions, popt: PixelOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Skeleton, probability and distance (metres) of the own rows ``[r0, r1)`` of a band.

    The window is ``[r0 - halo, r1 + halo)`` clipped to the scene; its clipped sides are
    the image border, the others cuts.

    Returns:
        The three arrays of the own rows, and the largest distance to the background on
        the window's skeleton when the window has a cut (0 otherwise): the half-width of
        the thickest blob, which the halo must exceed for an exact result.
    """
    a, b = max(0, r0 - popt.halo), min(height, r1 + popt.halo)
    prob = read(a, b)
    road = clean_mask(road_pixels(prob, options), popt, cut_top=a > 0, cut_bottom=b < height)
    skel = skeleton(road, popt.pad, top_border=a == 0, bottom_border=b == height, row0=a)
    own = slice(r0 - a, r1 - a)
    dist = distance_m(road, popt.sx, popt.sy, skel)
    widest = float(dist.max()) if (a > 0 or b < height) and dist.size else 0.0
    return skel[own], prob[own], dist[own], widest


def _rows(stack: list[np.ndarray], n: int, last: bool, width: int) -> np.ndarray:
    """The first (or, with ``last``, the last) ``n`` rows of ``stack`` stacked; unset rows
    fill in when there are fewer (the scene's edge)."""
    blank = np.zeros((n, width), dtype=bool)
    rows = np.concatenate([blank, *stack] if last else [*stack, blank])
    return rows[-n:] if last else rows[:n]


def pixel_graph(
    read: RowReader,
    width: int,
    height: int,
    options: GraphOptions,
    popt: PixelOptions,
    band_rows: int | None = None,
    desc: str = "graph",
) -> nx.MultiGraph:
    """The raw pixel graph of a scene, computed band by band (see the module docstring).

    Args:
        read: reads rows of the scene (probability 0..1).
        width: scene columns.
        height: scene rows.
        options: the metric options (threshold, hysteresis).
        popt: the pixel options (halo, areas, pad).
        band_rows: rows per band (None: :func:`band_height`'s choice).
        desc: the progress bar's label.

    Returns:
        The raw graph of :func:`basiss.graph.stitch.assemble`; ``graph["widest_cut_blob_m"]``
        is the largest blob half-width seen in a window with a cut (see
        :func:`band_rasters`).
    """
    rows = band_height(width, height, popt, band_rows)
    bands: list[BandPixels] = []
    above = np.zeros((2, width), dtype=bool)
    pending: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
    widest = 0.0
    for r0, r1 in progress(band_ranges(height, rows), desc=desc, unit="band"):
        skel, prob, dist, wide = band_rasters(read, r0, r1, height, options, popt)
        widest = max(widest, wide)
        cur = (r0, skel, prob, dist)
        if pending is not None:
            bands.append(_trace(pending, above, _rows([cur[1]], 2, False, width)))
            above = _rows([above, pending[1]], 2, True, width)
        pending = cur
    if pending is not None:
        bands.append(_trace(pending, above, np.zeros((2, width), dtype=bool)))
    g = assemble(bands)
    g.graph["widest_cut_blob_m"] = widest
    return g


def _trace(
    band: tuple[int, np.ndarray, np.ndarray, np.ndarray], above: np.ndarray, below: np.ndarray
) -> BandPixels:
    """Trace one band's own skeleton rows with two context rows on each side."""
    r0, skel, prob, dist = band
    return band_pieces(np.concatenate([above, skel, below]), r0, prob, dist)
