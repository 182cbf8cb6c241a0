"""Small things on roads and lots: lane markings, cars, parking stalls, roof units.

They matter for learning: cars and markings break up the road surface as in real
imagery, and striped parking lots are asphalt that is not road.
"""

from __future__ import annotations

import numpy as np
import shapely

from basiss.synthetic.materials import SPECTRA
from basiss.synthetic.network import LANE_M, Road
from basiss.synthetic.painter import Painter
from basiss.synthetic.shapes import along, rects


def paint_markings(rng: np.random.Generator, p: Painter, roads: list[Road]) -> None:
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
            np.array(yellow, dtype=object), p.mat.add(SPECTRA["paint_yellow"], 0.0, 0.05, 0.05)[0]
        )
    if white:
        p.paint(np.concatenate(white), p.mat.add(SPECTRA["paint_white"], 0.0, 0.05, 0.05)[0])


def road_cars(rng: np.random.Generator, roads: list[Road]) -> np.ndarray:
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
        x, y, tx, ty = along(r.line, d)
        lanes = np.arange(r.lanes) - (r.lanes - 1) / 2
        off = rng.choice(lanes, n) * LANE_M
        if r.kind in ("local", "collector", "loop"):
            parked = rng.random(n) < 0.5
            off = np.where(parked, np.sign(off + 1e-9) * (r.half_width - 1.2), off)
        out.append(rects(x - ty * off, y + tx * off, tx, ty, 2.3, 0.95))
    return np.concatenate(out) if out else np.array([], dtype=object)


def parking(rng: np.random.Generator, plots: list) -> tuple[np.ndarray, np.ndarray]:
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
            stripes.append(rects(cx, cy, eb[0], eb[1], 2.7, 0.09 + 0.0 * cx))
            sel = (rng.random(len(pa)) < 0.45) & (pa < a1 - 2.7)
            ma = pa[sel] + 1.35
            mx, my = ma * ea[0] + pb[sel] * eb[0], ma * ea[1] + pb[sel] * eb[1]
            cars.append(rects(mx, my, eb[0], eb[1], 2.3, 0.95))
    stripes_arr = (
        shapely.buffer(np.concatenate(stripes), 0.06) if stripes else np.array([], dtype=object)
    )
    cars_arr = np.concatenate(cars) if cars else np.array([], dtype=object)
    return stripes_arr, cars_arr


def roof_units(rng: np.random.Generator, plots: list) -> np.ndarray:
    """Air-conditioning units on the flat roofs of shops."""
    out = []
    for bld, _, axes in plots:
        ea, _ = axes
        n = rng.integers(3, 9)
        minx, miny, maxx, maxy = bld.bounds
        x = rng.uniform(minx, maxx, n)
        y = rng.uniform(miny, maxy, n)
        units = rects(x, y, ea[0], ea[1], rng.uniform(1.0, 2.0, n), rng.uniform(0.8, 1.5, n))
        out.append(units[shapely.within(units, bld.buffer(-2.0))])
    return np.concatenate(out) if out else np.array([], dtype=object)
