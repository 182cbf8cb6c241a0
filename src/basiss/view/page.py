"""The page's data: raster layers and vectors of a :class:`ViewInputs`, and its ``config.js``.

The page (``static/index.html`` + ``view.js``) is the same whether a server answers it or
it is opened from disk: what differs is in ``config.js``, which sets
``window.BASISS_VIEW`` (a script, not a fetched JSON, so ``file://`` pages read it too):
where tiles come from, whether point queries exist, the zooms tiles were cut at.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from basiss.view import style, vectors
from basiss.view.scenes import ViewInputs
from basiss.view.tiles import RASTER_KINDS, RasterLayer, open_layer

#: The optional online basemap (off unless the user picks it in the layer list).
BASEMAP = {
    "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    "attribution": "&copy; OpenStreetMap contributors",
}
#: The page's static files (index.html, view.js, view.css, leaflet/...).
STATIC = resources.files("basiss.view") / "static"
#: Zooms the map may go past the finest layer's native zoom (tiles are then enlarged).
OVERZOOM = 2


@dataclass(frozen=True)
class PageData:
    """Everything the page draws: raster layers and vector FeatureCollections."""

    rasters: tuple[RasterLayer, ...]
    vectors: dict[str, dict[str, Any]]

    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of all raster layers, degrees."""
        b = [r.bounds for r in self.rasters]
        return (
            min(x[0] for x in b),
            min(x[1] for x in b),
            max(x[2] for x in b),
            max(x[3] for x in b),
        )

    def max_zoom(self) -> int:
        """The finest native zoom of the rasters."""
        return max(r.maxzoom for r in self.rasters)


def load(inputs: ViewInputs) -> PageData:
    """Open every raster and read every vector of ``inputs`` once.

    Raises:
        BasissError: a file that cannot be read (named in the message).
    """
    rasters = []
    for i, scene in enumerate(inputs.scenes):
        for kind, path in scene.rasters().items():
            rasters.append(open_layer(f"{kind}-{i}", kind, path, scene.name))
    rasters.sort(key=lambda r: RASTER_KINDS.index(r.kind))
    first = {s.name: next(iter(s.rasters().values())) for s in inputs.scenes}
    found: dict[str, dict[str, Any]] = {"footprints": vectors.footprints(first)}
    graphs = [vectors.network(s.graph) for s in inputs.scenes if s.graph is not None]
    if graphs:
        found["network"] = vectors.feature_collection([f for g in graphs for f in g["features"]])
    if inputs.truth:
        found["truth"] = vectors.truth(list(inputs.truth))
    return PageData(tuple(rasters), found)


def _raster_entry(r: RasterLayer, zooms: tuple[int, int] | None) -> dict[str, Any]:
    """One raster layer as the page's script reads it."""
    lo, hi = zooms if zooms is not None else (r.minzoom, r.maxzoom)
    return {
        "id": r.id,
        "kind": r.kind,
        "scene": r.scene,
        "bounds": list(r.bounds),
        "minZoom": max(0, lo - OVERZOOM) if zooms is not None else lo,
        "minNativeZoom": lo,
        "maxNativeZoom": min(hi, r.maxzoom) if zooms is None else hi,
    }


def config(
    page: PageData, point_url: str | None, zooms: tuple[int, int] | None = None
) -> dict[str, Any]:
    """The page's configuration.

    Args:
        page: the loaded layers.
        point_url: the point-query endpoint (relative), or None when there is no server.
        zooms: ``(min, max)`` zooms tiles were cut at (a static export), else None.

    Returns:
        A JSON-able dict: raster layers, vectors, bounds, styles, basemap.
    """
    return {
        "tileUrl": "tiles/{layer}/{z}/{x}/{y}.png",
        "pointUrl": point_url,
        "bounds": list(page.bounds()),
        "maxZoom": (zooms[1] if zooms else page.max_zoom()) + OVERZOOM,
        "rasters": [_raster_entry(r, zooms) for r in page.rasters],
        "vectors": page.vectors,
        "style": {
            "mask": "rgb({}, {}, {})".format(*style.MASK_RGB),
            "network": style.NETWORK_COLOR,
            "truth": style.TRUTH_COLOR,
            "footprint": style.FOOTPRINT_COLOR,
            "ramp": style.ramp_css(),
        },
        "basemap": BASEMAP,
    }


def config_js(cfg: dict[str, Any]) -> str:
    """``config.js``: the script that hands ``cfg`` to the page."""
    return f"window.BASISS_VIEW = {vectors.dumps(cfg)};\n"


def static_files() -> dict[str, bytes]:
    """Every static file of the page by its relative URL path (``leaflet/leaflet.js``...)."""
    out: dict[str, bytes] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif not child.name.startswith("."):
                out[rel] = child.read_bytes()

    walk(STATIC, "")
    return out


def static_path(rel: str) -> Path | None:
    """The static file at URL path ``rel``, None when there is none (no ``..`` escapes)."""
    if ".." in Path(rel).parts:
        return None
    p = Path(str(STATIC)) / rel
    return p if p.is_file() else None
