"""STAC beside predictions: an item per scene (schema-valid, footprint around the scene,
model facts, the network asset with --graph), a collection over several scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import shapely
from pyproj import Transformer
from pystac.validation import JsonSchemaSTACValidator, RegisteredValidator
from test_predict import _checkpoint
from test_predict_graph import _roads

from basiss.graph.options import GraphOptions
from basiss.inference.catalog import network_file
from basiss.inference.predict import PredictOptions, predict_image, predict_many
from basiss.inference.predictor import checkpoint_digest

SCHEMAS = Path(__file__).parents[1] / "io" / "schemas"
PROJECTION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
OPTS = PredictOptions(threads=1, show_progress=False)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ck") / "rgb.pt", 3)


@pytest.fixture
def offline_validator():
    """pystac's validator with the vendored projection schema (no network)."""
    validator = JsonSchemaSTACValidator()
    validator.schema_cache[PROJECTION] = json.loads(
        (SCHEMAS / "projection-v2.0.0.json").read_text()
    )
    before = RegisteredValidator._validator
    pystac.validation.set_validator(validator)
    yield validator
    RegisteredValidator._validator = before


def _edge_lonlat(path: Path) -> list[shapely.Point]:
    """Points along the raster's outline, in lon/lat."""
    with rasterio.open(path) as ds:
        to_ll = Transformer.from_crs(ds.crs, 4326, always_xy=True)
        h, w, t = ds.height, ds.width, ds.transform
    pts = []
    for f in np.linspace(0, 1, 41):
        for col, row in ((f * w, 0), (f * w, h), (0, f * h), (w, f * h)):
            pts.append(shapely.Point(to_ll.transform(*(t @ (col, row)))))
    return pts


def test_predict_writes_a_valid_item(ckpt, make_raster, tmp_path, offline_validator) -> None:
    img = make_raster(_roads(150, 170), name="scene.tif")
    graph = GraphOptions(threshold=0.5, min_component_m=0.0, spur_m=0.0)
    out = predict_image(img, ckpt, tmp_path / "o", OPTS, graph=graph)
    assert out.item_path == tmp_path / "o" / "scene_item.json"
    item = pystac.Item.from_file(str(out.item_path))
    assert item.validate()
    footprint = shapely.geometry.shape(item.geometry)
    assert all(footprint.contains(p) for p in _edge_lonlat(out.prob_path))
    p = item.properties
    assert p["basiss:architecture"] == "unet-small" and p["basiss:bands"] == [1, 2, 3]
    assert p["basiss:checkpoint_sha256"] == checkpoint_digest(ckpt)
    assert p["basiss:classes"] == 1 and p["basiss:chip_size"] == [128, 128]
    assert p["basiss:normalisation"]["kind"]
    assert p["proj:code"] == "EPSG:32611" and p["proj:shape"] == [150, 170]
    assert sorted(item.assets) == ["image", "mask", "network", "probability"]
    assert item.assets["probability"].media_type == pystac.MediaType.COG
    assert Path(item.assets["network"].get_absolute_href()) == out.graph_paths["gpkg"]
    assert Path(item.assets["image"].get_absolute_href()) == img.resolve()


def test_predict_many_links_items_in_a_collection(ckpt, make_raster, tmp_path, offline_validator):
    a = make_raster(_roads(100, 100), name="a.tif")
    b = make_raster(_roads(100, 100), name="b.tif")
    outs = predict_many([a, b], ckpt, tmp_path / "o", OPTS)
    assert [o.item_path.name for o in outs] == ["a_item.json", "b_item.json"]
    col = pystac.Collection.from_file(str(tmp_path / "o" / "collection.json"))
    assert col.validate()
    links = [ln.href for ln in col.links if ln.rel == "item"]
    assert [Path(h).name for h in links] == ["a_item.json", "b_item.json"]
    assert "network" not in pystac.Item.from_file(str(outs[0].item_path)).assets
    one = predict_many([a], ckpt, tmp_path / "single", OPTS)
    assert one[0].item_path.exists() and not (tmp_path / "single" / "collection.json").exists()


def test_image_without_crs_gets_no_item(ckpt, make_raster, tmp_path) -> None:
    img = make_raster(_roads(100, 100), crs=None, name="nocrs.tif")
    with pytest.warns(UserWarning, match="no CRS"):
        out = predict_image(img, ckpt, tmp_path / "o", OPTS)
    assert out.item_path is None and out.prob_path.exists()
    assert not list((tmp_path / "o").glob("*.json"))


def test_network_file_prefers_geopackage() -> None:
    paths = {"geojson": Path("x.geojson"), "gpkg": Path("x.gpkg"), "csv": Path("x.csv")}
    assert network_file(paths) == Path("x.gpkg")
    assert network_file({"geojson": Path("x.geojson")}) == Path("x.geojson")
    assert network_file({"csv": Path("x.csv")}) is None
