"""The sample's labels: the painted centerlines, clipped to each image, as SpaceNet GeoJSON.

Labels are the very lines that were buffered to paint the roads, so the truth is exact;
attributes and the file's text layout follow SpaceNet 3 (strings, a CRS84 member, one
feature a line).
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


def clip_labels(
    scene: Scene,
    footprint: Polygon,
    min_length: float,
    to_wgs84: Callable[[np.ndarray], np.ndarray] | None,
) -> list[Feature]:
    """Centerline pieces inside ``footprint`` (image CRS), as EPSG:4326 coordinates."""
    feats: list[Feature] = []
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
