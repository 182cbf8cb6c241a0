"""Network evaluation: pairing network files with truth, APLS/TOPO per image, reports."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString

from basiss.errors import BasissError
from basiss.evaluation.apls import AplsParams, apls
from basiss.evaluation.networks import evaluate_networks, format_network_table, georeference
from basiss.graph.from_lines import network_from_lines, read_line_network
from basiss.graph.write import write_network


def test_apls_folders_pair_by_id_and_match_direct_scores(shared_data, tmp_path):
    root = shared_data / "apls"
    report = evaluate_networks(
        root / "proposal", root / "truth", out_json=tmp_path / "net.json", topo_params=None
    )
    assert len(report.images) == 7
    params = AplsParams.preset("spacenet3")
    for r in report.images:
        direct = apls(read_line_network(r.truth), read_line_network(r.pred), params)
        assert r.apls.apls == pytest.approx(direct.apls, abs=1e-12)
    data = json.loads((tmp_path / "net.json").read_text())
    assert data["n_images"] == 7 and data["preset"] == "spacenet3"
    assert data["mean"]["apls"] == pytest.approx(np.mean([r.apls.apls for r in report.images]))
    rows = (tmp_path / "net.csv").read_text().strip().splitlines()
    assert len(rows) == 8 and rows[0].startswith("image_id,apls,")
    assert "mean" in format_network_table(report)


def _grid_network(crs: str) -> nx.MultiGraph:
    # a 3 x 3 street grid, each street cut at the junctions (they share those vertices)
    lines = [LineString([(x, y), (x, y + 150)]) for x in (0, 100, 200) for y in (0, 150)]
    lines += [LineString([(x, y), (x + 100, y)]) for x in (0, 100) for y in (0, 150, 300)]
    lines = [LineString([(500_000 + x, 4_000_000 + y) for x, y in ln.coords]) for ln in lines]
    return network_from_lines(lines, crs)


def test_a_written_network_scores_one_against_its_own_lines(tmp_path):
    G = _grid_network("EPSG:32611")
    G.graph["image_id"] = "AOI_2_Vegas_img1"
    write_network(G, tmp_path / "pred", "AOI_2_Vegas_img1", formats=("gpkg", "geojson"))
    write_network(G, tmp_path / "truth", "AOI_2_Vegas_img1", formats=("geojson",))
    report = evaluate_networks(tmp_path / "pred", tmp_path / "truth", plots_dir=tmp_path / "f")
    (r,) = report.images
    assert r.pred.suffix == ".gpkg"  # the GeoPackage wins over the GeoJSON of one network
    assert r.apls.apls == pytest.approx(1.0) and r.topo.f1 == pytest.approx(1.0)
    assert r.truth_length_m == pytest.approx(1500.0, rel=1e-6)
    assert (tmp_path / "f" / "AOI_2_Vegas_img1_network.png").stat().st_size > 0


def test_pixel_csv_needs_and_uses_the_image_grid(tmp_path):
    G = _grid_network("EPSG:32611")
    transform = from_origin(499_950, 4_000_350, 0.5, 0.5)
    img = tmp_path / "img" / "AOI_2_Vegas_img1.tif"
    img.parent.mkdir()
    with rasterio.open(
        img, "w", driver="GTiff", width=600, height=800, count=1, dtype="uint8",
        crs="EPSG:32611", transform=transform,
    ) as ds:  # fmt: skip
        ds.write(np.full((1, 800, 600), 9, np.uint8))
    G.graph.update(transform=tuple(transform)[:6], image_id="AOI_2_Vegas_img1")
    write_network(G, tmp_path / "pred", "AOI_2_Vegas_img1", formats=("csv",))
    write_network(G, tmp_path / "truth", "AOI_2_Vegas_img1", formats=("geojson",))
    csv = tmp_path / "pred" / "AOI_2_Vegas_img1_graph.csv"
    with pytest.raises(BasissError, match="pixel coordinates"):
        evaluate_networks(csv, tmp_path / "truth")
    report = evaluate_networks(csv, tmp_path / "truth", image=img.parent)
    assert report.images[0].apls.apls == pytest.approx(1.0)
    assert report.images[0].pred_length_m == pytest.approx(1500.0, rel=1e-6)


def test_georeference_maps_pixels_into_the_crs():
    G = nx.MultiGraph(crs=None, units="px")
    G.add_node(0, x=0.0, y=0.0)
    G.add_node(1, x=10.0, y=0.0)
    G.add_edge(0, 1, geometry=LineString([(0, 0), (10, 0)]), length_m=10.0)
    out = georeference(G, from_origin(500_000, 4_000_000, 0.3, 0.3), "EPSG:32611")
    assert (out.nodes[1]["x"], out.nodes[1]["y"]) == (pytest.approx(500_003.0), 4_000_000.0)
    assert out.edges[0, 1, 0]["length_m"] == pytest.approx(3.0)
    assert G.graph["crs"] is None  # the input is left alone
