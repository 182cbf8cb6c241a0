"""The static export: a folder that opens from disk with relative paths only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from basiss.errors import BasissError
from basiss.view.export import MARKER, export_view, tile_jobs, zoom_range


def test_export_writes_an_openable_folder(view_page, tmp_path: Path) -> None:
    index = export_view(view_page, tmp_path / "view", min_zoom=16, max_zoom=18)
    out = index.parent
    assert index.is_file() and (out / MARKER).is_file()
    html = index.read_text()
    for ref in ("leaflet/leaflet.js", "leaflet/leaflet.css", "config.js", "view.js", "view.css"):
        assert f'"{ref}"' in html and (out / ref).is_file()
    assert (out / "leaflet" / "LICENSE").is_file()
    cfg_text = (out / "config.js").read_text()
    cfg = json.loads(cfg_text.removeprefix("window.BASISS_VIEW = ").rstrip(";\n"))
    assert cfg["pointUrl"] is None and cfg["tileUrl"] == "tiles/{layer}/{z}/{x}/{y}.png"
    assert {r["maxNativeZoom"] for r in cfg["rasters"]} == {18}
    jobs = tile_jobs(view_page, (16, 18))
    written = sorted(out.glob("tiles/*/*/*/*.png"))
    assert len(written) == len(jobs) and len(jobs) > 3 * 3
    for layer, z, x, y in jobs:
        assert (out / "tiles" / layer / str(z) / str(x) / f"{y}.png").is_file()
    assert (out / "vectors" / "network.geojson").is_file()
    assert not list(tmp_path.glob(".view.part-*"))


def test_export_replaces_an_export_but_nothing_else(view_page, tmp_path: Path) -> None:
    out = tmp_path / "v"
    export_view(view_page, out, min_zoom=17, max_zoom=17)
    export_view(view_page, out, min_zoom=18, max_zoom=18)
    assert sorted(p.name for p in (out / "tiles" / "prob-0").iterdir()) == ["18"]
    other = tmp_path / "mine"
    other.mkdir()
    with pytest.raises(BasissError, match="mine: exists and is not a basiss view export"):
        export_view(view_page, other)


def test_export_limits(view_page, tmp_path: Path) -> None:
    assert zoom_range(view_page) == (14, 18)
    with pytest.raises(BasissError, match="need 0 <= min <= max"):
        zoom_range(view_page, 18, 16)
    with pytest.raises(BasissError, match="tiles at zooms 10..20"):
        export_view(view_page, tmp_path / "big", min_zoom=10, max_zoom=20, max_tiles=100)
    assert not (tmp_path / "big").exists()
