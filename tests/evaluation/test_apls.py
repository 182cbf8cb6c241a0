"""APLS: the 42 reference scores, identity, cut and removed roads, edge cases."""

from __future__ import annotations

import csv
from pathlib import Path

import networkx as nx
import pytest
from shapely.geometry import LineString

from basiss.errors import BasissError
from basiss.evaluation.apls import AplsParams, AplsResult, Weight, apls
from basiss.graph.from_lines import network_from_lines, read_line_network

UTM = "EPSG:32611"
TOL = 0.01  # what issue 15 asks of the 42 reference scores
#: What is measured (2.7e-4): the reference measures unsplit edges on a sphere and split
#: pieces in UTM metres; basiss uses geodesic metres throughout. Mimicking the reference's
#: lengths brings the worst to 1.1e-5, so anything above this is a real change.
CLOSE = 1e-3


def _grid(n: int = 4, step: float = 100.0, skip: set[int] | None = None) -> list[LineString]:
    """An n x n street grid of (2n) straight roads in UTM metres, minus those in ``skip``."""
    lines = []
    for i in range(n):
        lines.append(LineString([(0, i * step), ((n - 1) * step, i * step)]))
        lines.append(LineString([(i * step, 0), (i * step, (n - 1) * step)]))
    # split the roads at every crossing so that they join there
    segs = []
    for k, ln in enumerate(lines):
        if skip and k in skip:
            continue
        (x0, y0), (x1, y1) = ln.coords
        for j in range(n - 1):
            a = (x0 + (x1 - x0) * j / (n - 1), y0 + (y1 - y0) * j / (n - 1))
            b = (x0 + (x1 - x0) * (j + 1) / (n - 1), y0 + (y1 - y0) * (j + 1) / (n - 1))
            segs.append(LineString([a, b]))
    return segs


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> list[dict]:
    rows = list(csv.DictReader((shared_data / "apls" / "reference_scores.csv").open()))
    out = []
    for row in rows:
        truth = read_line_network(shared_data / "apls" / "truth" / f"{row['image']}.geojson")
        prop = read_line_network(shared_data / "apls" / "proposal" / f"{row['image']}.geojson")
        res = apls(truth, prop, AplsParams.preset(row["param_set"]))
        out.append({"row": row, "res": res})
    return out


def test_reference_scores(reference: list[dict]) -> None:
    diffs = []
    for item in reference:
        row, res = item["row"], item["res"]
        for col, got in (
            ("apls_gt_onto_prop", res.gt_onto_prop),
            ("apls_prop_onto_gt", res.prop_onto_gt),
            ("apls", res.apls),
        ):
            diffs.append((abs(got - float(row[col])), row["image"], row["param_set"], col))
    assert len(diffs) == 42
    worst = max(diffs)
    print(f"max |APLS - reference| = {worst[0]:.4f} ({worst[1:]})")
    assert worst[0] <= TOL, sorted(diffs)[-6:]
    assert worst[0] <= CLOSE, sorted(diffs)[-6:]


def test_identical_networks_score_one() -> None:
    g = network_from_lines(_grid(), UTM)
    for name in ("spacenet3", "apls_head"):
        res = apls(g, g, AplsParams.preset(name))
        assert res.apls == pytest.approx(1.0, abs=1e-9)
        assert res.n_truth_control == res.n_truth_snapped > g.number_of_nodes() - 1


def test_cut_and_removed_road_lower_the_score() -> None:
    truth = network_from_lines(_grid(), UTM)
    params = AplsParams.preset("apls_head")
    segs = _grid()
    middle = LineString([(100, 100), (200, 100)])
    cut = [s for s in segs if not s.equals(middle)]
    removed = _grid(skip={2})  # the whole road at y = 100
    s_cut = apls(truth, network_from_lines(cut, UTM), params).apls
    s_removed = apls(truth, network_from_lines(removed, UTM), params).apls
    assert s_removed < s_cut < 0.99
    assert s_removed > 0.5  # most routes survive one lost road of eight


def test_empty_and_edge_cases() -> None:
    g = network_from_lines(_grid(), UTM)
    empty = nx.MultiGraph(crs=None)
    params = AplsParams.preset("spacenet3")
    assert apls(g, nx.MultiGraph(crs=g.graph["crs"]), params).apls == 0.0
    assert apls(empty, empty, params).apls == 1.0
    assert apls(empty, g, params).apls == 0.0
    res = apls(g, g, params)
    assert isinstance(res, AplsResult) and res.to_dict()["apls"] == pytest.approx(1.0)
    with pytest.raises(BasissError, match="unknown APLS preset"):
        AplsParams.preset("nope")
    pixel = network_from_lines(_grid(), None)
    with pytest.raises(BasissError, match="CRS"):
        apls(g, pixel, params)


def test_travel_time_weight_and_large_graph_sample() -> None:
    truth = network_from_lines(_grid(), UTM)
    prop = truth.copy()
    for _, _, d in truth.edges(data=True):
        d["speed_mps"] = 10.0
    with pytest.raises(BasissError, match="travel"):
        apls(truth, prop, AplsParams(weight=Weight.TRAVEL_TIME))
    for u, _v, d in prop.edges(data=True):
        d["speed_mps"] = 10.0 if u != 5 else 5.0  # slower roads around one node
    res = apls(truth, prop, AplsParams(weight=Weight.TRAVEL_TIME))
    assert res.weight == "travel_time" and 0.5 < res.apls < 1.0
    assert apls(truth, prop, AplsParams()).apls == pytest.approx(1.0)
    big = AplsParams(large_graph_nodes=10, max_nodes=8)
    a, b = apls(truth, prop, big, seed=1), apls(truth, prop, big, seed=1)
    assert a.sampled and a.n_truth_control == 8 and a == b
