"""Options of road-network extraction, in metres, and their conversion to pixels.

:class:`GraphOptions` is what a user sets: every length, area and tolerance in metres (or
square metres), so one set of options serves a 0.3 m SpaceNet scene and a 1 m one alike.
:func:`resolve` turns them into :class:`PixelOptions` for one raster, given its ground
sample distance (from :func:`basiss.geo.pixel_size_m`, or ``pixel_size_m`` for a raster
without a CRS). The defaults suit 0.3 m imagery with roads masked ~4 m wide (SpaceNet's
2 m buffer each side of a centerline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from basiss.errors import BasissError


@dataclass(frozen=True)
class GraphOptions:
    """How a probability or mask raster becomes a road network.

    Attributes:
        threshold: a pixel is road when its probability (0..1) is >= this.
        hysteresis: ``(low, high)``: road pixels are those >= ``low`` connected to one
            >= ``high`` (replaces ``threshold``); None: a plain threshold.
        fill_holes_m2: background holes smaller than this (m²) inside a road become road.
        min_blob_m2: road blobs smaller than this (m²) are dropped.
        spur_m: dead-end edges shorter than this that hang off a junction are pruned
            (skeleton whiskers), unless their end touches the image border (a real stub).
        min_component_m: connected pieces of network shorter than this in total are dropped.
        bridge_m: two dead ends closer than this are joined by a straight edge when both
            point at each other (see ``bridge_angle_deg``); 0 turns bridging off.
        bridge_angle_deg: the largest angle between a dead end's direction and the bridge.
        junction_merge_m: junctions joined by an edge shorter than this become one node
            (the skeleton splits one crossing into several; buffers that touch leave
            short cross-links and small loops, which this folds away).
        junction_shift_m: the farthest a junction is moved to where its roads' lines
            meet (the skeleton's junction slides along the road at acute angles, see
            :mod:`basiss.graph.junctions`); 0 turns this off.
        loop_m: self-loops shorter than this are dropped.
        simplify_m: Douglas-Peucker tolerance of each edge (ends kept); 0: no simplification.
        halo_m: rows read above and below each band (metres): the raster decisions of a
            band's own rows are exact when the halo exceeds the thickest blob's half-width
            near a band edge (see :mod:`basiss.graph.extract`).
        halo_px: the halo in pixels (overrides ``halo_m``).
        band_m: height of a band (metres); None: automatic (~4 Mpx per band).
        border_pad_m: the raster is extended by copies of its edge pixels this far at the
            image border before thinning; 0 (the default): no extension. Border dead ends
            are moved onto the border on the graph (:mod:`basiss.graph.borders`) either
            way, and the extension pushes the skeleton of a road running along the border
            (its mask cut lengthwise) out of the picture (see :mod:`basiss.graph.raster`).
        pixel_size_m: metres per pixel of a raster without a CRS (lengths then stay in
            that unit; 1.0 means pixels).
    """

    threshold: float = 0.5
    hysteresis: tuple[float, float] | None = None
    fill_holes_m2: float = 4.0
    min_blob_m2: float = 10.0
    spur_m: float = 8.0
    min_component_m: float = 10.0
    bridge_m: float = 8.0
    bridge_angle_deg: float = 30.0
    junction_merge_m: float = 5.0
    junction_shift_m: float = 12.0
    loop_m: float = 12.0
    simplify_m: float = 0.5
    halo_m: float = 40.0
    halo_px: int | None = None
    band_m: float | None = None
    border_pad_m: float = 0.0
    pixel_size_m: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise BasissError(f"graph threshold must be in (0, 1], got {self.threshold}")
        if self.hysteresis is not None:
            low, high = self.hysteresis
            if not 0.0 < low <= high <= 1.0:
                raise BasissError(f"hysteresis needs 0 < low <= high <= 1, got {low}, {high}")
        for name in (
            "fill_holes_m2",
            "min_blob_m2",
            "spur_m",
            "min_component_m",
            "bridge_m",
            "junction_merge_m",
            "junction_shift_m",
            "loop_m",
            "simplify_m",
            "halo_m",
            "border_pad_m",
        ):
            if getattr(self, name) < 0:
                raise BasissError(f"graph option {name} must be >= 0, got {getattr(self, name)}")
        if self.pixel_size_m <= 0:
            raise BasissError(f"pixel_size_m must be > 0, got {self.pixel_size_m}")
        if self.halo_px is not None and self.halo_px < 0:
            raise BasissError(f"halo_px must be >= 0, got {self.halo_px}")


#: The default options (frozen, so safe to share as a default argument).
DEFAULT_OPTIONS = GraphOptions()


@dataclass(frozen=True)
class PixelOptions:
    """The raster-stage options of one raster, in pixels (from :func:`resolve`).

    Attributes:
        sx: metres per pixel along a row (x).
        sy: metres per pixel along a column (y).
        hole_px: holes with fewer pixels than this are filled.
        blob_px: blobs with fewer pixels than this are dropped.
        halo: halo rows above and below a band.
        pad: pixels of edge extension at the image border.
        band_rows: rows per band when the caller does not choose (auto).
    """

    sx: float
    sy: float
    hole_px: int
    blob_px: int
    halo: int
    pad: int
    band_rows: int | None


def resolve(options: GraphOptions, sx: float, sy: float) -> PixelOptions:
    """Convert the metric options to pixels for a raster of pixel size ``sx`` x ``sy`` m.

    Args:
        options: the user's options.
        sx: metres per pixel along x.
        sy: metres per pixel along y.

    Returns:
        The pixel options; the halo is at least 8 rows (the thinning and the
        neighbourhood tests reach a few pixels).
    """
    area = sx * sy
    halo = options.halo_px if options.halo_px is not None else math.ceil(options.halo_m / sy)
    band = None if options.band_m is None else max(16, math.ceil(options.band_m / sy))
    return PixelOptions(
        sx=sx,
        sy=sy,
        hole_px=math.ceil(options.fill_holes_m2 / area),
        blob_px=math.ceil(options.min_blob_m2 / area),
        halo=max(8, int(halo)),
        pad=math.ceil(options.border_pad_m / min(sx, sy)),
        band_rows=band,
    )
