"""`predict --graph`: the network comes out with the rasters, equal to `basiss graph` on them."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from basiss.cli import main
from basiss.graph.options import GraphOptions
from basiss.graph.read import read_network
from basiss.graph.run import graph_image
from basiss.inference.predict import PredictOptions, predict_image
from basiss.training.checkpoint import ModelSpec, save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(3)
    spec = ModelSpec(
        arch="unet-small", in_channels=3, n_classes=1, bands=[1, 2, 3],
        arch_kwargs={"base": 4}, slice=(64, 64), stride=(48, 48),
    )  # fmt: skip
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", spec.build().eval(), spec)


def _roads(h: int, w: int) -> np.ndarray:
    """A bright cross of roads on a dark ground: the untrained net still answers in kind."""
    img = np.full((3, h, w), 40, np.uint8)
    img[:, h // 2 - 6 : h // 2 + 6, :] = 220
    img[:, :, w // 3 - 6 : w // 3 + 6] = 220
    return img


def same_network(a: nx.MultiGraph, b: nx.MultiGraph) -> bool:
    """Equal node positions and edge geometries (ids included)."""
    na = {n: (d["x"], d["y"]) for n, d in a.nodes(data=True)}
    nb = {n: (d["x"], d["y"]) for n, d in b.nodes(data=True)}
    ea = sorted((u, v, d["geometry"].wkt) for u, v, d in a.edges(data=True))
    eb = sorted((u, v, d["geometry"].wkt) for u, v, d in b.edges(data=True))
    return na == nb and ea == eb


def test_predict_graph_equals_graph_of_the_written_probability(ckpt, make_raster, tmp_path):
    img = make_raster(_roads(200, 180), name="AOI_2_Vegas_img7.tif")
    opts = PredictOptions(threads=1, show_progress=False)
    graph = GraphOptions(threshold=0.5, min_component_m=0.0, spur_m=0.0)
    out = predict_image(img, ckpt, tmp_path / "p", opts, graph=graph)
    assert sorted(out.graph_paths) == ["csv", "geojson", "gpkg", "graphml"]
    assert out.graph_paths["gpkg"].name == "AOI_2_Vegas_img7_graph.gpkg"
    again = graph_image(out.prob_path, tmp_path / "g", graph)
    G = read_network(out.graph_paths["gpkg"])
    assert G.number_of_edges() > 0
    assert same_network(G, read_network(again.paths["gpkg"]))


def test_cli_graph_flag_writes_the_network_beside_the_rasters(ckpt, make_raster, tmp_path, capsys):
    img = make_raster(_roads(150, 150), name="scene.tif")
    out = tmp_path / "o"
    argv = ["predict", "--weights", str(ckpt), "--out", str(out), str(img), "--threads", "1"]
    assert main([*argv, "--graph", "--spur-m", "0"]) == 0
    assert "road network:" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["scene_prob.tif", "scene_mask.tif", "scene_item.json"]
        + [f"scene_graph.{e}" for e in ("csv", "geojson", "gpkg", "graphml")]
    )
