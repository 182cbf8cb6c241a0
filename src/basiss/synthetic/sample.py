"""A synthetic dataset shaped exactly like SpaceNet 3 roads: the embedded default.

``write_sample(out_dir)`` writes, deterministically from a seed::

    OUT/AOI_9_Sample_Train/RGB-PanSharpen/RGB-PanSharpen_AOI_9_Sample_img{N}.tif   3 x uint16
    OUT/AOI_9_Sample_Train/MUL-PanSharpen/MUL-PanSharpen_AOI_9_Sample_img{N}.tif   8 x uint16
    OUT/AOI_9_Sample_Train/geojson/spacenetroads/spacenetroads_AOI_9_Sample_img{N}.geojson
    OUT/AOI_9_Sample_Test/...                                      (same layout, other ids)
    OUT/broad_area/RGB-PanSharpen_AOI_9_Sample_broad.tif           local UTM, 0.3 m
    OUT/broad_area/spacenetroads_AOI_9_Sample_broad.geojson        EPSG:4326 centerlines

Chips are tiles of one synthetic suburb near Plano, Texas (UTM zone 14N), on a
2.7e-6 degree grid in EPSG:4326 as SpaceNet 3 ships them; the broad scene is a
second, separate suburb nearby in EPSG:32614 at 0.3 m. Values are 11-bit
(1..2047, 0 = nodata); the 8 MUL bands follow WorldView-3 (coastal, blue,
green, yellow, red, red edge, NIR1, NIR2) and RGB is (red, green, blue) of them.

How it is made: a road network is drawn as vector geometry in metres
(arterial grid, residential grids, curved streets, loops, cul-de-sacs, a
diagonal, dirt tracks), then houses with driveways and pools, commercial
plots with parking lots, trees, cars and shadows are placed around it with
shapely. Every object becomes a polygon with a material (a reflectance
spectrum); each image window is made by one ``rasterio.features.rasterize``
of the polygons in paint order, a spectrum look-up, smooth value-noise
textures, a small blur and sensor noise, all vectorised numpy. Labels are the
same centerlines that were buffered to paint the roads (painted width from
the lane count, :func:`road_width_m`), clipped to each image's valid footprint.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from shapely.geometry import LineString, Polygon, box

from basiss.errors import BasissError
from basiss.io.raster import PathLike, atomic_output, geotiff_profile
from basiss.progress import progress

AOI = "AOI_9_Sample"
#: SpaceNet 3 chips: 0.3 m expressed as degrees in EPSG:4326.
DEG_PER_PX = 2.7e-6
GSD_M = 0.3
PLACE = "Plano, Texas, USA"
#: Top-left (lon, lat) of the chip tiles and of the broad scene.
CHIPS_ORIGIN = (-96.7650, 33.0500)
BROAD_ORIGIN = (-96.7330, 33.0480)
UTM_EPSG = 32614  # zone 14N holds -102..-96 degrees of longitude
MAX_DN = 2047  # 11-bit sensor
MUL_BANDS = ("coastal", "blue", "green", "yellow", "red", "red_edge", "nir1", "nir2")
RGB_FROM_MUL = (4, 2, 1)  # red, green, blue: 0-based indices into the MUL bands
LANE_M = 3.0
SHOULDER_M = 0.6
ROAD_PROPERTIES = ("road_id", "road_type", "lane_number", "paved", "one_way_type", "bridge_type")

# Sun in the south-south-east at 55 degrees elevation (a WorldView morning pass).
_SUN_AZIMUTH = math.radians(150.0)
_SUN_DIR = np.array([math.sin(_SUN_AZIMUTH), math.cos(_SUN_AZIMUTH)])  # (east, north)
_SHADOW_PER_M = 1.0 / math.tan(math.radians(55.0))
_BLOCK_ROWS = 512


# ---------------------------------------------------------------------------------------
# Public layout and naming
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleLayout:
    """Where :func:`write_sample` puts each part of the dataset."""

    root: Path
    train_dir: Path
    test_dir: Path
    broad_image: Path
    broad_labels: Path

    @classmethod
    def at(cls, root: PathLike) -> SampleLayout:
        """The layout under ``root`` (nothing is created)."""
        r = Path(root)
        return cls(
            root=r,
            train_dir=r / f"{AOI}_Train",
            test_dir=r / f"{AOI}_Test",
            broad_image=r / "broad_area" / f"RGB-PanSharpen_{AOI}_broad.tif",
            broad_labels=r / "broad_area" / f"spacenetroads_{AOI}_broad.geojson",
        )


def rgb_path(split_dir: PathLike, image_id: int) -> Path:
    """``split_dir/RGB-PanSharpen/RGB-PanSharpen_AOI_9_Sample_img{N}.tif``."""
    return Path(split_dir) / "RGB-PanSharpen" / f"RGB-PanSharpen_{AOI}_img{image_id}.tif"


def mul_path(split_dir: PathLike, image_id: int) -> Path:
    """``split_dir/MUL-PanSharpen/MUL-PanSharpen_AOI_9_Sample_img{N}.tif``."""
    return Path(split_dir) / "MUL-PanSharpen" / f"MUL-PanSharpen_{AOI}_img{image_id}.tif"


def labels_path(split_dir: PathLike, image_id: int) -> Path:
    """``split_dir/geojson/spacenetroads/spacenetroads_AOI_9_Sample_img{N}.geojson``."""
    name = f"spacenetroads_{AOI}_img{image_id}.geojson"
    return Path(split_dir) / "geojson" / "spacenetroads" / name


def image_ids(split_dir: PathLike) -> list[int]:
    """The image ids N present in ``split_dir/RGB-PanSharpen``, sorted."""
    pattern = re.compile(rf"RGB-PanSharpen_{AOI}_img(\d+)\.tif$")
    folder = Path(split_dir) / "RGB-PanSharpen"
    if not folder.is_dir():
        return []
    found = (pattern.match(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def road_width_m(lanes: int) -> float:
    """Painted width of a road with ``lanes`` lanes, in metres (3 m a lane + shoulders)."""
    return LANE_M * lanes + SHOULDER_M


# ---------------------------------------------------------------------------------------
# Spectra (reflectance per WorldView-3 band) and materials
# ---------------------------------------------------------------------------------------


def _s(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


_SPECTRA = {
    "lawn": _s(0.040, 0.045, 0.100, 0.076, 0.052, 0.240, 0.440, 0.460),
    "dry": _s(0.075, 0.085, 0.125, 0.145, 0.155, 0.215, 0.290, 0.310),
    "soil": _s(0.100, 0.120, 0.170, 0.215, 0.245, 0.275, 0.300, 0.315),
    "tree": _s(0.028, 0.032, 0.062, 0.046, 0.034, 0.160, 0.340, 0.360),
    "concrete": _s(0.210, 0.245, 0.280, 0.295, 0.305, 0.315, 0.325, 0.335),
    "asphalt": _s(0.094, 0.097, 0.100, 0.098, 0.095, 0.098, 0.102, 0.104),
    "dirt": _s(0.115, 0.135, 0.190, 0.230, 0.260, 0.280, 0.300, 0.310),
    "gravel": _s(0.160, 0.180, 0.205, 0.220, 0.230, 0.240, 0.250, 0.255),
    "paint_white": _s(0.440, 0.480, 0.500, 0.510, 0.510, 0.510, 0.500, 0.500),
    "paint_yellow": _s(0.110, 0.130, 0.290, 0.410, 0.440, 0.450, 0.450, 0.450),
    "water": _s(0.070, 0.085, 0.095, 0.060, 0.035, 0.022, 0.014, 0.012),
    "pool": _s(0.150, 0.195, 0.215, 0.150, 0.095, 0.055, 0.036, 0.032),
}
_ROOF_PALETTE = np.array(
    [
        _s(0.085, 0.087, 0.090, 0.092, 0.094, 0.096, 0.099, 0.101),  # dark shingle (road-like)
        _s(0.135, 0.140, 0.145, 0.148, 0.150, 0.152, 0.156, 0.158),  # grey shingle (road-like)
        _s(0.070, 0.078, 0.098, 0.125, 0.155, 0.175, 0.195, 0.205),  # brown shingle
        _s(0.070, 0.080, 0.100, 0.140, 0.200, 0.240, 0.270, 0.280),  # terracotta tiles
        _s(0.150, 0.160, 0.175, 0.190, 0.200, 0.210, 0.220, 0.225),  # weathered wood
        _s(0.250, 0.265, 0.275, 0.280, 0.285, 0.290, 0.295, 0.300),  # light grey
    ]
)
_ROOF_WEIGHTS = np.array([0.24, 0.20, 0.22, 0.14, 0.08, 0.12])
_FLAT_ROOF_PALETTE = np.array(
    [
        _s(0.480, 0.520, 0.540, 0.550, 0.550, 0.550, 0.540, 0.540),  # white membrane
        _s(0.280, 0.290, 0.300, 0.305, 0.310, 0.315, 0.320, 0.325),  # light grey gravel
        _s(0.090, 0.092, 0.095, 0.097, 0.099, 0.101, 0.104, 0.106),  # dark (road-like)
        _s(0.170, 0.185, 0.210, 0.235, 0.250, 0.260, 0.270, 0.275),  # tan
    ]
)
_CAR_PALETTE = np.array(
    [
        _s(0.520, 0.560, 0.580, 0.580, 0.580, 0.580, 0.570, 0.570),  # white
        _s(0.030, 0.031, 0.032, 0.033, 0.034, 0.035, 0.037, 0.038),  # black
        _s(0.280, 0.300, 0.310, 0.315, 0.320, 0.320, 0.320, 0.320),  # silver
        _s(0.050, 0.048, 0.045, 0.090, 0.330, 0.360, 0.380, 0.380),  # red
        _s(0.100, 0.140, 0.090, 0.060, 0.045, 0.055, 0.090, 0.100),  # blue
        _s(0.120, 0.125, 0.130, 0.132, 0.134, 0.136, 0.140, 0.142),  # grey
    ]
)
_CAR_WEIGHTS = np.array([0.28, 0.2, 0.22, 0.1, 0.1, 0.1])
# Shade keeps more of the blue sky light than of the direct (redder) sun light.
_SHADOW_FACTOR = _s(0.62, 0.58, 0.52, 0.49, 0.47, 0.46, 0.45, 0.45)
# DN = haze + gain * reflectance: path radiance is larger at short wavelengths.
_HAZE_DN = _s(150.0, 120.0, 92.0, 74.0, 62.0, 52.0, 42.0, 36.0)
_GAIN_DN = 1700.0


class _Materials:
    """A growing table of materials: spectrum plus texture parameters.

    ``mix`` is how much the smooth dryness field pulls the material towards dry
    grass (lawns and fields); ``tex_mid``/``tex_fine`` are the amplitudes of
    the ~1.2 m and ~0.6 m brightness textures (large for tree crowns).
    """

    def __init__(self) -> None:
        self.spectra: list[np.ndarray] = []
        self.mix: list[np.ndarray] = []
        self.tex_mid: list[np.ndarray] = []
        self.tex_fine: list[np.ndarray] = []
        self.count = 0

    def add(
        self, spectra: np.ndarray, mix: float = 0.0, tex_mid: float = 0.03, tex_fine: float = 0.02
    ) -> np.ndarray:
        """Append ``(k, 8)`` spectra (or one ``(8,)``); returns their ids."""
        spec = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
        k = spec.shape[0]
        ids = np.arange(self.count, self.count + k)
        self.spectra.append(np.clip(spec, 0.005, 0.95))
        self.mix.append(np.full(k, mix))
        self.tex_mid.append(np.full(k, tex_mid))
        self.tex_fine.append(np.full(k, tex_fine))
        self.count += k
        return ids

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(spectra (n, 8), mix (n,), tex_mid (n,), tex_fine (n,)) as float32."""
        return (
            np.concatenate(self.spectra).astype(np.float32),
            np.concatenate(self.mix).astype(np.float32),
            np.concatenate(self.tex_mid).astype(np.float32),
            np.concatenate(self.tex_fine).astype(np.float32),
        )


