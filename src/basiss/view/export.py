"""A static copy of the map page: pre-cut tiles, the page and its vectors, openable from disk.

``DIR/index.html`` opens in a browser with no server (``file://``): the configuration is a
script (``config.js``), tiles and the map library are relative paths, so nothing is
fetched. Point values need the server; the exported page says so on click. The folder is
written beside its final name and renamed into place, so a failed export leaves no half
folder; an existing export (marked by :data:`MARKER`) is replaced, anything else refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from basiss.errors import BasissError, file_error
from basiss.progress import progress
from basiss.view import page as pagemod
from basiss.view import vectors
from basiss.view.page import PageData
from basiss.view.tiles import TileSource, tiles_covering

#: The file that marks a folder as a `basiss view --export` output (safe to replace).
MARKER = ".basiss-view"
#: Zoom levels exported below the finest one, by default.
DEFAULT_LEVELS = 4
#: Refuse exports of more tiles than this unless the caller raises it.
MAX_TILES = 20_000


def zoom_range(
    page: PageData, min_zoom: int | None = None, max_zoom: int | None = None
) -> tuple[int, int]:
    """The zooms to cut: default the finest native zoom and the :data:`DEFAULT_LEVELS`
    above it.

    Raises:
        BasissError: ``min_zoom`` above ``max_zoom``, or outside 0..24.
    """
    hi = page.max_zoom() if max_zoom is None else max_zoom
    lo = max(0, hi - DEFAULT_LEVELS) if min_zoom is None else min_zoom
    if not (0 <= lo <= hi <= 24):
        raise BasissError(f"export zooms {lo}..{hi}: need 0 <= min <= max <= 24")
    return lo, hi


def tile_jobs(page: PageData, zooms: tuple[int, int]) -> list[tuple[str, int, int, int]]:
    """Every ``(layer, z, x, y)`` to cut: the tiles meeting each layer, zoom by zoom."""
    return [
        (r.id, z, x, y)
        for r in page.rasters
        for z in range(zooms[0], zooms[1] + 1)
        for x, y in tiles_covering(r.bounds, z)
    ]


def _prepare(out: Path) -> Path:
    """A fresh temporary folder beside ``out``; refuses an ``out`` that is not an export."""
    if out.exists() and not (out / MARKER).is_file():
        raise file_error(out, "exists and is not a basiss view export: choose another --export")
    if not out.parent.is_dir():
        raise file_error(out.parent, "folder not found")
    tmp = out.parent / f".{out.name}.part-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _swap(tmp: Path, out: Path) -> None:
    """Put ``tmp`` in place of ``out`` (an older export is removed first)."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def _write_tiles(page: PageData, tmp: Path, jobs: list[tuple[str, int, int, int]]) -> None:
    source = TileSource(list(page.rasters))
    try:
        for layer, z, x, y in progress(jobs, desc="tiles", unit="tile"):
            folder = tmp / "tiles" / layer / str(z) / str(x)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{y}.png").write_bytes(source.tile_png(layer, z, x, y))
    finally:
        source.close()


def export_view(
    page: PageData,
    out_dir: str | os.PathLike[str],
    min_zoom: int | None = None,
    max_zoom: int | None = None,
    max_tiles: int = MAX_TILES,
) -> Path:
    """Write the static map folder ``out_dir`` and return its ``index.html``.

    Args:
        page: the loaded layers (:func:`basiss.view.page.load`).
        out_dir: the folder to write (replaced when it is an earlier export).
        min_zoom, max_zoom: zooms to cut tiles at (default: the finest native zoom and
            the 4 above it); the page enlarges or shrinks them beyond.
        max_tiles: refuse an export of more tiles than this.

    Raises:
        BasissError: too many tiles, bad zooms, or ``out_dir`` not an export folder.
    """
    out = Path(out_dir).resolve()
    zooms = zoom_range(page, min_zoom, max_zoom)
    jobs = tile_jobs(page, zooms)
    if len(jobs) > max_tiles:
        raise file_error(
            out, f"{len(jobs)} tiles at zooms {zooms[0]}..{zooms[1]} (limit {max_tiles}): "
            "raise --min-zoom or lower --max-zoom",
        )  # fmt: skip
    tmp = _prepare(out)
    try:
        for rel, body in pagemod.static_files().items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(body)
        cfg = pagemod.config(page, point_url=None, zooms=zooms)
        (tmp / "config.js").write_text(pagemod.config_js(cfg), encoding="utf-8")
        (tmp / "vectors").mkdir()
        for name, fc in page.vectors.items():
            (tmp / "vectors" / f"{name}.geojson").write_text(vectors.dumps(fc))
        _write_tiles(page, tmp, jobs)
        (tmp / MARKER).write_text(f"zooms {zooms[0]} {zooms[1]}\n")
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"
