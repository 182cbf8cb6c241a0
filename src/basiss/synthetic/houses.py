"""Houses along residential streets: footprints, gable roofs, driveways, pools and yards.

Houses are placed as candidates every ~20 m on both sides of every street (and around
turning circles), then dropped where they would touch a road, a field, a pond, a shop lot
or an earlier house. Everything is vectorised over all candidates at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Self

import numpy as np
import shapely

from basiss.synthetic.materials import SUN_DIR
from basiss.synthetic.network import Plan, Road
from basiss.synthetic.shapes import along, greedy_disjoint, hits, rects

#: Width of the sidewalk band between a road edge and the front yards, metres.
WALK_M = 2.6


@dataclass
class _Columns:
    """Arrays of equal length, one entry per house; :meth:`take` keeps a subset."""

    def take(self, idx: np.ndarray) -> Self:
        """The entries at ``idx`` of every column."""
        return type(self)(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


@dataclass
class _Sites(_Columns):
    """Where each candidate house meets its street.

    ``(cx, cy)`` is on the centerline, ``(tx, ty)`` the street's unit tangent, ``(nx, ny)``
    the unit normal from the street towards the house, ``edge`` the distance from the
    centerline to the road edge (half the width, or a turning circle's radius).
    """

    cx: np.ndarray
    cy: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    nx: np.ndarray
    ny: np.ndarray
    edge: np.ndarray


@dataclass
class _Lots(_Sites):
    """Sites with their house: size, setback from the sidewalk, centre and garage."""

    front: np.ndarray
    depth: np.ndarray
    setback: np.ndarray
    hx: np.ndarray
    hy: np.ndarray
    garage: np.ndarray
    gside: np.ndarray
    gx: np.ndarray
    gy: np.ndarray


@dataclass
class Houses:
    """The placed houses, as arrays of shapely geometries (metres) and per-house columns.

    Attributes:
        body: house + garage footprint of each house (for conflicts with other objects).
        parts: each roof prism (the house, and its garage where there is one).
        lit, dim: the sunlit and the shaded half of each gable roof in ``parts``.
        part_owner: index of the house of each roof part.
        height: roof height of each house.
        lot, drive, pool, deck, car: yards, driveways, pools, pool decks, parked cars.
        cx, cy, nx, ny, tx, ty, edge: where each house meets its street (see the sites).
        depth, setback: house depth and distance from the sidewalk.
    """

    body: np.ndarray
    parts: np.ndarray
    lit: np.ndarray
    dim: np.ndarray
    part_owner: np.ndarray
    height: np.ndarray
    lot: np.ndarray
    drive: np.ndarray
    pool: np.ndarray
    deck: np.ndarray
    car: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    nx: np.ndarray
    ny: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    depth: np.ndarray
    edge: np.ndarray
    setback: np.ndarray

    def __len__(self) -> int:
        return len(self.body)

    @classmethod
    def empty(cls) -> Houses:
        """No houses at all."""
        geoms = {"body", "parts", "lit", "dim", "lot", "drive", "pool", "deck", "car"}
        columns = {
            f.name: np.array([], dtype=object) if f.name in geoms else np.zeros(0)
            for f in fields(cls)
        }
        columns["part_owner"] = np.zeros(0, dtype=int)
        return cls(**columns)


def place_houses(
    rng: np.random.Generator, roads: list[Road], clear_tree: shapely.STRtree | None, plan: Plan
) -> Houses:
    """Houses along the residential streets of ``roads`` and around their turning circles.

    Args:
        rng: the scene's generator (the draws follow a fixed order).
        roads: the network; roads with ``houses=False`` get none.
        clear_tree: roads with their sidewalk band, which no house may touch.
        plan: its fields, ponds and shop lots block houses too.
    """
    sites = _street_sites(rng, roads)
    if sites is None:
        return Houses.empty()
    lots = _lots(rng, sites)
    full = _footprints(lots)
    idx = _free_of_conflicts(full, clear_tree, plan)
    if len(idx) == 0:
        return Houses.empty()
    sel = lots.take(idx)
    height = rng.uniform(4.5, 8.0, len(idx))
    parts, lit, dim, owner = _roofs(sel)
    drive, car = _driveways(rng, sel)
    pool, deck = _pools(rng, sel, clear_tree)
    return Houses(
        body=full[idx], parts=parts, lit=lit, dim=dim, part_owner=owner, height=height,
        lot=_yards(sel), drive=drive, pool=pool, deck=deck, car=car,
        cx=sel.cx, cy=sel.cy, nx=sel.nx, ny=sel.ny, tx=sel.tx, ty=sel.ty,
        depth=sel.depth, edge=sel.edge, setback=sel.setback,
    )  # fmt: skip


def _street_sites(rng: np.random.Generator, roads: list[Road]) -> _Sites | None:
    """Candidate sites every 17-24 m on both sides of each street, 7% left empty."""
    cols: list[tuple[np.ndarray, ...]] = []
    for r in roads:
        if not r.houses:
            continue
        spacing = rng.uniform(17, 24)
        d = np.arange(rng.uniform(8, 16), r.line.length - 8, spacing)
        if len(d) == 0:
            continue
        x, y, tx, ty = along(r.line, d + rng.uniform(-1.5, 1.5, len(d)))
        for side in (-1.0, 1.0):
            keep = rng.random(len(d)) < 0.93
            cols.append(
                (x[keep], y[keep], tx[keep], ty[keep], -ty[keep] * side, tx[keep] * side,
                 np.full(keep.sum(), r.half_width))
            )  # fmt: skip
        if r.bulb:
            cols.append(_bulb_sites(r))
    if not cols:
        return None
    return _Sites(*(np.concatenate(col) for col in zip(*cols, strict=True)))


def _bulb_sites(road: Road) -> tuple[np.ndarray, ...]:
    """Three sites facing the turning circle at the end of ``road`` (left, ahead, right)."""
    ex, ey = road.line.coords[-1]
    px, py = road.line.coords[-2] if len(road.line.coords) > 1 else (ex, ey)
    base = math.atan2(ey - py, ex - px)
    angles = base + np.radians([-75.0, 0.0, 75.0])
    nx, ny = np.cos(angles), np.sin(angles)
    return ex + 0 * nx, ey + 0 * ny, -ny, nx, nx, ny, np.full(3, road.bulb)


def _lots(rng: np.random.Generator, s: _Sites) -> _Lots:
    """Draw each site's house: frontage, depth, setback, and a garage on one side."""
    n = len(s.cx)
    front = rng.uniform(10, 16, n)  # frontage
    depth = rng.uniform(10, 15, n)
    setback = rng.uniform(4.5, 8.5, n)
    dist = s.edge + WALK_M + setback + depth / 2
    hx, hy = s.cx + s.nx * dist, s.cy + s.ny * dist
    garage = rng.random(n) < 0.55
    gside = rng.choice((-1.0, 1.0), n)
    gx = hx + s.tx * gside * (front / 2 + 3.2) - s.nx * (depth / 2 - 3.4)
    gy = hy + s.ty * gside * (front / 2 + 3.2) - s.ny * (depth / 2 - 3.4)
    return _Lots(
        s.cx, s.cy, s.tx, s.ty, s.nx, s.ny, s.edge,
        front, depth, setback, hx, hy, garage, gside, gx, gy,
    )  # fmt: skip


def _footprints(lots: _Lots) -> np.ndarray:
    """House footprint of every lot, joined with its garage where it has one."""
    body = rects(lots.hx, lots.hy, lots.tx, lots.ty, lots.front / 2, lots.depth / 2)
    gar = rects(lots.gx, lots.gy, lots.tx, lots.ty, 3.2, 3.4)
    return np.where(lots.garage, shapely.union(body, gar), body)


def _free_of_conflicts(
    full: np.ndarray, clear_tree: shapely.STRtree | None, plan: Plan
) -> np.ndarray:
    """Indices of the footprints that touch no road, field, pond, shop lot or earlier house."""
    keep = ~hits(full, clear_tree)
    blockers = [g for g in plan.fields + plan.ponds] + [lot for _, lot, _ in plan.plots]
    if blockers:
        keep &= ~hits(full, shapely.STRtree(np.array(blockers, dtype=object)))
    keep = greedy_disjoint(full, keep)
    return np.flatnonzero(keep)


def _roofs(sel: _Lots) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gable roofs: (prisms, sunlit halves, shaded halves, owning house of each prism).

    The ridge runs along the longer side of each prism; the half facing the sun is lit.
    """
    k = len(sel.cx)
    has_g = sel.garage
    px = np.concatenate([sel.hx, sel.gx[has_g]])
    py = np.concatenate([sel.hy, sel.gy[has_g]])
    ptx = np.concatenate([sel.tx, sel.tx[has_g]])
    pty = np.concatenate([sel.ty, sel.ty[has_g]])
    pl = np.concatenate([sel.front / 2, np.full(has_g.sum(), 3.2)])
    pw = np.concatenate([sel.depth / 2, np.full(has_g.sum(), 3.4)])
    owner = np.concatenate([np.arange(k), np.flatnonzero(has_g)])
    along_t = pl >= pw
    ax = np.where(along_t, ptx, -pty)
    ay = np.where(along_t, pty, ptx)
    hl = np.maximum(pl, pw)
    hs = np.minimum(pl, pw)
    bx, by = -ay, ax
    sun_side = np.sign(bx * SUN_DIR[0] + by * SUN_DIR[1] + 1e-9)
    half_a = rects(px + bx * hs / 2 * sun_side, py + by * hs / 2 * sun_side, ax, ay, hl, hs / 2)
    half_b = rects(px - bx * hs / 2 * sun_side, py - by * hs / 2 * sun_side, ax, ay, hl, hs / 2)
    parts = rects(px, py, ax, ay, hl, hs)
    return parts, half_a, half_b, owner


def _driveways(rng: np.random.Generator, sel: _Lots) -> tuple[np.ndarray, np.ndarray]:
    """Driveways from the road edge to the garage (or the house side), a car on 40%."""
    k = len(sel.cx)
    has_g = sel.garage
    dx = np.where(has_g, sel.gx, sel.hx + sel.tx * sel.gside * sel.front * 0.3)
    dy = np.where(has_g, sel.gy, sel.hy + sel.ty * sel.gside * sel.front * 0.3)
    # the driveway runs along the street normal, from the road edge to the garage front
    far = sel.edge + WALK_M + sel.setback
    near = sel.edge - 0.5
    mid = (far + near) / 2
    off_t = (dx - sel.cx) * sel.tx + (dy - sel.cy) * sel.ty
    dcx = sel.cx + sel.tx * off_t + sel.nx * mid
    dcy = sel.cy + sel.ty * off_t + sel.ny * mid
    drive = rects(dcx, dcy, sel.nx, sel.ny, (far - near) / 2 + 0.2, np.where(has_g, 3.0, 2.0))
    with_car = rng.random(k) < 0.4
    cpos = near + WALK_M + 2.5 + rng.uniform(0, 1, k) * np.maximum(far - near - WALK_M - 5.0, 0)
    car = rects(
        (sel.cx + sel.tx * off_t + sel.nx * cpos)[with_car],
        (sel.cy + sel.ty * off_t + sel.ny * cpos)[with_car],
        sel.nx[with_car],
        sel.ny[with_car],
        2.3,
        0.95,
    )
    return drive, car


def _pools(
    rng: np.random.Generator, sel: _Lots, clear_tree: shapely.STRtree | None
) -> tuple[np.ndarray, np.ndarray]:
    """Pools (and their decks) in 20% of the back yards, none whose deck meets a road."""
    k = len(sel.cx)
    has_pool = rng.random(k) < 0.2
    pdist = sel.edge + WALK_M + sel.setback + sel.depth + 5.5
    pcx = (sel.cx + sel.nx * pdist + sel.tx * rng.uniform(-4, 4, k))[has_pool]
    pcy = (sel.cy + sel.ny * pdist + sel.ty * rng.uniform(-4, 4, k))[has_pool]
    plen, pwid = rng.uniform(3.5, 5.5, k)[has_pool], rng.uniform(2.0, 3.0, k)[has_pool]
    ptx, pty = sel.tx[has_pool], sel.ty[has_pool]
    pool = rects(pcx, pcy, ptx, pty, plen, pwid)
    deck = rects(pcx, pcy, ptx, pty, plen + 1.5, pwid + 1.5)
    pool_ok = ~hits(deck, clear_tree)
    return pool[pool_ok], deck[pool_ok]


def _yards(sel: _Lots) -> np.ndarray:
    """The lawn of each house: from the sidewalk to 14 m behind the house."""
    lot_depth = sel.setback + sel.depth + 14
    return rects(
        sel.cx + sel.nx * (sel.edge + WALK_M + lot_depth / 2),
        sel.cy + sel.ny * (sel.edge + WALK_M + lot_depth / 2),
        sel.tx,
        sel.ty,
        sel.front / 2 + 5.0,
        lot_depth / 2,
    )
