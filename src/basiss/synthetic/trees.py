"""Trees: street trees overhanging road edges, yard trees, woods and scattered trees.

Trees are painted last, over yards, sidewalks and road edges, as in real imagery where
crowns hide part of the road. No trunk stands on a road, roof, pool or pond, and no
crown reaches more than ~1.5 m over a road edge, so the labelled centerline stays visible.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from basiss.synthetic.houses import WALK_M, Houses
from basiss.synthetic.materials import SPECTRA, SUN_DIR, jitter_spectra
from basiss.synthetic.network import Plan, Road
from basiss.synthetic.painter import Painter
from basiss.synthetic.shapes import along, discs

#: Tree positions and crown radii (x, y, r), metres.
Trees = tuple[np.ndarray, np.ndarray, np.ndarray]


def paint_trees(
    rng: np.random.Generator,
    p: Painter,
    roads: list[Road],
    road_polys: np.ndarray,
    houses: Houses,
    plan: Plan,
    bounds: tuple[float, float, float, float],
) -> None:
    """Place every kind of tree over ``bounds`` (metres) and paint crowns and shadows."""
    groups = _street_trees(rng, roads)
    if len(houses.cx):
        groups.append(_yard_trees(rng, houses))
    groups += _woods(rng, plan.woods)
    groups.append(_scattered_trees(rng, bounds))
    x, y, r = (np.concatenate([g[k] for g in groups]) for k in range(3))
    blockers = [*road_polys, *houses.body, *houses.deck, *plan.ponds]
    blockers += [lot for _, lot, _ in plan.plots]
    if blockers and len(x):
        keep = _clear_of(x, y, r, blockers, roads)
        x, y, r = x[keep], y[keep], r[keep]
    if len(x):
        _paint_crowns(rng, p, x, y, r)


def _street_trees(rng: np.random.Generator, roads: list[Road]) -> list[Trees]:
    """Trees every 12-16 m along both road edges, on 35-45% of the places."""
    out = []
    for r in roads:
        if r.kind in ("track",) or r.line.length < 15:
            continue
        step = 16.0 if r.kind != "arterial" else 12.0
        d = np.arange(rng.uniform(0, step), r.line.length, step)
        x, y, tx, ty = along(r.line, d + rng.uniform(-3, 3, len(d)))
        for side in (-1.0, 1.0):
            keep = rng.random(len(d)) < (0.35 if r.kind == "arterial" else 0.45)
            gap = rng.uniform(1.2, 5.0, keep.sum())  # centre beyond the road edge
            rad = np.minimum(rng.uniform(2.2, 4.8, keep.sum()), gap + 1.3)
            off = side * (r.half_width + gap)
            out.append((x[keep] - ty[keep] * off, y[keep] + tx[keep] * off, rad))
    return out


def _yard_trees(rng: np.random.Generator, houses: Houses) -> Trees:
    """Zero to four trees in each back yard."""
    n_per = rng.integers(0, 5, len(houses.cx))
    own = np.repeat(np.arange(len(houses.cx)), n_per)
    dist = houses.edge[own] + WALK_M + houses.setback[own] + houses.depth[own]
    dist = dist + rng.uniform(2, 13, len(own))
    lat = rng.uniform(-9, 9, len(own))
    x = houses.cx[own] + houses.nx[own] * dist + houses.tx[own] * lat
    y = houses.cy[own] + houses.ny[own] * dist + houses.ty[own] * lat
    return x, y, rng.uniform(2.4, 5.8, len(own))


def _woods(rng: np.random.Generator, woods: list[tuple[float, float, float]]) -> list[Trees]:
    """Dense trees (one per ~12 m^2) in each wood ``(cx, cy, radius)``."""
    out = []
    for cx, cy, rad in woods:
        n = int(rad * rad / 12)
        rr = rad * np.sqrt(rng.random(n))
        th = rng.uniform(0, 2 * math.pi, n)
        out.append((cx + rr * np.cos(th), cy + rr * np.sin(th), rng.uniform(2.5, 5.5, n)))
    return out


def _scattered_trees(rng: np.random.Generator, bounds: tuple[float, float, float, float]) -> Trees:
    """About one tree per 900 m^2 anywhere in ``bounds``."""
    x0, y0, x1, y1 = bounds
    n = rng.poisson((x1 - x0) * (y1 - y0) / 900.0)
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), rng.uniform(1.8, 4.5, n)


def _clear_of(
    x: np.ndarray, y: np.ndarray, r: np.ndarray, blockers: list, roads: list[Road]
) -> np.ndarray:
    """Which trees have no trunk in ``blockers`` and a crown at most ~1.5 m over a road."""
    tree = shapely.STRtree(np.array(blockers, dtype=object))
    pts = shapely.points(x, y)
    hit = tree.query(pts, predicate="intersects")
    keep = np.ones(len(x), dtype=bool)
    keep[np.unique(hit[0])] = False
    near = shapely.STRtree(np.array([rd.line for rd in roads], dtype=object)) if roads else None
    if near is not None:
        idx, dmin = near.query_nearest(pts, return_distance=True, all_matches=False)
        hw = np.array([rd.half_width for rd in roads])[idx[1]]
        dd = np.full(len(x), np.inf)
        dd[idx[0]] = dmin
        keep &= r <= np.maximum(dd - hw + 1.5, 0.0) + 1e-9 + np.where(dd > hw + 6, np.inf, 0)
    return keep


def _paint_crowns(
    rng: np.random.Generator, p: Painter, x: np.ndarray, y: np.ndarray, r: np.ndarray
) -> None:
    """Each crown a clump of three overlapping discs with its shadow, lit on the sun side."""
    n = len(x)
    ang = rng.uniform(0, 2 * math.pi, (n, 3))
    rad = r[:, None] * rng.uniform(0.15, 0.4, (n, 3))
    cx = (x[:, None] + rad * np.cos(ang)).ravel()
    cy = (y[:, None] + rad * np.sin(ang)).ravel()
    cr = (r[:, None] * rng.uniform(0.62, 0.8, (n, 3))).ravel()
    clumps = discs(cx, cy, cr, segs=4)
    # shadow: the clumps moved away from the sun by about the crown height, joined
    # to the crown (a tree's shadow starts at its trunk)
    p.cast(clumps, np.repeat(r * rng.uniform(1.4, 2.0, n), 3), occlude=True)
    variants = jitter_spectra(rng, SPECTRA["tree"], 8, 0.18)
    dark = p.mat.add(variants * 0.85, 0.0, 0.22, 0.26)
    lit = p.mat.add(variants * 1.22, 0.0, 0.22, 0.26)
    v = np.repeat(rng.integers(0, 8, n), 3)
    p.paint(clumps, dark[v])
    sx, sy = SUN_DIR * 0.3
    p.paint(discs(cx + sx * cr, cy + sy * cr, cr * 0.62, segs=3), lit[v])
