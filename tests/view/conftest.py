"""A small predicted scene for the viewer's tests: imagery, probability, mask, network, truth.

A 512 x 512 scene in UTM 11N at 0.5 m with one east-west road (rows 240..271) and one
north-south road (columns 100..131); the probability is 230 on the roads and 10 elsewhere,
with an invalid (nodata) top-right corner through the internal mask band.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

SIZE = 512
RES = 0.5
ORIGIN = (500000.0, 4000000.0)
ROAD_ROWS = (240, 272)
ROAD_COLS = (100, 132)


@dataclass(frozen=True)
class ViewScene:
    """Paths of the test scene and a helper to place pixels on the map."""

    folder: Path
    image: Path
    prob: Path
    mask: Path
    graph: Path
    truth: Path

    @staticmethod
    def lonlat(row: float, col: float) -> tuple[float, float]:
        """The lon/lat of a pixel centre of the scene."""
        x = ORIGIN[0] + (col + 0.5) * RES
        y = ORIGIN[1] - (row + 0.5) * RES
        lon, lat = Transformer.from_crs(32611, 4326, always_xy=True).transform(x, y)
        return float(lon), float(lat)


def road_array() -> np.ndarray:
    """The 0/1 road layout of the scene, (rows, cols)."""
    roads = np.zeros((SIZE, SIZE), np.uint8)
    roads[ROAD_ROWS[0] : ROAD_ROWS[1], :] = 1
    roads[:, ROAD_COLS[0] : ROAD_COLS[1]] = 1
    return roads


def _write(path: Path, arr: np.ndarray, valid: np.ndarray | None = None) -> Path:
    profile = dict(
        driver="GTiff", width=SIZE, height=SIZE, count=arr.shape[0], dtype="uint8",
        crs="EPSG:32611", transform=from_origin(*ORIGIN, RES, RES), tiled=True,
        blockxsize=256, blockysize=256,
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(arr)
        if valid is not None:
            ds.write_mask(valid.astype(np.uint8) * 255)
    return path


def _line(rows_cols: list[tuple[float, float]]) -> dict:
    coords = [list(ViewScene.lonlat(r, c)) for r, c in rows_cols]
    return {"type": "LineString", "coordinates": coords}


def _write_vectors(folder: Path) -> tuple[Path, Path]:
    mid_r = (ROAD_ROWS[0] + ROAD_ROWS[1]) / 2 - 0.5
    mid_c = (ROAD_COLS[0] + ROAD_COLS[1]) / 2 - 0.5
    edges = [_line([(mid_r, 0), (mid_r, mid_c)]), _line([(mid_r, mid_c), (mid_r, SIZE - 1)])]
    edges.append(_line([(0, mid_c), (mid_r, mid_c)]))
    edges.append(_line([(mid_r, mid_c), (SIZE - 1, mid_c)]))
    feats = [
        {"type": "Feature", "properties": {"feature": "edge", "id": i}, "geometry": g}
        for i, g in enumerate(edges)
    ]
    node = {"type": "Point", "coordinates": list(ViewScene.lonlat(mid_r, mid_c))}
    feats.append({"type": "Feature", "properties": {"feature": "node", "id": 99}, "geometry": node})
    graph = folder / "scene_graph.geojson"
    graph.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    truth = folder / "truth.geojson"
    lines = [{"type": "Feature", "properties": {}, "geometry": g} for g in edges]
    truth.write_text(json.dumps({"type": "FeatureCollection", "features": lines}))
    return graph, truth


def make_scene(folder: Path) -> ViewScene:
    """Write the test scene into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    roads = road_array()
    image = np.where(roads, 200, 60).astype(np.uint8)
    image = np.stack([image, image, (image * 0.8).astype(np.uint8)])
    valid = np.ones((SIZE, SIZE), bool)
    valid[:64, -64:] = False
    prob = np.where(roads, 230, 10).astype(np.uint8)[np.newaxis]
    paths = {
        "image": _write(folder / "scene.tif", image),
        "prob": _write(folder / "scene_prob.tif", prob, valid),
        "mask": _write(folder / "scene_mask.tif", roads[np.newaxis], valid),
    }
    graph, truth = _write_vectors(folder)
    return ViewScene(folder, graph=graph, truth=truth, **paths)


@pytest.fixture(scope="session")
def view_scene(tmp_path_factory: pytest.TempPathFactory) -> ViewScene:
    """The test scene, written once per session (treat as read-only)."""
    return make_scene(tmp_path_factory.mktemp("view") / "pred")


@pytest.fixture(scope="session")
def view_page(view_scene: ViewScene):
    """The scene loaded as the page sees it (with truth)."""
    from basiss.view.page import load
    from basiss.view.scenes import find_scenes

    return load(find_scenes([view_scene.folder], truth=[view_scene.truth]))
