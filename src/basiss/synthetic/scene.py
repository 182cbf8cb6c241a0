"""A synthetic suburb as paint layers: the road network, then everything built around it.

:func:`build_scene` lays out the network (:mod:`~basiss.synthetic.network`), then paints,
bottom to top: the ground, open land, yards and ponds, parking lots, sidewalks, driveways
and pools, the roads and their markings, cars, roofs, and trees last. Every random draw
comes from one generator in a fixed order, so a seed gives the same scene.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

from basiss.synthetic.details import paint_markings, parking, road_cars, roof_units
from basiss.synthetic.houses import Houses, place_houses
from basiss.synthetic.materials import (
    CAR_PALETTE,
    CAR_WEIGHTS,
    FLAT_ROOF_PALETTE,
    ROOF_PALETTE,
    ROOF_WEIGHTS,
    SPECTRA,
    jitter_spectra,
)
from basiss.synthetic.network import Plan, Road, end_bulb, road_network
from basiss.synthetic.painter import Painter, Scene
from basiss.synthetic.shapes import hits
from basiss.synthetic.trees import paint_trees

#: A shop plot: (building footprint, parking lot, (a, b) unit axes of its block).
Shop = tuple[shapely.Polygon, shapely.Polygon, np.ndarray]


def build_scene(
    rng: np.random.Generator,
    bounds: tuple[float, float, float, float],
    to_image: Callable[[np.ndarray], np.ndarray] | None,
) -> Scene:
    """Lay out a suburb over ``bounds`` (UTM metres) and turn it into paint layers.

    Args:
        rng: every random choice of the scene.
        bounds: ``x0, y0, x1, y1`` in metres.
        to_image: maps metric ``(n, 2)`` coordinates to the image CRS (None: same CRS).
    """
    plan = road_network(rng, bounds)
    roads = plan.roads
    p = Painter()
    base = p.mat.add(
        jitter_spectra(rng, SPECTRA["lawn"], 1, 0.03) * 0.8 + SPECTRA["dry"] * 0.2, 0.7, 0.07, 0.05
    )
    assert base[0] == 0  # id 0 is the ground everywhere nothing else is painted
    road_polys = _road_polygons(roads)
    # road + sidewalk band: no house, lot or pool may touch it
    clearance = np.array([shapely.buffer(g, 3.0) for g in road_polys], dtype=object)
    clear_tree = shapely.STRtree(clearance) if len(clearance) else None
    _paint_open_land(rng, p, plan)
    houses = place_houses(rng, roads, clear_tree, plan)  # placed now, painted in layers
    _paint_yards(rng, p, houses, plan)
    shops = _free_shops(plan, clear_tree)
    if shops:
        lot_ids = p.mat.add(
            jitter_spectra(rng, SPECTRA["asphalt"], len(shops), 0.25), 0.0, 0.03, 0.02
        )
        p.paint(np.array([lot for _, lot, _ in shops], dtype=object), lot_ids)
    _paint_sidewalks(p, road_polys[np.array([r.paved for r in roads], dtype=bool)])
    _paint_driveways_and_pools(rng, p, houses)
    _paint_roads(rng, p, roads, road_polys)
    paint_markings(rng, p, roads)
    _paint_cars(rng, p, roads, shops, houses)
    _paint_house_roofs(rng, p, houses)
    _paint_shop_roofs(rng, p, shops)
    paint_trees(rng, p, roads, road_polys, houses, plan, bounds)
    return p.scene(roads, to_image)


def _road_polygons(roads: list[Road]) -> np.ndarray:
    """Each centerline buffered to its painted width, with its turning circle if any."""
    return np.array(
        [
            shapely.union(r.line.buffer(r.half_width), end_bulb(r))
            if r.bulb
            else r.line.buffer(r.half_width)
            for r in roads
        ],
        dtype=object,
    )


def _paint_open_land(rng: np.random.Generator, p: Painter, plan: Plan) -> None:
    """Fields (dry grass) and bare soil patches."""
    p.paint(
        np.array(plan.fields, dtype=object),
        p.mat.add(SPECTRA["dry"] * 0.6 + SPECTRA["lawn"] * 0.4, 1.0, 0.1, 0.05)[0],
    )
    if plan.soil:
        p.paint(
            np.array(plan.soil, dtype=object),
            p.mat.add(jitter_spectra(rng, SPECTRA["soil"], len(plan.soil), 0.1), 0.0, 0.09, 0.05),
        )


def _paint_yards(rng: np.random.Generator, p: Painter, houses: Houses, plan: Plan) -> None:
    """A lawn per house (from green to half dry), then the ponds."""
    n_h = len(houses)
    lawn_ids = (
        p.mat.add(
            [SPECTRA["lawn"] * (1 - t) + SPECTRA["dry"] * t for t in rng.uniform(0.0, 0.45, n_h)],
            0.35,
            0.06,
            0.05,
        )
        if n_h
        else np.array([], dtype=np.int64)
    )
    p.paint(houses.lot, lawn_ids)
    p.paint(np.array(plan.ponds, dtype=object), p.mat.add(SPECTRA["water"], 0.0, 0.02, 0.01)[0])


def _free_shops(plan: Plan, clear_tree: shapely.STRtree | None) -> list[Shop]:
    """The shop plots whose parking lot keeps clear of every road and sidewalk."""
    lots = np.array([lot for _, lot, _ in plan.plots], dtype=object)
    lots = lots[~hits(lots, clear_tree)] if len(lots) else lots
    return [pl for pl in plan.plots if any(pl[1] is lot for lot in lots)]


def _paint_sidewalks(p: Painter, paved_polys: np.ndarray) -> None:
    """Sidewalks around the paved network (closed, so corners are rounded), asphalt inside."""
    if not len(paved_polys):
        return
    network = shapely.union_all(paved_polys)
    closed = network.buffer(5.0, quad_segs=6).buffer(-5.0, quad_segs=6)
    walk = shapely.difference(closed.buffer(2.6, quad_segs=4), closed.buffer(1.1, quad_segs=4))
    p.paint([walk], p.mat.add(SPECTRA["concrete"], 0.0, 0.03, 0.03)[0])
    # the rounded kerb corners are road too: asphalt under every road
    p.paint([closed], p.mat.add(SPECTRA["asphalt"] * 1.1, 0.0, 0.03, 0.02)[0])


def _paint_driveways_and_pools(rng: np.random.Generator, p: Painter, houses: Houses) -> None:
    """Concrete driveways, pool decks, then the water of the pools."""
    concrete = jitter_spectra(rng, SPECTRA["concrete"], 1, 0.05)
    p.paint(houses.drive, p.mat.add(concrete, 0.0, 0.03, 0.03)[0])
    p.paint(houses.deck, p.mat.add(SPECTRA["concrete"] * 1.1, 0.0, 0.02, 0.02)[0])
    p.paint(houses.pool, p.mat.add(SPECTRA["pool"], 0.0, 0.02, 0.01)[0])


def _paint_roads(
    rng: np.random.Generator, p: Painter, roads: list[Road], road_polys: np.ndarray
) -> None:
    """Road surfaces, each its own asphalt, dirt or gravel; arterials on top at junctions."""
    order = np.argsort(
        [{"track": 0, "arterial": 2, "diagonal": 2}.get(r.kind, 1) for r in roads], kind="stable"
    )
    road_ids = np.empty(len(roads), dtype=np.int64)
    for k, r in enumerate(roads):
        if r.paved:
            spec, tex_mid, tex_fine = SPECTRA["asphalt"] * rng.uniform(0.75, 1.65), 0.03, 0.02
        elif r.kind == "track":
            spec, tex_mid, tex_fine = jitter_spectra(rng, SPECTRA["dirt"], 1, 0.08), 0.10, 0.06
        else:
            spec, tex_mid, tex_fine = jitter_spectra(rng, SPECTRA["gravel"], 1, 0.08), 0.06, 0.05
        road_ids[k] = p.mat.add(spec, 0.0, tex_mid, tex_fine)[0]
    p.paint(road_polys[order], road_ids[order])


def _paint_cars(
    rng: np.random.Generator, p: Painter, roads: list[Road], shops: list[Shop], houses: Houses
) -> None:
    """Parking stall stripes, then cars on roads, in stalls and on driveways, with shadows."""
    stripes, stall_cars = parking(rng, shops)
    p.paint(stripes, p.mat.add(SPECTRA["paint_white"] * 0.9, 0.0, 0.0, 0.0)[0])
    cars = np.concatenate([road_cars(rng, roads), stall_cars, houses.car])
    if len(cars):
        p.cast(cars, np.full(len(cars), 1.5), occlude=True)
        pick = rng.choice(len(CAR_PALETTE), size=len(cars), p=CAR_WEIGHTS)
        p.paint(
            cars,
            p.mat.add(jitter_spectra(rng, CAR_PALETTE[pick], len(cars), 0.08), 0.0, 0.0, 0.02),
        )


def _paint_house_roofs(rng: np.random.Generator, p: Painter, houses: Houses) -> None:
    """Gable roofs: one colour per house, its sunlit half brighter, with shadows."""
    n_h = len(houses)
    if not n_h:
        return
    roof = ROOF_PALETTE[rng.choice(len(ROOF_PALETTE), size=n_h, p=ROOF_WEIGHTS)]
    roof = jitter_spectra(rng, roof, n_h, 0.1)
    owner = houses.part_owner
    p.cast(houses.parts, houses.height[owner])
    p.paint(houses.lit, p.mat.add(roof[owner] * 1.18, 0.0, 0.04, 0.04))
    p.paint(houses.dim, p.mat.add(roof[owner] * 0.82, 0.0, 0.04, 0.04))


def _paint_shop_roofs(rng: np.random.Generator, p: Painter, shops: list[Shop]) -> None:
    """Flat shop roofs 6-10 m high with air-conditioning units on them."""
    if not shops:
        return
    blds = np.array([b for b, _, _ in shops], dtype=object)
    flat = FLAT_ROOF_PALETTE[rng.choice(len(FLAT_ROOF_PALETTE), size=len(shops))]
    p.cast(blds, rng.uniform(6, 10, len(shops)))
    p.paint(blds, p.mat.add(jitter_spectra(rng, flat, len(shops), 0.06), 0.0, 0.02, 0.03))
    units = roof_units(rng, shops)
    p.paint(units, p.mat.add(FLAT_ROOF_PALETTE[1] * 1.5, 0.0, 0.0, 0.0)[0])
