"""The map server on loopback: page, library, config, vectors, tiles, point values."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import morecantile
import numpy as np
import pytest
from PIL import Image

from basiss.view import style
from basiss.view.server import ViewServer

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def server(view_page):
    with ViewServer(view_page) as s:
        yield s


def get(server: ViewServer, path: str) -> tuple[int, str, bytes]:
    """Status, content type and body of one GET (5 s timeout)."""
    try:
        with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_binds_loopback(server: ViewServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")


def test_page_library_and_config(server: ViewServer) -> None:
    status, kind, body = get(server, "/")
    assert status == 200 and kind == "text/html"
    assert b'src="leaflet/leaflet.js"' in body and b'src="config.js"' in body
    status, kind, body = get(server, "/leaflet/leaflet.js")
    assert status == 200 and kind == "text/javascript" and len(body) > 100_000
    assert get(server, "/leaflet/LICENSE")[0] == 200
    status, _, body = get(server, "/config.js")
    cfg = json.loads(body.decode().removeprefix("window.BASISS_VIEW = ").rstrip(";\n"))
    assert cfg["pointUrl"] == "point"
    assert [r["kind"] for r in cfg["rasters"]] == ["image", "prob", "mask"]
    assert sorted(cfg["vectors"]) == ["footprints", "network", "truth"]
    assert b"http://" not in body.replace(b"https://tile.openstreetmap.org", b"")


def test_vectors(server: ViewServer, view_scene) -> None:
    status, kind, body = get(server, "/vectors/network.geojson")
    assert status == 200 and kind == "application/geo+json"
    fc = json.loads(body)
    kinds = sorted(f["properties"]["feature"] for f in fc["features"])
    assert kinds == ["edge"] * 4 + ["node"]
    fp = json.loads(get(server, "/vectors/footprints.geojson")[2])
    ring = fp["features"][0]["geometry"]["coordinates"][0]
    for corner in [(-0.5, -0.5), (-0.5, 511.5), (511.5, 511.5), (511.5, -0.5)]:
        lonlat = view_scene.lonlat(*corner)
        assert min(abs(lon - lonlat[0]) + abs(lat - lonlat[1]) for lon, lat in ring) < 5e-7
    assert get(server, "/vectors/nothing.geojson")[0] == 404


def test_tile(server: ViewServer, view_scene) -> None:
    lon, lat = view_scene.lonlat(256, 300)
    t = TMS.tile(lon, lat, 18)
    status, kind, body = get(server, f"/tiles/mask-0/18/{t.x}/{t.y}.png")
    assert status == 200 and kind == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    assert rgba.shape == (256, 256, 4)
    road = np.all(rgba[..., :3] == style.MASK_RGB, axis=-1) & (rgba[..., 3] == 255)
    assert 0.05 < road.mean() < 0.6  # a road crosses the tile, not all of it
    empty = get(server, "/tiles/mask-0/18/0/0.png")
    assert empty[0] == 200
    assert np.asarray(Image.open(io.BytesIO(empty[2])).convert("RGBA"))[..., 3].max() == 0
    assert get(server, "/tiles/nope-0/18/0/0.png")[0] == 404
    assert get(server, "/tiles/mask-0/2/9/0.png")[0] == 404


def test_point(server: ViewServer, view_scene) -> None:
    lon, lat = view_scene.lonlat(250, 300)
    status, _, body = get(server, f"/point?lon={lon}&lat={lat}")
    assert status == 200
    assert json.loads(body) == [{"scene": "scene", "probability": 0.902, "road": True}]
    assert get(server, "/point?lon=abc")[0] == 400
    assert get(server, "/point?lon=200&lat=0")[0] == 400


def test_unknown_paths(server: ViewServer) -> None:
    assert get(server, "/nothing.html")[0] == 404
    assert get(server, "/../pyproject.toml")[0] == 404


def test_stop_frees_the_port(view_page) -> None:
    s = ViewServer(view_page).start()
    port = int(s.url.rsplit(":", 1)[1].strip("/"))
    s.stop()
    again = ViewServer(view_page, port=port)  # binds again: the socket was closed
    again.stop()
