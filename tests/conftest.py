"""Shared fixtures: tiny georeferenced rasters and GeoJSON built in tmp dirs,
and the real data in ../shared/data (skipped when absent)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

from helpers import SPACENET_DEG  # noqa: E402  (tests/ is on sys.path: pythonpath)


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The ONNX exports of every test (``--engine auto`` is onnx on CPU) go to one session
    folder, never to the user's ~/.cache (Dask workers inherit the variable)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("BASISS_CACHE_DIR", str(tmp_path_factory.mktemp("basiss-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it are skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture
def make_raster(tmp_path: Path) -> Callable[..., Path]:
    """Write a small GeoTIFF; returns its path.

    Keyword args: ``array`` (bands, rows, cols), ``crs`` (EPSG code or None),
    ``transform``, ``nodata``, ``name``.
    """

    def _make(
        array: np.ndarray,
        crs: int | None = 32611,
        transform: rasterio.Affine | None = None,
        nodata: float | None = None,
        name: str = "image.tif",
    ) -> Path:
        arr = array[np.newaxis] if array.ndim == 2 else array
        if transform is None:
            transform = (
                from_origin(500000.0, 4000000.0, 0.3, 0.3)
                if crs != 4326
                else from_origin(-115.3, 36.2, SPACENET_DEG, SPACENET_DEG)
            )
        path = tmp_path / name
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=arr.shape[2],
            height=arr.shape[1],
            count=arr.shape[0],
            dtype=arr.dtype,
            crs=CRS.from_epsg(crs) if crs else None,
            transform=transform,
            nodata=nodata,
        ) as dst:
            dst.write(arr)
        return path

    return _make


@pytest.fixture
def make_geojson(tmp_path: Path) -> Callable[..., Path]:
    """Write a GeoJSON FeatureCollection of (geometry, properties) pairs."""

    def _make(
        features: list[tuple[dict, dict]], name: str = "labels.geojson", crs: int | None = None
    ) -> Path:
        fc: dict = {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
        }
        if crs is not None:
            fc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs}"}}
        path = tmp_path / name
        path.write_text(json.dumps(fc))
        return path

    return _make
