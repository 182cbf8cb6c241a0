"""The sample's labels: the painted centerlines, clipped to each image, as SpaceNet GeoJSON.

Labels are the very lines that were buffered to paint the roads, so the truth is exact;
attributes and the file's text layout follow SpaceNet 3 (strings, a CRS84 member, one
feature a line). As in SpaceNet 3, each road is cut where it crosses or meets another, and
the pieces share that point exactly: a truth network read from the labels (nodes where
lines share coordinates, the APLS rule) is then connected as the roads are.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from basiss.synthetic.network import Road
from basiss.synthetic.painter import Scene

ROAD_PROPERTIES = ("road_id", "road_type", "lane_number", "paved", "one_way_type", "bridge_type")

#: A label feature: LineString vertices (EPSG:4326) and its SpaceNet properties.
Feature = tuple[np.ndarray, dict[str, object]]


def _road_properties(road: Road, road_id: int) -> dict[str, object]:
    """SpaceNet 3 attributes (strings, as SpaceNet ships them; road_id an int)."""
    return {
        "road_id": road_id,
        "road_type": road.road_type,
        "lane_number": str(road.lanes),
        "paved": "1" if road.paved else "2",
        "one_way_type": "2",
        "bridge_type": "2",
    }


#: Label lines closer than this many pixels join: a street ending by another meets it.
JOIN_PX = 3.0


def junction_points(lines: np.ndarray, tol: float) -> list[tuple[float, float]]:
    """Where roads meet, one exact point per junction.

    Candidates are the crossings of two roads and, for a road ending within ``tol`` of
    another (a T-junction: the side street stops on the main street's centerline, which a
    polyline only approximates), the nearest point of the other road. Candidates closer
    than ``tol`` are one junction; its point is the first candidate found.
    """
    tree = shapely.STRtree(lines)
    found: list[shapely.Point] = []
    for k, line in enumerate(lines):
        for j in tree.query(line, predicate="dwithin", distance=tol):
            if j <= k:
                continue
            other = lines[j]
            found += [p for p in shapely.get_parts(shapely.intersection(line, other))
                      if p.geom_type == "Point"]  # fmt: skip
            for a, b in ((line, other), (other, line)):
                for i in (0, -1):
                    end = shapely.Point(a.coords[i])
                    if b.distance(end) <= tol:
                        found.append(b.interpolate(b.project(end)))
    points: list[shapely.Point] = []
    for p in found:
        if all(p.distance(q) > tol for q in points):
            points.append(p)
    return [(p.x, p.y) for p in points]


def _snap_road(line: LineString, near: list[tuple[float, float]], tol: float) -> LineString:
    """``line`` with each end moved onto the junction point within ``tol`` of it, if any."""
    coords = [tuple(c) for c in line.coords]
    for i in (0, -1):
        end = shapely.Point(coords[i])
        close = [xy for xy in near if end.distance(shapely.Point(xy)) <= tol]
        if close:
            coords[i] = min(close, key=lambda xy: end.distance(shapely.Point(xy)))
    return LineString(coords)


def cut_line(line: LineString, cuts: list[tuple[float, tuple]], tol: float) -> list[LineString]:
    """``line`` cut at ``(distance, point)`` positions (sorted), each cut point used verbatim
    as the end of one piece and the start of the next (so neighbours share it exactly)."""
    coords = [tuple(c) for c in line.coords]
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(np.asarray(coords), axis=0).T))])
    pieces, current, i = [], [coords[0]], 1
    for d, xy in cuts:
        if d <= tol or d >= along[-1] - tol:
            continue  # at an end: nothing to cut
        while i < len(coords) and along[i] < d - 1e-12:
            current.append(coords[i])
            i += 1
        if i < len(coords) and along[i] <= d + 1e-12:
            i += 1  # the cut falls on this vertex: the cut point stands for it
        current.append(xy)
        pieces.append(current)
        current = [xy]
    current.extend(coords[i:])
    pieces.append(current)
    return [LineString(p) for p in pieces if len(p) >= 2 and LineString(p).length > 0]


def noded_lines(lines: np.ndarray, tol: float) -> list[tuple[int, LineString]]:
    """Every road cut at the junctions it passes through: ``(road index, piece)``.

    Args:
        lines: the roads' centerlines (one CRS).
        tol: roads closer than this meet (see :func:`junction_points`), in the lines' units.
    """
    if len(lines) == 0:
        return []
    junctions = junction_points(lines, tol)
    jtree = shapely.STRtree([shapely.Point(xy) for xy in junctions]) if junctions else None
    out = []
    for k, line in enumerate(lines):
        hits = [] if jtree is None else jtree.query(line, predicate="dwithin", distance=tol)
        near = [junctions[i] for i in sorted(hits)]
        road = _snap_road(line, near, tol)
        at = sorted((road.project(shapely.Point(xy)), xy) for xy in near)
        out.extend((k, piece) for piece in cut_line(road, at, tol))
    return out


def clip_labels(
    scene: Scene,
    footprint: Polygon,
    min_length: float,
    to_wgs84: Callable[[np.ndarray], np.ndarray] | None,
) -> list[Feature]:
    """Centerline pieces inside ``footprint`` (image CRS), as EPSG:4326 coordinates."""
    feats: list[Feature] = []
    for k, piece in noded_lines(scene.lines, JOIN_PX * min_length / 2):
        if not piece.intersects(footprint):
            continue
        for part in shapely.get_parts(shapely.intersection(piece, footprint)):
            if not isinstance(part, LineString) or part.length < min_length:
                continue
            coords = shapely.get_coordinates(part)
            if to_wgs84 is not None:
                coords = to_wgs84(coords)
            feats.append((coords, _road_properties(scene.roads[k], 1000 + int(k))))
    return feats


def geojson_text(features: list[Feature]) -> str:
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