# ---------------------------------------------------------------------------------------
# Vector helpers (metres)
# ---------------------------------------------------------------------------------------


def _rects(
    cx: np.ndarray,
    cy: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    half_len: np.ndarray | float,
    half_wid: np.ndarray | float,
) -> np.ndarray:
    """Rectangles centred on (cx, cy) with long axis (ux, uy); vectorised.

    Returns:
        array of shapely Polygons.
    """
    cx, cy, ux, uy = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (cx, cy, ux, uy))
    hl = np.broadcast_to(np.asarray(half_len, dtype=np.float64), cx.shape)
    hw = np.broadcast_to(np.asarray(half_wid, dtype=np.float64), cx.shape)
    vx, vy = -uy, ux
    corners = ((1, 1), (-1, 1), (-1, -1), (1, -1), (1, 1))
    coords = np.stack(
        [
            np.stack([cx + a * hl * ux + b * hw * vx, cy + a * hl * uy + b * hw * vy], -1)
            for a, b in corners
        ],
        axis=1,
    )
    if coords.shape[0] == 0:
        return np.array([], dtype=object)
    return shapely.polygons(coords)


def _translate(geoms: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Each geometry moved by its own (dx, dy) row of ``shift``; vectorised."""
    arr = np.array(geoms, dtype=object, copy=True)
    coords, index = shapely.get_coordinates(arr, return_index=True)
    return shapely.set_coordinates(arr, coords + shift[index])


def _discs(x: np.ndarray, y: np.ndarray, r: np.ndarray, segs: int = 4) -> np.ndarray:
    """Discs (polygons with ``4 * segs`` sides) centred on (x, y)."""
    if len(x) == 0:
        return np.array([], dtype=object)
    return shapely.buffer(
        shapely.points(np.asarray(x), np.asarray(y)), np.asarray(r), quad_segs=segs
    )


def _along(
    line: LineString, distances: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points and unit tangents of ``line`` at ``distances`` (x, y, tx, ty)."""
    d = np.clip(distances, 0.0, line.length)
    pts = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
    ahead = shapely.get_coordinates(
        shapely.line_interpolate_point(line, np.minimum(d + 1.0, line.length))
    )
    behind = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(d - 1.0, 0.0)))
    t = ahead - behind
    t /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
    return pts[:, 0], pts[:, 1], t[:, 0], t[:, 1]


