"""The road network of a synthetic suburb, as vector geometry in metres.

Arterials on a rotated grid cut the area into superblocks; each block is built in one
style (a residential grid, winding streets with loops, collectors with cul-de-sacs, or
open land with a dirt track and shops), and a diagonal road may cross it all. The
result, a :class:`Plan`, is what the scene is built around and what the labels are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box

from basiss.synthetic.shapes import rects

LANE_M = 3.0
SHOULDER_M = 0.6


def road_width_m(lanes: int) -> float:
    """Painted width of a road with ``lanes`` lanes, in metres (3 m a lane + shoulders)."""
    return LANE_M * lanes + SHOULDER_M


class _Frame:
    """A rotated local frame (u, v) around a centre: the street grid's axes."""

    def __init__(self, cx: float, cy: float, theta: float) -> None:
        self.cx, self.cy = cx, cy
        self.c, self.s = math.cos(theta), math.sin(theta)

    def xy(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (x, y) of frame coordinates (u, v)."""
        u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
        return self.cx + u * self.c - v * self.s, self.cy + u * self.s + v * self.c

    def line(self, u: Sequence[float] | np.ndarray, v: Sequence[float] | np.ndarray) -> LineString:
        """The polyline through frame points (u, v)."""
        x, y = self.xy(np.asarray(u), np.asarray(v))
        return LineString(np.column_stack([x, y]))

    def poly(self, u0: float, u1: float, v0: float, v1: float) -> Polygon:
        """The frame-aligned rectangle ``u0..u1 x v0..v1``."""
        x, y = self.xy(np.array([u0, u1, u1, u0]), np.array([v0, v0, v1, v1]))
        return Polygon(np.column_stack([x, y]))


# ---------------------------------------------------------------------------------------
# The road network
# ---------------------------------------------------------------------------------------


@dataclass
class Road:
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
        """Half the painted width, metres."""
        return road_width_m(self.lanes) / 2.0


@dataclass
class Plan:
    """Everything laid out in metres before painting."""

    roads: list[Road] = field(default_factory=list)
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
        """The polyline through cell points (a, b)."""
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return self.frame.line(b, a) if self.swap else self.frame.line(a, b)

    def xy(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (x, y) of cell coordinates (a, b)."""
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
    """The street ``b = b_base + wave(a)`` from ``a0`` to ``a1``, a vertex every ~3 m."""
    a = np.linspace(a0, a1, max(2, int((a1 - a0) / 3.0) + 1))
    return cell.line(a, b_base + wave(a))


def _flat(_a):
    """The offset of a straight street: zero everywhere."""
    return 0.0 * np.asarray(_a)


def _cell_grid(rng: np.random.Generator, cell: _Cell, plan: Plan) -> None:
    """Parallel residential streets with cross streets (some missing: T-junctions)."""
    spacing = rng.uniform(78, 108)
    bs = np.arange(cell.b0 + spacing, cell.b1 - 0.6 * spacing, spacing)
    waves = [_wave(rng, (5, 13), (160, 300)) if rng.random() < 0.3 else _flat for _ in bs]
    for b, w in zip(bs, waves, strict=True):
        paved = rng.random() > 0.08
        plan.roads.append(Road(_curve(cell, b, w, cell.a0, cell.a1), 2, paved, "5", "local"))
    edges = [(cell.b0, _flat), *zip(bs, waves, strict=True), (cell.b1, _flat)]
    cross = np.arange(cell.a0 + rng.uniform(0.3, 1.0) * 200, cell.a1 - 60, rng.uniform(170, 260))
    for a in cross:
        for (b_lo, w_lo), (b_hi, w_hi) in zip(edges[:-1], edges[1:], strict=True):
            if rng.random() < 0.72:
                lo, hi = b_lo + float(w_lo(a)), b_hi + float(w_hi(a))
                plan.roads.append(Road(cell.line([a, a], [lo, hi]), 2, True, "5", "local"))


def _stub(cell: _Cell, a: float, b_from: float, length: float, radius: float) -> Road:
    """A dead-end street across the cell at ``a``, ending in a turning circle of ``radius``."""
    line = cell.line([a, a], [b_from, b_from + length])
    return Road(line, 2, True, "5", "stub", bulb=radius)


def _cell_culdesac(rng: np.random.Generator, cell: _Cell, plan: Plan) -> None:
    """Curved collectors with cul-de-sacs (dead ends with turning circles) on both sides."""
    n = max(1, round((cell.b1 - cell.b0) / 270))
    band = (cell.b1 - cell.b0) / n
    for k in range(n):
        b = cell.b0 + (k + 0.5) * band
        w = _wave(rng, (8, 22), (260, 460))
        plan.roads.append(Road(_curve(cell, b, w, cell.a0, cell.a1), 2, True, "5", "collector"))
        a = cell.a0 + rng.uniform(45, 70)
        while a < cell.a1 - 45:
            for side in (-1, 1):
                length = min(rng.uniform(50, 95), band / 2 - 42)
                if length > 28 and rng.random() < 0.85:
                    b_on = b + float(w(a))
                    plan.roads.append(_stub(cell, a, b_on, side * length, rng.uniform(9.5, 12)))
            a += rng.uniform(62, 85)


def _cell_curvy(rng: np.random.Generator, cell: _Cell, plan: Plan) -> None:
    """Winding streets, loop lanes (half ellipses) and a few cul-de-sacs."""
    spacing = rng.uniform(150, 190)
    bs = np.arange(cell.b0 + spacing * rng.uniform(0.6, 1.0), cell.b1 - 0.5 * spacing, spacing)
    for b in bs:
        w = _wave(rng, (14, 26), (220, 380))
        plan.roads.append(Road(_curve(cell, b, w, cell.a0, cell.a1), 2, True, "5", "local"))
        a = cell.a0 + rng.uniform(40, 90)
        while a < cell.a1 - 140:
            side = rng.choice((-1, 1))
            if rng.random() < 0.55:  # loop lane
                width = rng.uniform(80, 120)
                depth = spacing / 2 - rng.uniform(34, 40)
                t = np.linspace(0, math.pi, 40)
                aa = a + width / 2 - width / 2 * np.cos(t)
                bb = b + w(aa) + side * depth * np.sin(t)
                plan.roads.append(Road(cell.line(aa, bb), 2, True, "5", "loop"))
                a += width + rng.uniform(40, 70)
            else:
                length = spacing / 2 - rng.uniform(22, 30)
                plan.roads.append(
                    _stub(cell, a, b + float(w(a)), side * length, rng.uniform(9.5, 11.5))
                )
                a += rng.uniform(50, 80)


def _cell_open(rng: np.random.Generator, cell: _Cell, plan: Plan, art_hw: float) -> None:
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
    _shop_plots(rng, cell, plan, art_hw)
    ea, _ = cell.dirs()
    span_a, span_b = cell.a1 - cell.a0, cell.b1 - cell.b0
    if rng.random() < 0.75 and span_b > 200:
        b = cell.b0 + span_b * rng.uniform(0.55, 0.8)
        w = _wave(rng, (10, 35), (200, 420))
        plan.roads.append(
            Road(_curve(cell, b, w, cell.a0, cell.a1), 2, False, "6", "track", houses=False)
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
            rects(cx, cy, ea[0], ea[1], rng.uniform(15, 40), rng.uniform(10, 30))[0].buffer(3.0)
        )


def _shop_plots(rng: np.random.Generator, cell: _Cell, plan: Plan, art_hw: float) -> None:
    """Shops along the cell's first arterial: a parking lot in front of a flat-roofed block."""
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


def _positions(rng: np.random.Generator, radius: float, spacing: float) -> list[float]:
    """Arterial offsets across ``-radius..radius``, ``spacing`` apart, each jittered +-25 m."""
    start = -radius + rng.uniform(0.35, 0.95) * spacing
    out = []
    p = start
    while p < radius - 0.3 * spacing:
        out.append(p + rng.uniform(-25, 25))
        p += spacing
    return out


def road_network(rng: np.random.Generator, bounds: tuple[float, float, float, float]) -> Plan:
    """Lay out roads, open land and shop plots over ``bounds`` (metres, x0 y0 x1 y1)."""
    x0, y0, x1, y1 = bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    radius = 0.5 * math.hypot(x1 - x0, y1 - y0) + 30
    frame = _Frame(cx, cy, rng.uniform(-0.45, 0.45))
    plan = Plan()
    spacing = rng.uniform(470, 600)
    au, av = _positions(rng, radius, spacing), _positions(rng, radius, spacing)
    art_lanes = [int(rng.choice((3, 4))) for _ in au + av]
    for a, lanes in zip(au, art_lanes[: len(au)], strict=True):
        plan.roads.append(
            Road(frame.line([a, a], [-radius, radius]), lanes, True, "3", "arterial", houses=False)
        )
    for a, lanes in zip(av, art_lanes[len(au) :], strict=True):
        plan.roads.append(
            Road(frame.line([-radius, radius], [a, a]), lanes, True, "3", "arterial", houses=False)
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
        plan.roads.append(Road(line, int(rng.choice((2, 3))), True, "4", "diagonal", houses=False))
    return _clip_plan(plan, box(*bounds))


def _clip_plan(plan: Plan, area: Polygon) -> Plan:
    """Keep the parts of roads inside ``area`` (a bulb only where its end survives)."""
    kept: list[Road] = []
    for road in plan.roads:
        end = shapely.Point(road.line.coords[-1])
        for part in shapely.get_parts(shapely.intersection(road.line, area)):
            if not isinstance(part, LineString) or part.length < 5.0:
                continue
            bulb = road.bulb if shapely.Point(part.coords[-1]).distance(end) < 1e-6 else 0.0
            kept.append(
                Road(part, road.lanes, road.paved, road.road_type, road.kind, bulb, road.houses)
            )
    plan.roads = kept
    return plan


def end_bulb(road: Road) -> Polygon:
    """The turning circle at the end of a cul-de-sac ``road`` (its ``bulb`` radius)."""
    x, y = road.line.coords[-1]
    return shapely.Point(x, y).buffer(road.bulb, quad_segs=8)
