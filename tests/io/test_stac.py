"""STAC items and collections of predictions: schema-valid, footprint around the scene."""

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
from rasterio.transform import from_origin

from basiss.errors import BasissError
from basiss.io.stac import collection, prediction_item, write_collection, write_item

SCHEMAS = Path(__file__).parent / "schemas"
PROJECTION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
INFO = {
    "arch": "unet",
    "bands": [1, 2, 3],
    "norm": {"kind": "imagenet"},
    "sha256": "ab" * 32,
    "chip": 256,
}


@pytest.fixture
def offline_validator():
    """pystac's validator with the projection schema vendored here (no network)."""
    validator = JsonSchemaSTACValidator()
    validator.schema_cache[PROJECTION] = json.loads(
        (SCHEMAS / "projection-v2.0.0.json").read_text()
    )
    before = RegisteredValidator._validator
    pystac.validation.set_validator(validator)
    yield validator
    RegisteredValidator._validator = before


def _raster(path: Path, count: int, crs: str, transform, size=(300, 200)) -> Path:
    h, w = size
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=count, dtype="uint8",
        crs=crs, transform=transform, tiled=True, blockxsize=128, blockysize=128,
    ) as ds:  # fmt: skip
        ds.write(np.ones((count, h, w), np.uint8))
        if count == 3:
            ds.update_tags(TIFFTAG_DATETIME="2021:06:05 10:20:30")
    return path


def _scene(folder: Path, crs: str = "EPSG:32611", transform=None) -> dict[str, Path]:
    t = transform or from_origin(500000.0, 4000000.0, 0.5, 0.5)
    graph = folder / "img_graph.geojson"
    graph.write_text('{"type": "FeatureCollection", "features": []}')
    return {
        "image": _raster(folder / "img.tif", 3, crs, t),
        "prob": _raster(folder / "img_prob.tif", 1, crs, t),
        "mask": _raster(folder / "img_mask.tif", 1, crs, t),
        "graph": graph,
    }


def _corners_lonlat(crs: str, transform, h: int = 300, w: int = 200) -> list[tuple]:
    """Dense points along the scene's edge, in lon/lat."""
    to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
    pts = []
    for f in np.linspace(0, 1, 101):
        for col, row in ((f * w, 0), (f * w, h), (0, f * h), (w, f * h)):
            pts.append(to_ll.transform(*(transform * (col, row))))
    return pts


def test_item_validates_and_contains_the_scene(tmp_path: Path, offline_validator) -> None:
    s = _scene(tmp_path)
    item = prediction_item(s["image"], s["prob"], s["mask"], INFO, graph=s["graph"])
    assert item.id == "img"
    assert item.validate()  # core schema + projection v2.0.0, offline
    footprint = shapely.geometry.shape(item.geometry)
    t = from_origin(500000.0, 4000000.0, 0.5, 0.5)
    assert all(footprint.contains(shapely.Point(p)) for p in _corners_lonlat("EPSG:32611", t))
    scene = shapely.MultiPoint(_corners_lonlat("EPSG:32611", t)).convex_hull
    assert footprint.area < 1.01 * scene.area  # tight, not a world-wide box
    p = item.properties
    assert p["proj:code"] == "EPSG:32611"
    assert p["proj:shape"] == [300, 200]
    assert p["proj:transform"] == [0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0]
    assert p["basiss:architecture"] == "unet" and p["basiss:checkpoint_sha256"] == "ab" * 32
    assert p["basiss:bands"] == [1, 2, 3] and p["basiss:normalisation"] == {"kind": "imagenet"}
    assert p["basiss:chip"] == 256
    assert item.datetime.isoformat() == "2021-06-05T10:20:30+00:00"  # the image's tag
    assert sorted(item.assets) == ["image", "mask", "network", "probability"]
    assert item.assets["probability"].media_type == pystac.MediaType.COG  # tiled, small
    assert item.assets["network"].media_type == pystac.MediaType.GEOJSON


def test_write_item_relative_and_atomic(tmp_path: Path, offline_validator) -> None:
    s = _scene(tmp_path)
    item = prediction_item(None, s["prob"], s["mask"], INFO)
    out = write_item(item, tmp_path / "img_item.json")
    d = json.loads(out.read_text())
    assert d["assets"]["probability"]["href"] == "./img_prob.tif"
    assert d["assets"]["mask"]["href"] == "./img_mask.tif"
    assert not list(tmp_path.glob(".*part*"))
    again = pystac.Item.from_file(str(out))
    assert again.validate()
    assert Path(again.assets["probability"].get_absolute_href()) == s["prob"].resolve()


def test_collection_links_items(tmp_path: Path, offline_validator) -> None:
    items = []
    for name, x0 in (("a", 500000.0), ("b", 510000.0)):
        folder = tmp_path / name
        folder.mkdir()
        s = _scene(folder, transform=from_origin(x0, 4000000.0, 0.5, 0.5))
        item = prediction_item(s["image"], s["prob"], None, INFO)
        write_item(item, folder / "img_item.json")
        items.append(item)
    col = collection(items)
    assert col.validate()
    west, south, east, north = col.extent.spatial.bboxes[0]
    assert west == pytest.approx(items[0].bbox[0]) and east == pytest.approx(items[1].bbox[2])
    out = write_collection(col, tmp_path / "collection.json")
    links = [ln["href"] for ln in json.loads(out.read_text())["links"] if ln["rel"] == "item"]
    assert links == ["a/img_item.json", "b/img_item.json"]


def test_geographic_raster_and_bad_input(tmp_path: Path) -> None:
    t = from_origin(-115.3, 36.2, 2.7e-6, 2.7e-6)
    s = _scene(tmp_path, crs="EPSG:4326", transform=t)
    item = prediction_item(None, s["prob"], None, INFO)
    footprint = shapely.geometry.shape(item.geometry)
    assert all(footprint.contains(shapely.Point(p)) for p in _corners_lonlat("EPSG:4326", t))
    with pytest.raises(BasissError, match="lacks checkpoint_sha256"):
        prediction_item(None, s["prob"], None, {"arch": "unet"})
    bad = tmp_path / "x_prob.tif"
    bad.write_text("no")
    with pytest.raises(BasissError, match="x_prob.tif: cannot read raster"):
        prediction_item(None, bad, None, INFO)
    with pytest.raises(BasissError, match="at least one item"):
        collection([])


def test_validation_catches_a_bad_projection(tmp_path: Path, offline_validator) -> None:
    """The vendored schema is really applied: a malformed proj:shape fails."""
    s = _scene(tmp_path)
    item = prediction_item(None, s["prob"], None, INFO)
    item.properties["proj:shape"] = ["300", 200]
    with pytest.raises(pystac.errors.STACValidationError):
        item.validate()