class _Frame:
    """A rotated local frame (u, v) around a centre: the street grid's axes."""

    def __init__(self, cx: float, cy: float, theta: float) -> None:
        self.cx, self.cy = cx, cy
        self.c, self.s = math.cos(theta), math.sin(theta)

    def xy(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
        return self.cx + u * self.c - v * self.s, self.cy + u * self.s + v * self.c

    def line(self, u: Sequence[float] | np.ndarray, v: Sequence[float] | np.ndarray) -> LineString:
        x, y = self.xy(np.asarray(u), np.asarray(v))
        return LineString(np.column_stack([x, y]))

    def poly(self, u0: float, u1: float, v0: float, v1: float) -> Polygon:
        x, y = self.xy(np.array([u0, u1, u1, u0]), np.array([v0, v0, v1, v1]))
        return Polygon(np.column_stack([x, y]))


# ---------------------------------------------------------------------------------------
# The road network
# ---------------------------------------------------------------------------------------


@dataclass
class _Road:
    """One centerline in metres with its SpaceNet attributes."""

    line: LineString
    lanes: int
    paved: bool
    road_type: str
    kind: str  # arterial, local, collector, stub, loop, diagonal, track
    bulb: float = 0.0  # radius of a cul-de-sac turning circle at the end, 0 for none
    houses: bool = True

    @property
    def half_width(self) -> float:
        return road_width_m(self.lanes) / 2.0


@dataclass
class _Plan:
    """Everything laid out in metres before painting."""

    roads: list[_Road] = field(default_factory=list)
    plots: list[tuple[Polygon, Polygon, np.ndarray]] = field(default_factory=list)
    fields: list[Polygon] = field(default_factory=list)
    ponds: list[Polygon] = field(default_factory=list)
    woods: list[tuple[float, float, float]] = field(default_factory=list)
    soil: list[Polygon] = field(default_factory=list)


class _Cell:
    """A superblock between arterials, seen in its own (a, b) axes.

    Streets of the cell run along ``a``; ``b`` is the cross direction. With
    ``swap`` the roles of the frame's u and v are exchanged, so cells differ
    in orientation.
    """

    def __init__(self, frame: _Frame, bounds: tuple[float, float, float, float], swap: bool):
        u0, u1, v0, v1 = bounds
        self.frame, self.swap = frame, swap
        self.a0, self.a1, self.b0, self.b1 = (v0, v1, u0, u1) if swap else (u0, u1, v0, v1)

    def line(self, a: np.ndarray, b: np.ndarray) -> LineString:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return self.frame.line(b, a) if self.swap else self.frame.line(a, b)

    def xy(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.frame.xy(b, a) if self.swap else self.frame.xy(a, b)

    def dirs(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors of the a and b axes in x, y."""
        x0, y0 = self.xy(0.0, 0.0)
        xa, ya = self.xy(1.0, 0.0)
        xb, yb = self.xy(0.0, 1.0)
        return np.array([xa - x0, ya - y0]), np.array([xb - x0, yb - y0])


def _wave(rng: np.random.Generator, amp: tuple[float, float], wavelength: tuple[float, float]):
    """A random sine offset b(a): the shape of a gently curved street."""
    A = rng.uniform(*amp)
    lam = rng.uniform(*wavelength)
    phase = rng.uniform(0, 2 * math.pi)
    return lambda a: A * np.sin(2 * math.pi * np.asarray(a) / lam + phase)


def _curve(cell: _Cell, b_base: float, wave, a0: float, a1: float) -> LineString:
    a = np.linspace(a0, a1, max(2, int((a1 - a0) / 3.0) + 1))
    return cell.line(a, b_base + wave(a))


def _flat(_a):
    return 0.0 * np.asarray(_a)


def _cell_grid(rng: np.random.Generator, cell: _Cell, plan: _Plan) -> None:
    """Parallel residential streets with cross streets (some missing: T-junctions)."""
    spacing = rng.uniform(78, 108)
    bs = np.arange(cell.b0 + spacing, cell.b1 - 0.6 * spacing, spacing)
    waves = [_wave(rng, (5, 13), (160, 300)) if rng.random() < 0.3 else _flat for _ in bs]
    for b, w in zip(bs, waves, strict=True):
        paved = rng.random() > 0.08
        plan.roads.append(_Road(_curve(cell, b, w, cell.a0, cell.a1), 2, paved, "5", "local"))
    edges = [(cell.b0, _flat), *zip(bs, waves, strict=True), (cell.b1, _flat)]
    cross = np.arange(cell.a0 + rng.uniform(0.3, 1.0) * 200, cell.a1 - 60, rng.uniform(170, 260))
    for a in cross:
        for (b_lo, w_lo), (b_hi, w_hi) in zip(edges[:-1], edges[1:], strict=True):
            if rng.random() < 0.72:
                lo, hi = b_lo + float(w_lo(a)), b_hi + float(w_hi(a))
                plan.roads.append(_Road(cell.line([a, a], [lo, hi]), 2, True, "5", "local"))


def _stub(cell: _Cell, a: float, b_from: float, length: float, radius: float) -> _Road:
    line = cell.line([a, a], [b_from, b_from + length])
    return _Road(line, 2, True, "5", "stub", bulb=radius)


def _cell_culdesac(rng: np.random.Generator, cell: _Cell, plan: _Plan) -> None:
    """Curved collectors with cul-de-sacs (dead ends with turning circles) on both sides."""
    n = max(1, round((cell.b1 - cell.b0) / 270))
    band = (cell.b1 - cell.b0) / n
    for k in range(n):
        b = cell.b0 + (k + 0.5) * band
        w = _wave(rng, (8, 22), (260, 460))
        plan.roads.append(_Road(_curve(cell, b, w, cell.a0, cell.a1), 2, True, "5", "collector"))
        a = cell.a0 + rng.uniform(45, 70)
        while a < cell.a1 - 45:
            for side in (-1, 1):
                length = min(rng.uniform(50, 95), band / 2 - 42)
                if length > 28 and rng.random() < 0.85:
                    b_on = b + float(w(a))
                    plan.roads.append(_stub(cell, a, b_on, side * length, rng.uniform(9.5, 12)))
            a += rng.uniform(62, 85)


def _cell_curvy(rng: np.random.Generator, cell: _Cell, plan: _Plan) -> None:
    """Winding streets, loop lanes (half ellipses) and a few cul-de-sacs."""
    spacing = rng.uniform(150, 190)
    bs = np.arange(cell.b0 + spacing * rng.uniform(0.6, 1.0), cell.b1 - 0.5 * spacing, spacing)
    for b in bs:
        w = _wave(rng, (14, 26), (220, 380))
        plan.roads.append(_Road(_curve(cell, b, w, cell.a0, cell.a1), 2, True, "5", "local"))
        a = cell.a0 + rng.uniform(40, 90)
        while a < cell.a1 - 140:
            side = rng.choice((-1, 1))
            if rng.random() < 0.55:  # loop lane
                width = rng.uniform(80, 120)
                depth = spacing / 2 - rng.uniform(34, 40)
                t = np.linspace(0, math.pi, 40)
                aa = a + width / 2 - width / 2 * np.cos(t)
                bb = b + w(aa) + side * depth * np.sin(t)
                plan.roads.append(_Road(cell.line(aa, bb), 2, True, "5", "loop"))
                a += width + rng.uniform(40, 70)
            else:
                length = spacing / 2 - rng.uniform(22, 30)
                plan.roads.append(
                    _stub(cell, a, b + float(w(a)), side * length, rng.uniform(9.5, 11.5))
                )
                a += rng.uniform(50, 80)


def _cell_open(rng: np.random.Generator, cell: _Cell, plan: _Plan, art_hw: float) -> None:
    """Undeveloped land: fields, woods, a pond, a dirt track, shops with parking lots."""
    inset = art_hw + 4
    plan.fields.append(
        cell.frame.poly(
            *(
                (cell.b0 + inset, cell.b1 - inset, cell.a0 + inset, cell.a1 - inset)
                if cell.swap
                else (cell.a0 + inset, cell.a1 - inset, cell.b0 + inset, cell.b1 - inset)
            )
        )
    )
    ea, eb = cell.dirs()
    a = cell.a0 + rng.uniform(35, 80)
    while a < cell.a1 - 130:
        pw, ph = rng.uniform(90, 170), rng.uniform(75, 115)
        if rng.random() < 0.7:
            b_lot = cell.b0 + art_hw + 7
            lot = cell.line(
                [a, a + pw, a + pw, a, a], [b_lot, b_lot, b_lot + ph, b_lot + ph, b_lot]
            )
            depth = rng.uniform(24, 40)
            bw = pw * rng.uniform(0.55, 0.9)
            ba = a + rng.uniform(0, pw - bw)
            bb = b_lot + ph - 3 - depth
            bld = cell.line([ba, ba + bw, ba + bw, ba, ba], [bb, bb, bb + depth, bb + depth, bb])
            plan.plots.append((Polygon(bld.coords), Polygon(lot.coords), np.stack([ea, eb])))
        a += pw + rng.uniform(25, 70)
    span_a, span_b = cell.a1 - cell.a0, cell.b1 - cell.b0
    if rng.random() < 0.75 and span_b > 200:
        b = cell.b0 + span_b * rng.uniform(0.55, 0.8)
        w = _wave(rng, (10, 35), (200, 420))
        plan.roads.append(
            _Road(_curve(cell, b, w, cell.a0, cell.a1), 2, False, "6", "track", houses=False)
        )
    if rng.random() < 0.4:
        cx, cy = cell.xy(
            cell.a0 + span_a * rng.uniform(0.3, 0.7), cell.b0 + span_b * rng.uniform(0.35, 0.5)
        )
        pond = shapely.affinity.scale(
            shapely.Point(float(cx), float(cy)).buffer(rng.uniform(18, 35), quad_segs=12),
            rng.uniform(1.0, 1.8),
            1.0,
        )
        plan.ponds.append(shapely.affinity.rotate(pond, rng.uniform(0, 180)))
    for _ in range(rng.integers(1, 4)):
        cx, cy = cell.xy(
            cell.a0 + span_a * rng.uniform(0.1, 0.9), cell.b0 + span_b * rng.uniform(0.3, 0.95)
        )
        plan.woods.append((float(cx), float(cy), float(rng.uniform(25, 60))))
    for _ in range(rng.integers(0, 3)):
        cx, cy = cell.xy(
            cell.a0 + span_a * rng.uniform(0.1, 0.9), cell.b0 + span_b * rng.uniform(0.4, 0.95)
        )
        plan.soil.append(
            _rects(cx, cy, ea[0], ea[1], rng.uniform(15, 40), rng.uniform(10, 30))[0].buffer(3.0)
        )


def _positions(rng: np.random.Generator, radius: float, spacing: float) -> list[float]:
    start = -radius + rng.uniform(0.35, 0.95) * spacing
    out = []
    p = start
    while p < radius - 0.3 * spacing:
        out.append(p + rng.uniform(-25, 25))
        p += spacing
    return out


def _road_network(rng: np.random.Generator, bounds: tuple[float, float, float, float]) -> _Plan:
    """Lay out roads, open land and shop plots over ``bounds`` (metres, x0 y0 x1 y1)."""
    x0, y0, x1, y1 = bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    radius = 0.5 * math.hypot(x1 - x0, y1 - y0) + 30
    frame = _Frame(cx, cy, rng.uniform(-0.45, 0.45))
    plan = _Plan()
    spacing = rng.uniform(470, 600)
    au, av = _positions(rng, radius, spacing), _positions(rng, radius, spacing)
    art_lanes = [int(rng.choice((3, 4))) for _ in au + av]
    for a, lanes in zip(au, art_lanes[: len(au)], strict=True):
        plan.roads.append(
            _Road(frame.line([a, a], [-radius, radius]), lanes, True, "3", "arterial", houses=False)
        )
    for a, lanes in zip(av, art_lanes[len(au) :], strict=True):
        plan.roads.append(
            _Road(frame.line([-radius, radius], [a, a]), lanes, True, "3", "arterial", houses=False)
        )
    art_hw = road_width_m(4) / 2
    eu, ev = [-radius, *au, radius], [-radius, *av, radius]
    styles = ("grid", "curvy", "culdesac", "open")
    for i in range(len(eu) - 1):
        for j in range(len(ev) - 1):
            cell = _Cell(frame, (eu[i], eu[i + 1], ev[j], ev[j + 1]), swap=bool(rng.random() < 0.5))
            style = rng.choice(styles, p=(0.36, 0.28, 0.25, 0.11))
            if style == "grid":
                _cell_grid(rng, cell, plan)
            elif style == "curvy":
                _cell_curvy(rng, cell, plan)
            elif style == "culdesac":
                _cell_culdesac(rng, cell, plan)
            else:
                _cell_open(rng, cell, plan, art_hw)
    if rng.random() < 0.75:
        ang = math.atan2(frame.s, frame.c) + rng.choice((-1, 1)) * rng.uniform(0.6, 0.95)
        px = cx + rng.uniform(-0.3, 0.3) * (x1 - x0)
        py = cy + rng.uniform(-0.3, 0.3) * (y1 - y0)
        dx, dy = math.cos(ang) * radius * 1.5, math.sin(ang) * radius * 1.5
        line = LineString([(px - dx, py - dy), (px + dx, py + dy)])
        plan.roads.append(_Road(line, int(rng.choice((2, 3))), True, "4", "diagonal", houses=False))
    return _clip_plan(plan, box(*bounds))


def _clip_plan(plan: _Plan, area: Polygon) -> _Plan:
    """Keep the parts of roads inside ``area`` (a bulb only where its end survives)."""
    kept: list[_Road] = []
    for road in plan.roads:
        end = shapely.Point(road.line.coords[-1])
        for part in shapely.get_parts(shapely.intersection(road.line, area)):
            if not isinstance(part, LineString) or part.length < 5.0:
                continue
            bulb = road.bulb if shapely.Point(part.coords[-1]).distance(end) < 1e-6 else 0.0
            kept.append(
                _Road(part, road.lanes, road.paved, road.road_type, road.kind, bulb, road.houses)
            )
    plan.roads = kept
    return plan


# ---------------------------------------------------------------------------------------
# The scene: painted polygons, shadows and materials
# ---------------------------------------------------------------------------------------


@dataclass
class _Scene:
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
    roads: list[_Road]
    lines: np.ndarray
    paint_tree: shapely.STRtree = field(init=False)
    shade_tree: shapely.STRtree = field(init=False)

    def __post_init__(self) -> None:
        self.paint_tree = shapely.STRtree(self.paint)
        self.shade_tree = shapely.STRtree(self.shade)


class _Painter:
    """Collects (polygon, material) layers in paint order and shadow polygons."""

    def __init__(self) -> None:
        self.mat = _Materials()
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        self.shadows: list[np.ndarray] = []
        self.occluders: list[np.ndarray] = []

    def paint(self, geoms: np.ndarray | Sequence, ids: np.ndarray | int) -> None:
        g = np.asarray(geoms, dtype=object).ravel()
        if g.size:
            self.layers.append((g, np.broadcast_to(np.asarray(ids, dtype=np.int64), g.shape)))

    def cast(self, footprints: np.ndarray, heights: np.ndarray, occlude: bool = True) -> None:
        """Shadows of prisms ``footprints`` x ``heights`` on the ground (to the north-west)."""
        if len(footprints) == 0:
            return
        shift = -_SUN_DIR[None, :] * (np.asarray(heights) * _SHADOW_PER_M)[:, None]
        moved = _translate(footprints, shift)
        self.shadows.append(shapely.convex_hull(shapely.union(footprints, moved)))
        if occlude:
            self.occluders.append(np.asarray(footprints, dtype=object))

    def scene(
        self, roads: list[_Road], to_image: Callable[[np.ndarray], np.ndarray] | None
    ) -> _Scene:
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
        return _Scene(paint, ids, shade, vals, spectra, mix, tm, tf, roads, lines)


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


def _jitter_spectra(
    rng: np.random.Generator, base: np.ndarray, n: int, bright: float
) -> np.ndarray:
    """``n`` copies of ``base`` with a random brightness and a little tint."""
    scale = rng.uniform(1 - bright, 1 + bright, size=(n, 1))
    tint = rng.normal(0, 0.025, size=(n, base.shape[-1]))
    return np.clip(base * scale * (1 + tint), 0.005, 0.95)


def _build_scene(
    rng: np.random.Generator,
    bounds: tuple[float, float, float, float],
    to_image: Callable[[np.ndarray], np.ndarray] | None,
) -> _Scene:
    """Lay out a suburb over ``bounds`` (UTM metres) and turn it into paint layers."""
    plan = _road_network(rng, bounds)
    roads = plan.roads
    p = _Painter()
    S = _SPECTRA
    base = p.mat.add(
        _jitter_spectra(rng, S["lawn"], 1, 0.03) * 0.8 + S["dry"] * 0.2, 0.7, 0.07, 0.05
    )
    assert base[0] == 0  # id 0 is the ground everywhere nothing else is painted

    paved = np.array([r.paved for r in roads], dtype=bool)
    road_polys = np.array(
        [
            shapely.union(r.line.buffer(r.half_width), _end_bulb(r))
            if r.bulb
            else r.line.buffer(r.half_width)
            for r in roads
        ],
        dtype=object,
    )
    clearance = np.array(
        [shapely.buffer(g, 3.0) for g in road_polys], dtype=object
    )  # road + sidewalk band
    clear_tree = shapely.STRtree(clearance) if len(clearance) else None

    # --- open land: fields, soil patches, ponds
    p.paint(
        np.array(plan.fields, dtype=object),
        p.mat.add(S["dry"] * 0.6 + S["lawn"] * 0.4, 1.0, 0.1, 0.05)[0],
    )
    if plan.soil:
        p.paint(
            np.array(plan.soil, dtype=object),
            p.mat.add(_jitter_spectra(rng, S["soil"], len(plan.soil), 0.1), 0.0, 0.09, 0.05),
        )

    # --- houses (placed now, painted later; their lawns go first)
    houses = _place_houses(rng, roads, clear_tree, plan)
    n_h = len(houses["body"])
    lawn_ids = (
        p.mat.add(
            [S["lawn"] * (1 - t) + S["dry"] * t for t in rng.uniform(0.0, 0.45, n_h)],
            0.35,
            0.06,
            0.05,
        )
        if n_h
        else np.array([], dtype=np.int64)
    )
    p.paint(houses["lot"], lawn_ids)
    p.paint(np.array(plan.ponds, dtype=object), p.mat.add(S["water"], 0.0, 0.02, 0.01)[0])

    # --- commercial plots: parking lots, then (later) flat roofs
    lots = np.array([lot for _, lot, _ in plan.plots], dtype=object)
    lots = lots[~_hits(lots, clear_tree)] if len(lots) else lots
    plots = [pl for pl in plan.plots if any(pl[1] is lot for lot in lots)]
    if plots:
        lot_ids = p.mat.add(_jitter_spectra(rng, S["asphalt"], len(plots), 0.25), 0.0, 0.03, 0.02)
        p.paint(np.array([lot for _, lot, _ in plots], dtype=object), lot_ids)

    # --- sidewalks around the paved network (closed, so corners are rounded)
    paved_polys = road_polys[paved]
    if len(paved_polys):
        network = shapely.union_all(paved_polys)
        closed = network.buffer(5.0, quad_segs=6).buffer(-5.0, quad_segs=6)
        walk = shapely.difference(closed.buffer(2.6, quad_segs=4), closed.buffer(1.1, quad_segs=4))
        p.paint([walk], p.mat.add(S["concrete"], 0.0, 0.03, 0.03)[0])
        # the rounded kerb corners are road too: asphalt under every road
        p.paint([closed], p.mat.add(S["asphalt"] * 1.1, 0.0, 0.03, 0.02)[0])

    # --- driveways and pool decks
    p.paint(
        houses["drive"], p.mat.add(_jitter_spectra(rng, S["concrete"], 1, 0.05), 0.0, 0.03, 0.03)[0]
    )
    p.paint(houses["deck"], p.mat.add(S["concrete"] * 1.1, 0.0, 0.02, 0.02)[0])
    p.paint(houses["pool"], p.mat.add(S["pool"], 0.0, 0.02, 0.01)[0])

    # --- roads: tracks, then streets, then arterials on top at the junctions
    order = np.argsort(
        [{"track": 0, "arterial": 2, "diagonal": 2}.get(r.kind, 1) for r in roads], kind="stable"
    )
    road_ids = np.empty(len(roads), dtype=np.int64)
    for k, r in enumerate(roads):
        if r.paved:
            road_ids[k] = p.mat.add(S["asphalt"] * rng.uniform(0.75, 1.65), 0.0, 0.03, 0.02)[0]
        elif r.kind == "track":
            road_ids[k] = p.mat.add(_jitter_spectra(rng, S["dirt"], 1, 0.08), 0.0, 0.10, 0.06)[0]
        else:
            road_ids[k] = p.mat.add(_jitter_spectra(rng, S["gravel"], 1, 0.08), 0.0, 0.06, 0.05)[0]
    p.paint(road_polys[order], road_ids[order])
    _paint_markings(rng, p, roads)

    # --- parking stripes and cars
    stripes, stall_cars = _parking(rng, plots)
    p.paint(stripes, p.mat.add(S["paint_white"] * 0.9, 0.0, 0.0, 0.0)[0])
    cars = np.concatenate([_road_cars(rng, roads), stall_cars, houses["car"]])
    if len(cars):
        p.cast(cars, np.full(len(cars), 1.5), occlude=True)
        pick = rng.choice(len(_CAR_PALETTE), size=len(cars), p=_CAR_WEIGHTS)
        p.paint(
            cars,
            p.mat.add(_jitter_spectra(rng, _CAR_PALETTE[pick], len(cars), 0.08), 0.0, 0.0, 0.02),
        )

    # --- roofs: gable halves for houses, flat roofs with units for shops
    if n_h:
        roof = _ROOF_PALETTE[rng.choice(len(_ROOF_PALETTE), size=n_h, p=_ROOF_WEIGHTS)]
        roof = _jitter_spectra(rng, roof, n_h, 0.1)
        lit, dim = houses["lit"], houses["dim"]
        owner = houses["part_owner"]
        p.cast(houses["parts"], houses["height"][owner])
        p.paint(lit, p.mat.add(roof[owner] * 1.18, 0.0, 0.04, 0.04))
        p.paint(dim, p.mat.add(roof[owner] * 0.82, 0.0, 0.04, 0.04))
    if plots:
        blds = np.array([b for b, _, _ in plots], dtype=object)
        flat = _FLAT_ROOF_PALETTE[rng.choice(len(_FLAT_ROOF_PALETTE), size=len(plots))]
        p.cast(blds, rng.uniform(6, 10, len(plots)))
        p.paint(blds, p.mat.add(_jitter_spectra(rng, flat, len(plots), 0.06), 0.0, 0.02, 0.03))
        units = _roof_units(rng, plots)
        p.paint(units, p.mat.add(_FLAT_ROOF_PALETTE[1] * 1.5, 0.0, 0.0, 0.0)[0])

    # --- trees last: they overhang yards, sidewalks and road edges
    _paint_trees(rng, p, roads, road_polys, houses, plan, bounds)
    return p.scene(roads, to_image)


def _end_bulb(road: _Road) -> Polygon:
    x, y = road.line.coords[-1]
    return shapely.Point(x, y).buffer(road.bulb, quad_segs=8)


def _hits(geoms: np.ndarray, tree: shapely.STRtree | None) -> np.ndarray:
    """Boolean per geometry: does it intersect anything in ``tree``?"""
    out = np.zeros(len(geoms), dtype=bool)
    if tree is None or len(geoms) == 0:
        return out
    idx = tree.query(geoms, predicate="intersects")
    out[np.unique(idx[0])] = True
    return out


def _greedy_disjoint(geoms: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Drop every geometry that overlaps an earlier kept one (in index order)."""
    if len(geoms) == 0:
        return keep
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    sel = i > j  # pair (later, earlier)
    later, earlier = i[sel], j[sel]
    order = np.lexsort((earlier, later))
    later, earlier = later[order], earlier[order]
    keep = keep.copy()
    for a, b in zip(later.tolist(), earlier.tolist(), strict=True):
        if keep[a] and keep[b]:
            keep[a] = False
    return keep


def _place_houses(
    rng: np.random.Generator, roads: list[_Road], clear_tree: shapely.STRtree | None, plan: _Plan
) -> dict[str, np.ndarray]:
    """Houses along residential streets and around turning circles.

    Returns arrays: ``body`` (house + garage footprints, for conflicts),
    ``parts`` (each roof prism), ``lit``/``dim`` (gable halves), ``part_owner``,
    ``height``, ``lot``, ``drive``, ``pool``, ``deck``, ``car``, ``cx``, ``cy``,
    ``nx``, ``ny`` (unit vector from the street to the house), ``depth``.
    """
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("cx", "cy", "tx", "ty", "nx", "ny", "edge")
    }
    for r in roads:
        if not r.houses:
            continue
        spacing = rng.uniform(17, 24)
        d = np.arange(rng.uniform(8, 16), r.line.length - 8, spacing)
        if len(d) == 0:
            continue
        x, y, tx, ty = _along(r.line, d + rng.uniform(-1.5, 1.5, len(d)))
        for side in (-1.0, 1.0):
            keep = rng.random(len(d)) < 0.93
            cols["cx"].append(x[keep])
            cols["cy"].append(y[keep])
            cols["tx"].append(tx[keep])
            cols["ty"].append(ty[keep])
            cols["nx"].append(-ty[keep] * side)
            cols["ny"].append(tx[keep] * side)
            cols["edge"].append(np.full(keep.sum(), r.half_width))
        if r.bulb:
            ex, ey = r.line.coords[-1]
            px, py = r.line.coords[-2] if len(r.line.coords) > 1 else (ex, ey)
            base = math.atan2(ey - py, ex - px)
            angles = base + np.radians([-75.0, 0.0, 75.0])
            nx, ny = np.cos(angles), np.sin(angles)
            cols["cx"].append(ex + 0 * nx)
            cols["cy"].append(ey + 0 * ny)
            cols["tx"].append(-ny)
            cols["ty"].append(nx)
            cols["nx"].append(nx)
            cols["ny"].append(ny)
            cols["edge"].append(np.full(3, r.bulb))
    if not cols["cx"]:
        return _no_houses()
    cx, cy, tx, ty, nx, ny, edge = (
        np.concatenate(cols[k]) for k in ("cx", "cy", "tx", "ty", "nx", "ny", "edge")
    )
    n = len(cx)
    front = rng.uniform(10, 16, n)  # frontage
    depth = rng.uniform(10, 15, n)
    setback = rng.uniform(4.5, 8.5, n)
    dist = edge + 2.6 + setback + depth / 2
    hx, hy = cx + nx * dist, cy + ny * dist
    body = _rects(hx, hy, tx, ty, front / 2, depth / 2)
    garage = rng.random(n) < 0.55
    gside = rng.choice((-1.0, 1.0), n)
    gx = hx + tx * gside * (front / 2 + 3.2) - nx * (depth / 2 - 3.4)
    gy = hy + ty * gside * (front / 2 + 3.2) - ny * (depth / 2 - 3.4)
    gar = _rects(gx, gy, tx, ty, 3.2, 3.4)
    full = np.where(garage, shapely.union(body, gar), body)
    keep = ~_hits(full, clear_tree)
    blockers = [g for g in plan.fields + plan.ponds] + [lot for _, lot, _ in plan.plots]
    if blockers:
        keep &= ~_hits(full, shapely.STRtree(np.array(blockers, dtype=object)))
    keep = _greedy_disjoint(full, keep)
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return _no_houses()
    k = len(idx)
    sel = {name: arr[idx] for name, arr in dict(
        cx=cx, cy=cy, tx=tx, ty=ty, nx=nx, ny=ny, edge=edge, front=front, depth=depth,
        setback=setback, hx=hx, hy=hy, garage=garage, gx=gx, gy=gy, gside=gside,
    ).items()}  # fmt: skip
    height = rng.uniform(4.5, 8.0, k)
    # roof prisms: the house, and the garage where there is one
    has_g = sel["garage"]
    px = np.concatenate([sel["hx"], sel["gx"][has_g]])
    py = np.concatenate([sel["hy"], sel["gy"][has_g]])
    ptx = np.concatenate([sel["tx"], sel["tx"][has_g]])
    pty = np.concatenate([sel["ty"], sel["ty"][has_g]])
    pl = np.concatenate([sel["front"] / 2, np.full(has_g.sum(), 3.2)])
    pw = np.concatenate([sel["depth"] / 2, np.full(has_g.sum(), 3.4)])
    owner = np.concatenate([np.arange(k), np.flatnonzero(has_g)])
    # the ridge runs along the longer side; halves on either side of it
    along_t = pl >= pw
    ax = np.where(along_t, ptx, -pty)
    ay = np.where(along_t, pty, ptx)
    hl = np.maximum(pl, pw)
    hs = np.minimum(pl, pw)
    bx, by = -ay, ax
    sun_side = np.sign(bx * _SUN_DIR[0] + by * _SUN_DIR[1] + 1e-9)
    half_a = _rects(px + bx * hs / 2 * sun_side, py + by * hs / 2 * sun_side, ax, ay, hl, hs / 2)
    half_b = _rects(px - bx * hs / 2 * sun_side, py - by * hs / 2 * sun_side, ax, ay, hl, hs / 2)
    parts = _rects(px, py, ax, ay, hl, hs)
    # driveway from the garage (or the house side) to the street, with a car on some
    dx = np.where(has_g, sel["gx"], sel["hx"] + sel["tx"] * sel["gside"] * sel["front"] * 0.3)
    dy = np.where(has_g, sel["gy"], sel["hy"] + sel["ty"] * sel["gside"] * sel["front"] * 0.3)
    # the driveway runs along the street normal, from the road edge to the garage front
    far = sel["edge"] + 2.6 + sel["setback"]
    near = sel["edge"] - 0.5
    mid = (far + near) / 2
    off_t = (dx - sel["cx"]) * sel["tx"] + (dy - sel["cy"]) * sel["ty"]
    dcx = sel["cx"] + sel["tx"] * off_t + sel["nx"] * mid
    dcy = sel["cy"] + sel["ty"] * off_t + sel["ny"] * mid
    drive = _rects(
        dcx, dcy, sel["nx"], sel["ny"], (far - near) / 2 + 0.2, np.where(has_g, 3.0, 2.0)
    )
    with_car = rng.random(k) < 0.4
    cpos = near + 2.6 + 2.5 + rng.uniform(0, 1, k) * np.maximum(far - near - 2.6 - 5.0, 0)
    car = _rects(
        (sel["cx"] + sel["tx"] * off_t + sel["nx"] * cpos)[with_car],
        (sel["cy"] + sel["ty"] * off_t + sel["ny"] * cpos)[with_car],
        sel["nx"][with_car],
        sel["ny"][with_car],
        2.3,
        0.95,
    )
    # pools in some back yards
    has_pool = rng.random(k) < 0.2
    pdist = sel["edge"] + 2.6 + sel["setback"] + sel["depth"] + 5.5
    pcx = (sel["cx"] + sel["nx"] * pdist + sel["tx"] * rng.uniform(-4, 4, k))[has_pool]
    pcy = (sel["cy"] + sel["ny"] * pdist + sel["ty"] * rng.uniform(-4, 4, k))[has_pool]
    plen, pwid = rng.uniform(3.5, 5.5, k)[has_pool], rng.uniform(2.0, 3.0, k)[has_pool]
    ptx2, pty2 = sel["tx"][has_pool], sel["ty"][has_pool]
    pool = _rects(pcx, pcy, ptx2, pty2, plen, pwid)
    deck = _rects(pcx, pcy, ptx2, pty2, plen + 1.5, pwid + 1.5)
    pool_ok = ~_hits(deck, clear_tree)
    lot_depth = sel["setback"] + sel["depth"] + 14
    lot = _rects(
        sel["cx"] + sel["nx"] * (sel["edge"] + 2.6 + lot_depth / 2),
        sel["cy"] + sel["ny"] * (sel["edge"] + 2.6 + lot_depth / 2),
        sel["tx"],
        sel["ty"],
        sel["front"] / 2 + 5.0,
        lot_depth / 2,
    )
    return {
        "body": full[idx],
        "parts": parts,
        "lit": half_a,
        "dim": half_b,
        "part_owner": owner,
        "height": height,
        "lot": lot,
        "drive": drive,
        "pool": pool[pool_ok],
        "deck": deck[pool_ok],
        "car": car,
        **{
            key: sel[key]
            for key in ("cx", "cy", "nx", "ny", "tx", "ty", "depth", "edge", "setback")
        },
    }


def _no_houses() -> dict[str, np.ndarray]:
    empty = np.array([], dtype=object)
    z = np.zeros(0)
    return {
        "body": empty, "parts": empty, "lit": empty, "dim": empty, "part_owner": z.astype(int),
        "height": z, "lot": empty, "drive": empty, "pool": empty, "deck": empty, "car": empty,
        "cx": z, "cy": z, "nx": z, "ny": z, "tx": z, "ty": z, "depth": z, "edge": z, "setback": z,
    }  # fmt: skip


def _paint_markings(rng: np.random.Generator, p: _Painter, roads: list[_Road]) -> None:
    """A yellow centre line and dashed white lane lines on arterials and the diagonal."""
    yellow, white = [], []
    for r in roads:
        if r.kind not in ("arterial", "diagonal") or not r.paved:
            continue
        yellow.append(r.line.buffer(0.25, cap_style="flat"))
        for k in range(1, r.lanes // 2):
            for side in (-1, 1):
                off = shapely.offset_curve(r.line, side * k * LANE_M)
                if off.is_empty or off.length < 6:
                    continue
                d = np.arange(rng.uniform(0, 9), off.length - 3, 9.0)
                a = shapely.line_interpolate_point(off, d)
                b = shapely.line_interpolate_point(off, d + 3.0)
                dashes = shapely.linestrings(
                    np.stack([shapely.get_coordinates(a), shapely.get_coordinates(b)], axis=1)
                )
                white.append(shapely.buffer(dashes, 0.18, cap_style="flat"))
    if yellow:
        p.paint(
            np.array(yellow, dtype=object), p.mat.add(_SPECTRA["paint_yellow"], 0.0, 0.05, 0.05)[0]
        )
    if white:
        p.paint(np.concatenate(white), p.mat.add(_SPECTRA["paint_white"], 0.0, 0.05, 0.05)[0])


def _road_cars(rng: np.random.Generator, roads: list[_Road]) -> np.ndarray:
    """Cars driving in the lanes and parked along residential kerbs."""
    out = []
    for r in roads:
        if not r.paved or r.line.length < 20:
            continue
        every = 45.0 if r.kind in ("arterial", "diagonal") else 75.0
        n = rng.poisson(r.line.length / every)
        if n == 0:
            continue
        d = rng.uniform(5, r.line.length - 5, n)
        x, y, tx, ty = _along(r.line, d)
        lanes = np.arange(r.lanes) - (r.lanes - 1) / 2
        off = rng.choice(lanes, n) * LANE_M
        if r.kind in ("local", "collector", "loop"):
            parked = rng.random(n) < 0.5
            off = np.where(parked, np.sign(off + 1e-9) * (r.half_width - 1.2), off)
        out.append(_rects(x - ty * off, y + tx * off, tx, ty, 2.3, 0.95))
    return np.concatenate(out) if out else np.array([], dtype=object)


def _parking(rng: np.random.Generator, plots: list) -> tuple[np.ndarray, np.ndarray]:
    """Stall stripes and parked cars in the parking lots of the shop plots."""
    stripes, cars = [], []
    for bld, lot, axes in plots:
        ea, eb = axes
        lc = np.asarray(lot.exterior.coords)[:4]
        a = lc @ ea
        b = lc @ eb
        bb = np.asarray(bld.exterior.coords)[:4] @ eb
        a0, a1, b0, b_end = a.min() + 3, a.max() - 3, b.min() + 8, bb.min() - 8
        row_b = np.arange(b0, b_end - 11, 19.0)  # two rows of 5.5 m stalls and a 8 m aisle
        sa = np.arange(a0, a1, 2.7)
        if len(row_b) == 0 or len(sa) < 2:
            continue
        A, B = np.meshgrid(sa, row_b)
        for dbs in (0.0, 5.5):
            pa, pb = A.ravel(), B.ravel() + dbs + 2.75
            cx, cy = pa * ea[0] + pb * eb[0], pa * ea[1] + pb * eb[1]
            stripes.append(_rects(cx, cy, eb[0], eb[1], 2.7, 0.09 + 0.0 * cx))
            sel = (rng.random(len(pa)) < 0.45) & (pa < a1 - 2.7)
            ma = pa[sel] + 1.35
            mx, my = ma * ea[0] + pb[sel] * eb[0], ma * ea[1] + pb[sel] * eb[1]
            cars.append(_rects(mx, my, eb[0], eb[1], 2.3, 0.95))
    stripes_arr = (
        shapely.buffer(np.concatenate(stripes), 0.06) if stripes else np.array([], dtype=object)
    )
    cars_arr = np.concatenate(cars) if cars else np.array([], dtype=object)
    return stripes_arr, cars_arr


def _roof_units(rng: np.random.Generator, plots: list) -> np.ndarray:
    """Air-conditioning units on the flat roofs of shops."""
    out = []
    for bld, _, axes in plots:
        ea, _ = axes
        n = rng.integers(3, 9)
        minx, miny, maxx, maxy = bld.bounds
        x = rng.uniform(minx, maxx, n)
        y = rng.uniform(miny, maxy, n)
        units = _rects(x, y, ea[0], ea[1], rng.uniform(1.0, 2.0, n), rng.uniform(0.8, 1.5, n))
        out.append(units[shapely.within(units, bld.buffer(-2.0))])
    return np.concatenate(out) if out else np.array([], dtype=object)


def _paint_trees(
    rng: np.random.Generator,
    p: _Painter,
    roads: list[_Road],
    road_polys: np.ndarray,
    houses: dict[str, np.ndarray],
    plan: _Plan,
    bounds: tuple[float, float, float, float],
) -> None:
    """Street trees overhanging road edges, yard trees, woods and scattered trees."""
    xs, ys, rs = [], [], []
    for r in roads:
        if r.kind in ("track",) or r.line.length < 15:
            continue
        step = 16.0 if r.kind != "arterial" else 12.0
        d = np.arange(rng.uniform(0, step), r.line.length, step)
        x, y, tx, ty = _along(r.line, d + rng.uniform(-3, 3, len(d)))
        for side in (-1.0, 1.0):
            keep = rng.random(len(d)) < (0.35 if r.kind == "arterial" else 0.45)
            gap = rng.uniform(1.2, 5.0, keep.sum())  # centre beyond the road edge
            rad = np.minimum(rng.uniform(2.2, 4.8, keep.sum()), gap + 1.3)
            off = side * (r.half_width + gap)
            xs.append(x[keep] - ty[keep] * off)
            ys.append(y[keep] + tx[keep] * off)
            rs.append(rad)
    k = len(houses["cx"])
    if k:
        n_per = rng.integers(0, 5, k)
        own = np.repeat(np.arange(k), n_per)
        dist = houses["edge"][own] + 2.6 + houses["setback"][own] + houses["depth"][own]
        dist = dist + rng.uniform(2, 13, len(own))
        lat = rng.uniform(-9, 9, len(own))
        xs.append(houses["cx"][own] + houses["nx"][own] * dist + houses["tx"][own] * lat)
        ys.append(houses["cy"][own] + houses["ny"][own] * dist + houses["ty"][own] * lat)
        rs.append(rng.uniform(2.4, 5.8, len(own)))
    for cx, cy, rad in plan.woods:
        n = int(rad * rad / 12)
        rr = rad * np.sqrt(rng.random(n))
        th = rng.uniform(0, 2 * math.pi, n)
        xs.append(cx + rr * np.cos(th))
        ys.append(cy + rr * np.sin(th))
        rs.append(rng.uniform(2.5, 5.5, n))
    x0, y0, x1, y1 = bounds
    n = rng.poisson((x1 - x0) * (y1 - y0) / 900.0)
    xs.append(rng.uniform(x0, x1, n))
    ys.append(rng.uniform(y0, y1, n))
    rs.append(rng.uniform(1.8, 4.5, n))
    x, y, r = np.concatenate(xs), np.concatenate(ys), np.concatenate(rs)
    # no trunk on a road, a roof, a pool or in a pond
    blockers = [*road_polys, *houses["body"], *houses["deck"], *plan.ponds]
    blockers += [lot for _, lot, _ in plan.plots]
    if blockers and len(x):
        tree = shapely.STRtree(np.array(blockers, dtype=object))
        pts = shapely.points(x, y)
        hit = tree.query(pts, predicate="intersects")
        keep = np.ones(len(x), dtype=bool)
        keep[np.unique(hit[0])] = False
        # and no crown over a road centre: at most ~1.5 m over the road edge
        near = shapely.STRtree(np.array([rd.line for rd in roads], dtype=object)) if roads else None
        if near is not None:
            idx, dmin = near.query_nearest(pts, return_distance=True, all_matches=False)
            hw = np.array([rd.half_width for rd in roads])[idx[1]]
            dd = np.full(len(x), np.inf)
            dd[idx[0]] = dmin
            keep &= r <= np.maximum(dd - hw + 1.5, 0.0) + 1e-9 + np.where(dd > hw + 6, np.inf, 0)
        x, y, r = x[keep], y[keep], r[keep]
    if len(x) == 0:
        return
    # a crown is a clump of three overlapping discs, lit on the sun side
    n = len(x)
    ang = rng.uniform(0, 2 * math.pi, (n, 3))
    rad = r[:, None] * rng.uniform(0.15, 0.4, (n, 3))
    cx = (x[:, None] + rad * np.cos(ang)).ravel()
    cy = (y[:, None] + rad * np.sin(ang)).ravel()
    cr = (r[:, None] * rng.uniform(0.62, 0.8, (n, 3))).ravel()
    clumps = _discs(cx, cy, cr, segs=4)
    # shadow: the clumps moved away from the sun by about the crown height, joined
    # to the crown (a tree's shadow starts at its trunk)
    p.cast(clumps, np.repeat(r * rng.uniform(1.4, 2.0, n), 3), occlude=True)
    variants = _jitter_spectra(rng, _SPECTRA["tree"], 8, 0.18)
    dark = p.mat.add(variants * 0.85, 0.0, 0.22, 0.26)
    lit = p.mat.add(variants * 1.22, 0.0, 0.22, 0.26)
    v = np.repeat(rng.integers(0, 8, n), 3)
    p.paint(clumps, dark[v])
    sx, sy = _SUN_DIR * 0.3
    p.paint(_discs(cx + sx * cr, cy + sy * cr, cr * 0.62, segs=3), lit[v])


# ---------------------------------------------------------------------------------------
# Rendering: polygons -> material ids -> spectra -> DN
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """A (possibly virtual) raster grid: the chips' mosaic or the broad scene."""

    crs: CRS
    transform: Affine
    width: int
    height: int


class _Lattice:
    """Smooth value noise: a random lattice every ``scale`` pixels, bilinear between.

    Sampled by global pixel coordinates, so windows of one grid join seamlessly.
    """

    def __init__(self, rng: np.random.Generator, grid: _Grid, scale: int) -> None:
        self.scale = scale
        shape = (grid.height // scale + 4, grid.width // scale + 4)
        self.values = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)

    def sample(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
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


class _Textures:
    def __init__(self, rng: np.random.Generator, grid: _Grid) -> None:
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


def _render(
    scene: _Scene,
    grid: _Grid,
    tex: _Textures,
    window: Window,
    bands: Sequence[int],
    seed: Sequence[int],
    nodata: Polygon | None = None,
) -> np.ndarray:
    """Render ``window`` of ``grid``: ``(len(bands), h, w)`` uint16 DN, 0 = nodata.

    Material ids and shadows are rasterized with a one-pixel halo for the 3x3
    blur (the optics); then sensor noise (read noise plus shot noise) is added
    from a generator seeded by ``seed``.
    """
    r0, c0 = int(window.row_off) - 1, int(window.col_off) - 1
    h, w = int(window.height) + 2, int(window.width) + 2
    transform = grid.transform @ Affine.translation(c0, r0)
    left, top = transform @ (0, 0)
    right, bottom = transform @ (w, h)
    bbox = box(min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    ids = _burn(scene.paint, scene.paint_ids, scene.paint_tree, bbox, (h, w), transform, np.uint16)
    sh = _burn(scene.shade, scene.shade_vals, scene.shade_tree, bbox, (h, w), transform, np.uint8)
    rows = np.arange(r0, r0 + h)
    cols = np.arange(c0, c0 + w)
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
    dry_dn = _SPECTRA["dry"].astype(np.float32)
    out = np.empty((len(bands), h, w), dtype=np.float32)
    tmp = np.empty((h, w), dtype=np.float32)
    for k, b in enumerate(bands):
        refl = out[k]
        np.take(scene.spectra[:, b], ids, out=refl)
        refl *= wet_gain
        np.multiply(dry, dry_dn[b], out=tmp)
        refl += tmp
        np.take(np.array([1.0, _SHADOW_FACTOR[b]], dtype=np.float32), sh, out=tmp)
        refl *= tmp
    del wet_gain, dry, tmp
    # optics: a 3x3 binomial blur (about 0.7 px), then drop the halo
    v = out[:, 1:-1] * 2
    v += out[:, :-2]
    v += out[:, 2:]
    blurred = v[:, :, 1:-1] * 2
    blurred += v[:, :, :-2]
    blurred += v[:, :, 2:]
    blurred *= 0.0625
    del out, v
    # sensor: path radiance, then read + shot noise (its level set by the first band)
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
    dn = blurred.astype(np.uint16)
    if nodata is not None:
        inner = grid.transform @ Affine.translation(int(window.col_off), int(window.row_off))
        hole = rasterize([(nodata, 1)], out_shape=dn.shape[1:], transform=inner, dtype=np.uint8)
        dn[:, hole.astype(bool)] = 0
    return dn


def _tif_profile(width: int, height: int, count: int, crs: CRS, transform: Affine) -> dict:
    """The project's tiled deflate GeoTIFF profile, uint16, nodata 0."""
    return geotiff_profile(width, height, count, "uint16", crs, transform, 0)


def _write_tif(path: Path, array: np.ndarray, crs: CRS, transform: Affine) -> Path:
    profile = _tif_profile(array.shape[2], array.shape[1], array.shape[0], crs, transform)
    with atomic_output(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(array)
    return path


# ---------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------


def _road_properties(road: _Road, road_id: int) -> dict[str, object]:
    """SpaceNet 3 attributes (strings, as SpaceNet ships them; road_id an int)."""
    return {
        "road_id": road_id,
        "road_type": road.road_type,
        "lane_number": str(road.lanes),
        "paved": "1" if road.paved else "2",
        "one_way_type": "2",
        "bridge_type": "2",
    }


def _clip_labels(
    scene: _Scene,
    footprint: Polygon,
    min_length: float,
    to_wgs84: Callable[[np.ndarray], np.ndarray] | None,
) -> list[tuple[np.ndarray, dict[str, object]]]:
    """Centerline pieces inside ``footprint`` (image CRS), as EPSG:4326 coordinates."""
    feats: list[tuple[np.ndarray, dict[str, object]]] = []
    if len(scene.lines) == 0:
        return feats
    tree = shapely.STRtree(scene.lines)
    for k in np.sort(tree.query(footprint, predicate="intersects")):
        for part in shapely.get_parts(shapely.intersection(scene.lines[k], footprint)):
            if not isinstance(part, LineString) or part.length < min_length:
                continue
            coords = shapely.get_coordinates(part)
            if to_wgs84 is not None:
                coords = to_wgs84(coords)
            feats.append((coords, _road_properties(scene.roads[k], 1000 + int(k))))
    return feats


def _geojson_text(features: list[tuple[np.ndarray, dict[str, object]]]) -> str:
    """A SpaceNet-style FeatureCollection: CRS84 member, one feature a line."""
    lines = [
        "{",
        '"type": "FeatureCollection",',
        '"crs": { "type": "name", "properties": { "name": "urn:ogc:def:crs:OGC:1.3:CRS84" } },',
        '"features": [',
    ]
    body = []
    for coords, props in features:
        feature = {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "LineString", "coordinates": coords.tolist()},
        }
        body.append(json.dumps(feature, separators=(", ", ": ")))
    lines.append(",\n".join(body))
    lines += ["]", "}", ""]
    return "\n".join(lines)


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------


def _transformer(src: int, dst: int) -> Callable[[np.ndarray], np.ndarray]:
    tr = Transformer.from_crs(src, dst, always_xy=True)

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return apply


def _nodata_cut(
    rng: np.random.Generator, chip_bounds: tuple[float, float, float, float]
) -> Polygon:
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
    written: list[Path] = []
    n = n_train + n_test
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)

    # --- the chips: tiles of one suburb on the SpaceNet EPSG:4326 grid
    lon0, lat0 = CHIPS_ORIGIN
    grid = _Grid(
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
    margin = 40.0
    scene = _build_scene(
        rng, (ux0 - margin, uy0 - margin, ux1 + margin, uy1 + margin), _transformer(UTM_EPSG, 4326)
    )
    tex = _Textures(rng, grid)
    cut_id = max(train_ids)
    for tile in progress(tile_ids.tolist(), desc="sample chips", unit="chip"):
        r, c = divmod(tile - 1, ncols)
        win = Window(c * chip_size, r * chip_size, chip_size, chip_size)
        transform = grid.transform @ Affine.translation(win.col_off, win.row_off)
        left, top = transform @ (0, 0)
        right, bottom = transform @ (chip_size, chip_size)
        footprint = box(left, bottom, right, top)
        cut = _nodata_cut(rng, (left, bottom, right, top)) if tile == cut_id else None
        mul = _render(scene, grid, tex, win, range(8), (seed, 3, tile), cut)
        valid = footprint.difference(cut) if cut is not None else footprint
        feats = _clip_labels(scene, valid, 2 * DEG_PER_PX, None)
        split = layout.test_dir if tile in test_ids else layout.train_dir
        written.append(_write_tif(mul_path(split, tile), mul, grid.crs, transform))
        rgb = np.ascontiguousarray(mul[list(RGB_FROM_MUL)])
        written.append(_write_tif(rgb_path(split, tile), rgb, grid.crs, transform))
        lp = labels_path(split, tile)
        _write_text(lp, _geojson_text(feats))
        written.append(lp)
        del mul, rgb

    # --- the broad scene: a separate suburb nearby, in UTM, written by row blocks
    tr = Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
    bx, by = tr.transform(*BROAD_ORIGIN)
    bx, by = round(bx), round(by)
    bgrid = _Grid(
        CRS.from_epsg(UTM_EPSG), Affine(GSD_M, 0.0, bx, 0.0, -GSD_M, by), broad_size, broad_size
    )
    side = broad_size * GSD_M
    brng = np.random.default_rng([seed, 2])
    bscene = _build_scene(
        brng, (bx - margin, by - side - margin, bx + side + margin, by + margin), None
    )
    btex = _Textures(brng, bgrid)
    profile = _tif_profile(broad_size, broad_size, 3, bgrid.crs, bgrid.transform)
    blocks = range(0, broad_size, _BLOCK_ROWS)
    with atomic_output(layout.broad_image) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for row in progress(blocks, desc="sample broad scene", unit="block"):
            win = Window(0, row, broad_size, min(_BLOCK_ROWS, broad_size - row))
            dst.write(_render(bscene, bgrid, btex, win, RGB_FROM_MUL, (seed, 4, row)), window=win)
    written.append(layout.broad_image)
    footprint = box(bx, by - side, bx + side, by)
    feats = _clip_labels(bscene, footprint, 2 * GSD_M, _transformer(UTM_EPSG, 4326))
    _write_text(layout.broad_labels, _geojson_text(feats))
    written.append(layout.broad_labels)
    _remove_stale(layout, written)
    return layout


def _remove_stale(layout: SampleLayout, written: list[Path]) -> None:
    """Delete sample files from an earlier run that this run did not write."""
    keep = {p.resolve() for p in written}
    pattern = re.compile(
        rf"^(RGB-PanSharpen|MUL-PanSharpen|spacenetroads)_{AOI}_img\d+\.(tif|geojson)$"
    )
    for split in (layout.train_dir, layout.test_dir):
        for sub in ("RGB-PanSharpen", "MUL-PanSharpen", "geojson/spacenetroads"):
            folder = split / sub
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                if pattern.match(f.name) and f.resolve() not in keep:
                    f.unlink()


# ---------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[np.ndarray]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [np.asarray(f["geometry"]["coordinates"], dtype=np.float64) for f in data["features"]]


def _hold_extent(ax, width: int, height: int) -> None:
    """Keep the axes on the image: label lines may not widen them."""
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_autoscale_on(False)


def write_preview(layout: SampleLayout, out_png: PathLike) -> Path:
    """A PNG: one training chip (RGB and false colour) and the broad scene, labels overlaid.

    Returns:
        the PNG path.
    """
    from basiss.viz.plots import new_figure, rgb_for_display, save_figure

    ids = image_ids(layout.train_dir)
    if not ids:
        raise BasissError(f"{layout.train_dir}: no RGB-PanSharpen chips to preview")
    # the chip with the most road length shows the most
    lengths = [
        sum(
            np.hypot(*np.diff(c, axis=0).T).sum()
            for c in _read_lines(labels_path(layout.train_dir, i))
        )
        for i in ids
    ]
    chip = ids[int(np.argmax(lengths))]
    fig, axes = new_figure(2, 2, size=6.0)
    with rasterio.open(rgb_path(layout.train_dir, chip)) as ds:
        rgb, inv = ds.read(), ~ds.transform
    with rasterio.open(mul_path(layout.train_dir, chip)) as ds:
        mul = ds.read([7, 5, 3])
    ax = axes[0, 0]
    ax.imshow(rgb_for_display(rgb))
    _hold_extent(ax, rgb.shape[2], rgb.shape[1])
    for c in _read_lines(labels_path(layout.train_dir, chip)):
        px, py = inv @ (c[:, 0], c[:, 1])
        ax.plot(px, py, color="#ff2a2a", lw=1.0)
    ax.set_title(f"train chip img{chip}: RGB + centerlines (EPSG:4326)")
    axes[0, 1].imshow(rgb_for_display(mul))
    axes[0, 1].set_title("same chip, MUL false colour (NIR1, red, green)")
    with rasterio.open(layout.broad_image) as ds:
        factor = max(1, math.ceil(max(ds.width, ds.height) / 1500))
        shape = (3, ds.height // factor, ds.width // factor)
        small = ds.read(out_shape=shape, resampling=rasterio.enums.Resampling.average)
        crop = min(ds.width, ds.height, 700)
        r0, c0 = (ds.height - crop) // 2, (ds.width - crop) // 2
        zoom = ds.read(window=Window(c0, r0, crop, crop))
        binv, crs = ~ds.transform, ds.crs
    to_img = _transformer(4326, crs.to_epsg())
    ax = axes[1, 0]
    ax.imshow(rgb_for_display(small))
    _hold_extent(ax, small.shape[2], small.shape[1])
    for c in _read_lines(layout.broad_labels):
        px, py = binv @ tuple(to_img(c).T)
        ax.plot(px / factor, py / factor, color="#ff2a2a", lw=0.7)
    ax.set_title(f"broad scene {ds.width}x{ds.height} px ({crs.to_string()}) + centerlines")
    axes[1, 1].imshow(rgb_for_display(zoom))
    axes[1, 1].set_title(f"broad scene, {crop}x{crop} px crop at full resolution")
    return save_figure(fig, out_png)
