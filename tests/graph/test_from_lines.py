"""network_from_lines / read_line_network: the reference's node rule, lengths, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
from pyproj import Geod
from shapely.geometry import LineString

from basiss.errors import BasissError
from basiss.graph.from_lines import network_from_lines, read_line_network

LON, LAT = -115.3, 36.2
D = 0.001  # ~90 m of longitude, ~111 m of latitude


def _lines() -> list[LineString]:
    """A 'T' with a kink: a road split in two features end to end, and a side road."""
    return [
        LineString([(LON, LAT), (LON + D, LAT)]),
        LineString([(LON + D, LAT), (LON + 2 * D, LAT), (LON + 2 * D, LAT + D)]),
        LineString([(LON + D, LAT), (LON + D, LAT - D)]),  # joins at a shared vertex
        LineString([(LON + 0.5 * D, LAT + D), (LON + 0.5 * D, LAT - 2 * D)]),  # crosses, no vertex
    ]


def test_nodes_at_ends_and_shared_vertices_only() -> None:
    g = network_from_lines(_lines(), "EPSG:4326")
    # ends: 3 of the T + 2 of the crossing line; junction at the shared vertex
    assert g.number_of_nodes() == 6
    assert g.number_of_edges() == 4
    kinds = sorted(d["kind"] for _, d in g.nodes(data=True))
    assert kinds == ["end"] * 5 + ["junction"]
    # the crossing line does not connect (overpass rule)
    assert nx.number_connected_components(g) == 2


def test_lengths_are_geodesic() -> None:
    g = network_from_lines(_lines(), "EPSG:4326")
    geod = Geod(ellps="WGS84")
    total = sum(abs(geod.geometry_length(ln)) for ln in _lines())
    got = sum(d["length_m"] for *_, d in g.edges(data=True))
    assert got == pytest.approx(total, rel=1e-6)
    for u, _v, d in g.edges(data=True):
        assert d["length_m"] == pytest.approx(abs(geod.geometry_length(d["geometry"])), rel=1e-6)
        start = d["geometry"].coords[0]
        assert start == (g.nodes[u]["x"], g.nodes[u]["y"])  # geometry runs u -> v


def test_two_way_continuation_merges_but_oneway_change_keeps_a_node() -> None:
    a = LineString([(0, 0), (100, 0)])
    b = LineString([(100, 0), (200, 0)])
    merged = network_from_lines([a, b], "EPSG:32611")
    assert merged.number_of_nodes() == 2 and merged.number_of_edges() == 1
    assert next(iter(merged.edges(data=True)))[2]["length_m"] == pytest.approx(200.0)
    kept = network_from_lines([a, b], "EPSG:32611", oneway=[1, 0])
    assert kept.number_of_nodes() == 3
    head_to_head = network_from_lines([a, LineString([(200, 0), (100, 0)])], None, oneway=[1, 1])
    assert head_to_head.number_of_nodes() == 3
    assert head_to_head.graph["units"] == "px"


def test_short_components_dropped_and_duplicates_removed() -> None:
    lines = [
        LineString([(0, 0), (100, 0)]),
        LineString([(100, 0), (0, 0)]),  # the same road again, reversed
        LineString([(500, 500), (503, 500)]),  # a 3 m fragment
    ]
    g = network_from_lines(lines, "EPSG:32611")
    assert g.number_of_edges() == 1 and g.number_of_nodes() == 2
    assert network_from_lines(lines, "EPSG:32611", min_component_m=0).number_of_edges() == 2


def test_ring_hanging_from_a_node_is_dropped_unless_kept() -> None:
    road = LineString([(0, 0), (100, 0)])
    loop = LineString([(100, 0), (140, 20), (140, -20), (100, 0)])  # cul-de-sac loop
    g = network_from_lines([road, loop], "EPSG:32611")
    assert g.number_of_nodes() == 2 and g.number_of_edges() == 1
    assert nx.number_of_selfloops(g) == 0
    kept = network_from_lines([road, loop], "EPSG:32611", keep_rings=True)
    assert kept.number_of_edges() == 2 and nx.number_of_selfloops(kept) == 1
    (ring,) = [d for u, v, d in kept.edges(data=True) if u == v]
    assert ring["length_m"] == pytest.approx(loop.length)
    # a closed ring touching no node stays, every vertex a node (as osmnx leaves it)
    alone = network_from_lines([LineString([(0, 0), (50, 0), (50, 50), (0, 0)])], "EPSG:32611")
    assert alone.number_of_nodes() == 3 and alone.number_of_edges() == 3


def _write(path: Path, geometries: list[dict], props: list[dict] | None = None) -> Path:
    props = props or [{} for _ in geometries]
    feats = [
        {"type": "Feature", "properties": p, "geometry": g}
        for g, p in zip(geometries, props, strict=True)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_read_line_network_oneway_only_when_asked(tmp_path: Path) -> None:
    # a two-way road continued end to end by a one-way one: the reference merges them
    a = {"type": "LineString", "coordinates": [[LON, LAT], [LON + D, LAT]]}
    b = {"type": "LineString", "coordinates": [[LON + D, LAT], [LON + 2 * D, LAT]]}
    path = _write(tmp_path / "osm.geojson", [a, b], [{"oneway": "None"}, {"oneway": "yes"}])
    g = read_line_network(path)
    assert g.number_of_nodes() == 2 and g.number_of_edges() == 1
    honoured = read_line_network(path, honour_oneway=True)
    assert honoured.number_of_nodes() == 3 and honoured.number_of_edges() == 2


def test_read_line_network(tmp_path: Path) -> None:
    line = {"type": "LineString", "coordinates": [[LON, LAT], [LON + D, LAT]]}
    multi = {
        "type": "MultiLineString",
        "coordinates": [
            [[LON + D, LAT], [LON + D, LAT + D]],
            [[LON, LAT + 2 * D], [LON, LAT + 3 * D]],
        ],
    }
    g = read_line_network(_write(tmp_path / "roads.geojson", [line, multi]))
    # the LineString and the first part meet end to end: one edge
    assert g.number_of_nodes() == 4 and g.number_of_edges() == 2
    assert g.graph["image_id"] == "roads"
    assert "WGS 84" in g.graph["crs"]


def test_read_line_network_bad_input(tmp_path: Path) -> None:
    point = {"type": "Point", "coordinates": [LON, LAT]}
    with pytest.raises(BasissError, match=r"pts\.geojson: holds a Point"):
        read_line_network(_write(tmp_path / "pts.geojson", [point]))
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(BasissError, match=r"bad\.geojson: cannot read"):
        read_line_network(bad)
    empty = read_line_network(_write(tmp_path / "empty.geojson", []))
    assert empty.number_of_nodes() == 0
