"""Road networks to and from GeoPackage, GeoJSON, GraphML and the SpaceNet CSV."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pyogrio
import pyproj
import pytest
import shapely
from rasterio import Affine

from basiss.errors import BasissError
from basiss.graph import graphml, spacenet_csv, write
from basiss.graph.read import read_network
from basiss.graph.spacenet_csv import read_spacenet_csv, write_spacenet_csv
from basiss.graph.vector import edge_records, node_records
from basiss.graph.write import VectorWarning, write_network

UTM = pyproj.CRS.from_epsg(32611)
WGS84 = pyproj.CRS.from_epsg(4326)
FORMATS = ("gpkg", "geojson", "graphml", "csv")


def _network(crs: pyproj.CRS, origin: tuple[float, float], step: float) -> nx.MultiGraph:
    """A T junction, a dead end, two parallel roads, a loop; one edge stored v -> u.

    Coordinates are ``origin + step * (i, j)`` with awkward fractions so precision shows.
    """
    x0, y0 = origin

    def at(i: float, j: float) -> tuple[float, float]:
        return (x0 + step * i, y0 + step * j)

    pts = {10: at(0.123456789, 0.987654321), 11: at(50.5, 0.25), 12: at(0, 60), 13: at(-40, -30)}
    G = nx.MultiGraph(crs=crs.to_wkt(), units="m", image_id="scene_a")
    G.graph["transform"] = (step / 3, 0.0, x0 - 50 * step, 0.0, -step / 3, y0 + 100 * step)
    for n, (x, y) in pts.items():
        G.add_node(n, x=x, y=y)
    line = shapely.LineString
    G.add_edge(10, 11, geometry=line([pts[10], pts[11]]), length_m=50.4, prob_mean=0.8, width_m=6)
    G.add_edge(10, 12, geometry=line([pts[10], at(10, 30), pts[12]]), prob_mean=0.61)
    G.add_edge(10, 13, geometry=line([pts[13], pts[10]]), width_m=4.5)  # runs 13 -> 10
    G.add_edge(11, 10, geometry=line([pts[11], at(25, -10), pts[10]]))  # a parallel road
    G.add_edge(12, 12, geometry=line([pts[12], at(10, 70), at(-10, 70), pts[12]]))  # a loop
    return G


@pytest.fixture(params=["utm", "wgs84"])
def network(request: pytest.FixtureRequest) -> nx.MultiGraph:
    if request.param == "utm":
        return _network(UTM, (500100.0, 4000100.0), 1.0)
    return _network(WGS84, (-115.3, 36.2), 1e-5)


def _to_wgs84(geom: shapely.Geometry, crs: pyproj.CRS) -> shapely.Geometry:
    tr = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    return shapely.transform(
        geom, lambda xy: list(zip(*tr.transform(xy[:, 0], xy[:, 1]), strict=True))
    )


def _tolerance(G: nx.MultiGraph) -> float:
    """1e-6 in a metric CRS, 1e-9 degrees (~0.1 mm) in a geographic one."""
    return 1e-9 if pyproj.CRS(G.graph["crs"]).is_geographic else 1e-6


def _assert_same(G: nx.MultiGraph, H: nx.MultiGraph, tol: float, reproject: bool = False) -> None:
    """Same node ids and positions, same oriented edges, lengths and measures."""
    crs = pyproj.CRS(G.graph["crs"])
    move = (lambda g: _to_wgs84(g, crs)) if reproject else (lambda g: g)
    gn, hn = node_records(G), node_records(H)
    assert [n.id for n in gn] == [n.id for n in hn]
    for a, b in zip(gn, hn, strict=True):
        p = move(shapely.Point(a.x, a.y))
        assert (a.kind, a.degree) == (b.kind, b.degree)
        assert abs(p.x - b.x) < tol and abs(p.y - b.y) < tol
    ge, he = edge_records(G), edge_records(H)
    assert [(e.id, e.u, e.v, e.key) for e in ge] == [(e.id, e.u, e.v, e.key) for e in he]
    for a, b in zip(ge, he, strict=True):
        assert shapely.equals_exact(move(a.geometry), b.geometry, tolerance=tol)
        assert b.length_m == pytest.approx(a.length_m, abs=1e-6)
        assert b.measures == pytest.approx(a.measures, abs=1e-12)


@pytest.mark.parametrize("fmt", ["gpkg", "graphml"])
def test_round_trip_in_the_network_crs(network: nx.MultiGraph, tmp_path: Path, fmt: str) -> None:
    path = write_network(network, tmp_path, "scene_a", formats=[fmt])[fmt]
    assert path.name == f"scene_a_graph.{fmt}"
    H = read_network(path)
    assert pyproj.CRS(H.graph["crs"]) == pyproj.CRS(network.graph["crs"])
    assert H.graph["transform"] == pytest.approx(network.graph["transform"], abs=0)
    assert H.graph["image_id"] == "scene_a"
    _assert_same(network, H, tol=_tolerance(network))
    again = read_network(write_network(H, tmp_path / "again", "scene_a", [fmt])[fmt])
    _assert_same(network, again, tol=_tolerance(network))  # ids stay what the first write gave


def test_round_trip_geojson_is_rfc7946_lon_lat(network: nx.MultiGraph, tmp_path: Path) -> None:
    path = write_network(network, tmp_path, "scene_a", formats=["geojson"])["geojson"]
    doc = json.loads(path.read_text())
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    kinds = [f["properties"]["feature"] for f in doc["features"]]
    assert kinds == ["edge"] * 5 + ["node"] * 4
    lon, lat = doc["features"][5]["geometry"]["coordinates"]  # node 10
    assert -117.1 < lon < -115.2 and 36.1 < lat < 36.3  # lon first, near Las Vegas / zone 11
    H = read_network(path)
    assert pyproj.CRS(H.graph["crs"]).equals(WGS84)
    _assert_same(network, H, tol=1e-9, reproject=True)


def test_written_files_open_in_gis_tools(network: nx.MultiGraph, tmp_path: Path) -> None:
    out = write_network(network, tmp_path, "scene_a")
    assert sorted(out) == sorted(FORMATS)
    assert sorted(name for name, _ in pyogrio.list_layers(out["gpkg"])) == ["edges", "nodes"]
    edges = gpd.read_file(out["gpkg"], layer="edges")
    nodes = gpd.read_file(out["gpkg"], layer="nodes")
    assert edges.crs == pyproj.CRS(network.graph["crs"]) == nodes.crs
    assert set(edges.geom_type) == {"LineString"} and set(nodes.geom_type) == {"Point"}
    assert {"id", "u", "v", "length_m", "prob_mean", "width_m"} <= set(edges.columns)
    assert list(edges["length_m"])[0] == 50.4
    assert edges["width_m"].isna().sum() == 3  # only two edges carry a width
    assert dict(zip(nodes["id"], nodes["kind"], strict=True))[10] == "junction"
    assert dict(zip(nodes["id"], nodes["degree"], strict=True)) == {10: 4, 11: 2, 12: 3, 13: 1}
    js = gpd.read_file(out["geojson"])
    assert js.crs.equals(WGS84) and len(js) == 9


def test_graphml_follows_osmnx_conventions(network: nx.MultiGraph, tmp_path: Path) -> None:
    """What ``osmnx.load_graphml`` does: int node ids, strings converted by attribute name."""
    path = write_network(network, tmp_path, "scene_a", formats=["graphml"])["graphml"]
    H = nx.read_graphml(path, node_type=int, force_multigraph=True)
    assert sorted(H.nodes) == [10, 11, 12, 13]
    assert pyproj.CRS(H.graph["crs"]) == pyproj.CRS(network.graph["crs"])
    for _, data in H.nodes(data=True):
        assert all(isinstance(v, str) for v in data.values())  # osmnx calls str methods
        float(data["x"]), float(data["y"]), int(data["street_count"])
    assert H.nodes[10]["x"] == repr(network.nodes[10]["x"])
    lengths = {}
    for u, v, data in H.edges(data=True):
        assert all(isinstance(value, str) for value in data.values())
        line = shapely.from_wkt(data["geometry"])
        ends = {(float(H.nodes[n]["x"]), float(H.nodes[n]["y"])) for n in (u, v)}
        assert {line.coords[0], line.coords[-1]} == ends  # the line joins its two nodes
        lengths[int(data["osmid"])] = float(data["length"])
    assert lengths[0] == 50.4 and len(lengths) == 5


def test_spacenet_csv_holds_pixel_lines(network: nx.MultiGraph, tmp_path: Path) -> None:
    path = write_network(network, tmp_path, "scene_a", formats=["csv"])["csv"]
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ImageId", "WKT_Pix", "length_m"]
    assert len(rows) == 6 and {r[0] for r in rows[1:]} == {"scene_a"}
    t = Affine(*network.graph["transform"])
    tol = _tolerance(network)
    records = edge_records(network)
    first = shapely.from_wkt(rows[1][1]).coords[0]  # edge 0 starts at node 10
    assert first == pytest.approx(((0.123456789 + 50) * 3, (100 - 0.987654321) * 3), abs=1e-6)
    for row, record in zip(rows[1:], records, strict=True):
        pix = shapely.from_wkt(row[1])
        back = shapely.transform(pix, lambda cr: cr @ [[t.a, t.d], [t.b, t.e]] + [t.c, t.f])
        assert shapely.equals_exact(back, record.geometry, tolerance=tol)
        assert float(row[2]) == pytest.approx(record.length_m, abs=1e-9)
    H = read_network(path)
    assert H.graph["units"] == "px" and H.graph["crs"] is None
    assert (H.number_of_nodes(), H.number_of_edges()) == (4, 5)
    assert sorted(d for _, d in H.degree) == [1, 2, 3, 4]
    assert sorted(L for *_, L in H.edges(data="length_m")) == pytest.approx(
        sorted(r.length_m for r in records), abs=1e-6
    )


def test_many_images_in_one_csv(tmp_path: Path) -> None:
    a = _network(UTM, (500100.0, 4000100.0), 1.0)
    empty = nx.MultiGraph(
        crs=UTM.to_wkt(), units="m", image_id="scene_b", transform=(1, 0, 0, 0, -1, 0)
    )
    path = write_spacenet_csv([a, empty], tmp_path / "all.csv")
    lines = path.read_text().splitlines()
    assert lines[-1] == "scene_b,LINESTRING EMPTY,0.0"
    graphs = read_spacenet_csv(path)
    assert list(graphs) == ["scene_a", "scene_b"]
    assert graphs["scene_a"].number_of_edges() == 5 and graphs["scene_b"].number_of_edges() == 0
    assert read_network(path, image_id="scene_b").number_of_nodes() == 0
    with pytest.raises(BasissError, match="holds 2 images"):
        read_network(path)
    with pytest.raises(BasissError, match="without graph\\['image_id'\\]"):
        write_spacenet_csv([nx.MultiGraph(crs=None)], tmp_path / "x.csv")


def test_empty_network_gives_valid_empty_outputs(tmp_path: Path) -> None:
    G = nx.MultiGraph(
        crs=UTM.to_wkt(), units="m", image_id="nothing", transform=(0.3, 0, 5e5, 0, -0.3, 4e6)
    )
    out = write_network(G, tmp_path, "nothing")
    assert sorted(out) == sorted(FORMATS)
    info = {layer: pyogrio.read_info(out["gpkg"], layer=layer) for layer in ("edges", "nodes")}
    assert info["edges"]["geometry_type"] == "LineString" and info["edges"]["features"] == 0
    assert info["nodes"]["geometry_type"] == "Point" and info["nodes"]["features"] == 0
    assert pyproj.CRS(info["edges"]["crs"]) == UTM == pyproj.CRS(info["nodes"]["crs"])
    assert json.loads(out["geojson"].read_text())["features"] == []
    assert nx.read_graphml(out["graphml"]).number_of_nodes() == 0
    assert out["csv"].read_text().splitlines() == [
        "ImageId,WKT_Pix,length_m",
        "nothing,LINESTRING EMPTY,0.0",
    ]
    for path in out.values():
        H = read_network(path)
        assert (H.number_of_nodes(), H.number_of_edges()) == (0, 0)
        assert H.graph["image_id"] == "nothing"


def test_network_without_crs_skips_geojson_with_a_warning(tmp_path: Path) -> None:
    G = _network(UTM, (0.0, 0.0), 1.0)
    G.graph.update(crs=None, units="px")
    del G.graph["transform"]
    with pytest.warns(VectorWarning, match="no GeoJSON"):
        out = write_network(G, tmp_path, "pix")
    assert sorted(out) == ["csv", "gpkg", "graphml"]
    assert not (tmp_path / "pix_graph.geojson").exists()
    assert pyogrio.read_info(out["gpkg"], layer="edges")["crs"] is None
    H = read_network(out["csv"])  # no transform: the coordinates are the pixels
    assert sorted(H.nodes[n]["x"] for n in H) == sorted(G.nodes[n]["x"] for n in G)


def test_lengths_are_true_metres_when_the_network_has_none(tmp_path: Path) -> None:
    for crs, coords, metres in [
        (WGS84, [(0.0, 0.0), (0.0, 1.0)], 110574.389),  # one degree of latitude at the equator
        (UTM, [(500000.0, 0.0), (500003.0, 4.0)], 5.0),
        (pyproj.CRS.from_epsg(2227), [(6e6, 2e6), (6e6 + 1000.0, 2e6)], 304.8006),  # US feet
    ]:
        G = nx.MultiGraph(crs=crs.to_wkt(), units="m")
        G.add_node(0, x=coords[0][0], y=coords[0][1])
        G.add_node(1, x=coords[1][0], y=coords[1][1])
        G.add_edge(0, 1)  # no geometry either: the straight line
        (record,) = edge_records(G)
        assert record.length_m == pytest.approx(metres, abs=1e-3)
        gpkg = write_network(G, tmp_path, "len", ["gpkg"])["gpkg"]
        (length,) = [L for *_, L in read_network(gpkg).edges(data="length_m")]
        assert length == pytest.approx(metres, abs=1e-3)


def test_plain_centerlines_geojson_becomes_a_network(make_geojson) -> None:
    pytest.importorskip("basiss.graph.from_lines")
    centre = [-115.3, 36.2]
    arms = [[-115.301, 36.2], [-115.299, 36.2], [-115.3, 36.201]]
    path = make_geojson([({"type": "LineString", "coordinates": [centre, a]}, {}) for a in arms])
    G = read_network(path)
    assert (G.number_of_nodes(), G.number_of_edges()) == (4, 3)
    assert sorted(d for _, d in G.degree) == [1, 1, 1, 3]
    lengths = sorted(L for *_, L in G.edges(data="length_m"))
    assert lengths[0] == pytest.approx(90.1, abs=0.2)  # 0.001 deg of longitude at 36.2 N
    assert lengths[2] == pytest.approx(110.96, abs=0.2)  # 0.001 deg of latitude


def _one_line_error(path: Path) -> str:
    with pytest.raises(BasissError) as info:
        read_network(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_files_are_one_line_errors(tmp_path: Path, make_geojson) -> None:
    (tmp_path / "junk.gpkg").write_text("not a database")
    assert "not a readable GeoPackage" in _one_line_error(tmp_path / "junk.gpkg")
    roads = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=UTM)
    roads.to_file(tmp_path / "roads.gpkg", layer="roads")
    assert "has no 'edges' layer (layers: roads)" in _one_line_error(tmp_path / "roads.gpkg")
    points = make_geojson([({"type": "Point", "coordinates": [0, 0]}, {})], name="points.geojson")
    assert "holds Point geometries" in _one_line_error(points)
    square = [[[0, 0], [1, 0], [1, 1], [0, 0]]]
    polys = make_geojson([({"type": "Polygon", "coordinates": square}, {})], name="poly.geojson")
    assert "holds Polygon geometries" in _one_line_error(polys)
    (tmp_path / "broken.geojson").write_text('{"type": "FeatureCollection", "features": [')
    assert "cannot be read" in _one_line_error(tmp_path / "broken.geojson")
    (tmp_path / "broken.graphml").write_text("<graphml><graph>")
    assert "not a readable GraphML" in _one_line_error(tmp_path / "broken.graphml")
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    assert "needs ImageId and WKT_Pix" in _one_line_error(tmp_path / "cols.csv")
    (tmp_path / "wkt.csv").write_text("ImageId,WKT_Pix\nimg,LINESTRING (0 0, 1\n")
    assert "row 2: WKT_Pix does not parse" in _one_line_error(tmp_path / "wkt.csv")
    (tmp_path / "pt.csv").write_text('ImageId,WKT_Pix\nimg,"POINT (0 0)"\n')
    assert "row 2: a Point" in _one_line_error(tmp_path / "pt.csv")
    (tmp_path / "mystery.dat").write_text("hello")
    assert "not a network file" in _one_line_error(tmp_path / "mystery.dat")
    assert "no such file" in _one_line_error(tmp_path / "absent.gpkg")
    with pytest.raises(BasissError, match="unknown network format 'shp'"):
        write_network(nx.MultiGraph(), tmp_path, "x", formats=["shp"])


@pytest.mark.filterwarnings("ignore:.*non conformant file extension")
def test_format_is_told_by_content_without_a_suffix(network: nx.MultiGraph, tmp_path: Path) -> None:
    for fmt, path in write_network(network, tmp_path, "scene_a").items():
        bare = path.with_suffix("")
        os.replace(path, bare)
        assert read_network(bare).number_of_edges() == 5, fmt


def test_a_failed_write_leaves_no_file(network: nx.MultiGraph, tmp_path: Path, monkeypatch) -> None:
    real = pyogrio.write_dataframe

    def fail_on_nodes(df, path, layer=None, **kwargs):
        if layer == "nodes":
            raise OSError("disk full")
        real(df, path, layer=layer, **kwargs)

    monkeypatch.setattr(write.pyogrio, "write_dataframe", fail_on_nodes)
    with pytest.raises(OSError, match="disk full"):
        write_network(network, tmp_path, "scene_a", formats=["gpkg"])
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary

    old = tmp_path / "scene_a_graph.graphml"
    old.write_text("old")

    def half_written(H, path, **kwargs):
        Path(path).write_text("<graphml>")
        raise KeyboardInterrupt

    monkeypatch.setattr(graphml.nx, "write_graphml", half_written)
    with pytest.raises(KeyboardInterrupt):
        write_network(network, tmp_path, "scene_a", formats=["graphml"])
    assert [p.name for p in tmp_path.iterdir()] == [old.name] and old.read_text() == "old"
    monkeypatch.setattr(spacenet_csv, "wkt", lambda g: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_network(network, tmp_path, "scene_a", formats=["csv"])
    assert [p.name for p in tmp_path.iterdir()] == [old.name]


def test_directed_osmnx_graphml_keeps_one_edge_per_road(tmp_path: Path) -> None:
    D = nx.MultiDiGraph(crs="EPSG:32611")
    for n, (x, y) in {1: (0.0, 0.0), 2: (30.0, 40.0), 3: (0.0, 10.0)}.items():
        D.add_node(n, x=repr(x), y=repr(y), street_count="2")
    D.add_edge(1, 2, osmid="[7, 8]", length="50.0", oneway="False")  # no geometry: straight
    D.add_edge(2, 1, geometry="LINESTRING (30 40, 30 0, 0 0)", length="70.0")  # another road
    D.add_edge(2, 1, osmid="[7, 8]", length="50.0", oneway="False")  # the first road, back
    D.add_edge(1, 3, osmid="9", length="10.0")
    nx.write_graphml(D, tmp_path / "osm.graphml")
    G = read_network(tmp_path / "osm.graphml")
    assert (G.number_of_nodes(), G.number_of_edges()) == (3, 3)
    roads = sorted((L, k, g.length) for _, _, k, L, g in _edges(G, "length_m", "geometry"))
    assert roads == [(10.0, 0, 10.0), (50.0, 0, 50.0), (70.0, 1, 70.0)]  # keys made unique
    assert G.graph["units"] == "m"
    assert (G.nodes[1]["kind"], G.nodes[3]["kind"]) == ("junction", "end")


def _edges(G: nx.MultiGraph, *names: str) -> list[tuple]:
    return [(u, v, k, *(d[n] for n in names)) for u, v, k, d in G.edges(keys=True, data=True)]


def test_osmnx_style_geopackage_keeps_its_lengths(tmp_path: Path) -> None:
    """osmnx's layers: nodes indexed by ``osmid``; edges with u, v, key, ``length`` (m)."""
    nodes = gpd.GeoDataFrame(
        {"osmid": [5, 6, 7]}, geometry=shapely.points([(0, 0), (3, 4), (3, 0)]), crs=UTM
    )
    lines = [shapely.LineString([(0, 0), (3, 4)]), None]  # the second: straight, as osmnx does
    edges = gpd.GeoDataFrame(
        {"u": [5, 6], "v": [6, 7], "key": [0, 0], "length": [5.2, 4.0]}, geometry=lines, crs=UTM
    )
    edges.to_file(tmp_path / "osm.gpkg", layer="edges")
    nodes.to_file(tmp_path / "osm.gpkg", layer="nodes")
    G = read_network(tmp_path / "osm.gpkg")
    assert sorted(G.nodes) == [5, 6, 7] and G.nodes[6]["kind"] == "node"
    assert sorted(L for *_, L in G.edges(data="length_m")) == [4.0, 5.2]  # kept, not recomputed
    assert G.edges[6, 7, 0]["geometry"].length == pytest.approx(4.0)


def test_spacenet_truth_survives_every_format(shared_data: Path, tmp_path: Path) -> None:
    """A real truth network (EPSG:4326 centerlines) written and read back unchanged."""
    pytest.importorskip("basiss.graph.from_lines")
    truth = shared_data / "apls" / "truth" / "AOI_2_Vegas_img990.geojson"
    if not truth.is_file():
        pytest.skip(f"{truth} is absent")
    G = read_network(truth)
    assert G.number_of_edges() > 20 and G.graph["image_id"] == "AOI_2_Vegas_img990"
    total = sum(L for *_, L in G.edges(data="length_m"))
    for fmt in ("gpkg", "geojson", "graphml"):
        H = read_network(write_network(G, tmp_path, "img990", [fmt])[fmt])
        assert (H.number_of_nodes(), H.number_of_edges()) == (
            G.number_of_nodes(),
            G.number_of_edges(),
        )
        assert sum(L for *_, L in H.edges(data="length_m")) == pytest.approx(total, abs=1e-6)
        _assert_same(G, H, tol=1e-9)
