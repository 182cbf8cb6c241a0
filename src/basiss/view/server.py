"""The local map server: page, vendored map library, vectors, tiles and point values.

Standard library only (:mod:`http.server`, one thread per request) bound to loopback: it
serves one person's browser, and every route is a plain GET:

* ``/`` (``index.html``), ``view.js``, ``view.css``, ``leaflet/...``: the static page;
* ``/config.js``: the page's configuration (:func:`basiss.view.page.config_js`);
* ``/vectors/{network,truth,footprints}.geojson``: the vector layers;
* ``/tiles/{layer}/{z}/{x}/{y}.png``: a tile cut on demand (transparent outside a layer);
* ``/point?lon=..&lat=..``: probability and mask at a point, JSON.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from basiss.errors import BasissError
from basiss.view import page as pagemod
from basiss.view.page import PageData
from basiss.view.tiles import TileSource

_TILE = re.compile(r"^/tiles/([A-Za-z0-9_-]+)/(\d+)/(\d+)/(\d+)\.png$")
_VECTOR = re.compile(r"^/vectors/([a-z]+)\.geojson$")
#: Content types the page's files need (mimetypes may not know .js on a bare system).
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".png": "image/png"}


def _content_type(name: str) -> str:
    for ext, kind in _TYPES.items():
        if name.endswith(ext):
            return kind
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    """Answers the routes of the module docstring from the server's page and tiles."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        """Quiet: a map page asks for hundreds of tiles."""

    def _send(self, status: int, body: bytes, kind: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """Route one GET request."""
        url = urlsplit(self.path)
        path = url.path
        try:
            if (m := _TILE.match(path)) is not None:
                return self._tile(m.group(1), *(int(g) for g in m.groups()[1:]))
            if path == "/point":
                return self._point(parse_qs(url.query))
            if path == "/config.js":
                return self._send(HTTPStatus.OK, self.server.config_js, "text/javascript")
            if (m := _VECTOR.match(path)) is not None:
                return self._vector(m.group(1))
            return self._static("index.html" if path in ("/", "") else path.lstrip("/"))
        except (BrokenPipeError, ConnectionResetError):
            return None

    def _tile(self, layer: str, z: int, x: int, y: int) -> None:
        if layer not in self.server.tiles.layers or not (0 <= x < 2**z and 0 <= y < 2**z):
            return self._json({"error": "no such tile"}, HTTPStatus.NOT_FOUND)
        try:
            body = self.server.tiles.tile_png(layer, z, x, y)
        except Exception as exc:  # a read failure answers this tile, not the server
            return self._json({"error": str(exc).splitlines()[0]}, HTTPStatus.INTERNAL_SERVER_ERROR)
        return self._send(HTTPStatus.OK, body, "image/png", cache=True)

    def _point(self, query: dict[str, list[str]]) -> None:
        try:
            lon, lat = float(query["lon"][0]), float(query["lat"][0])
        except (KeyError, ValueError, IndexError):
            return self._json({"error": "need lon= and lat= in degrees"}, HTTPStatus.BAD_REQUEST)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return self._json({"error": "lon/lat out of range"}, HTTPStatus.BAD_REQUEST)
        return self._json(self.server.tiles.point(lon, lat))

    def _vector(self, name: str) -> None:
        fc = self.server.page.vectors.get(name)
        if fc is None:
            return self._json({"error": f"no {name} layer"}, HTTPStatus.NOT_FOUND)
        return self._send(HTTPStatus.OK, json.dumps(fc).encode(), "application/geo+json")

    def _static(self, rel: str) -> None:
        found = pagemod.static_path(rel)
        if found is None:
            return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
        return self._send(HTTPStatus.OK, found.read_bytes(), _content_type(found.name), cache=True)


class _Server(ThreadingHTTPServer):
    """An HTTP server holding the page and its tile source."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], page: PageData) -> None:
        super().__init__(address, _Handler)
        self.page = page
        self.tiles = TileSource(list(page.rasters))
        self.config_js = pagemod.config_js(pagemod.config(page, point_url="point")).encode()


class ViewServer:
    """The map server of one :class:`~basiss.view.page.PageData`, run in a thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with ViewServer(page) as server:
            print(server.url)
    """

    def __init__(self, page: PageData, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind the server (``port=0``: any free port).

        Raises:
            BasissError: the port cannot be bound (in use, or not allowed).
        """
        try:
            self._server = _Server((host, port), page)
        except OSError as exc:
            raise BasissError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8765/``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> ViewServer:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and every open raster."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()
        self._server.tiles.close()

    def __enter__(self) -> ViewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
