"""`basiss view` tiles: time to first tile of a large prediction, and tiles per second.

Writes a synthetic uint8 probability GeoTIFF (UTM 11N, 0.3 m, a street grid with soft
edges and noise), tiled 512 x 512, deflate, with average overviews down to <= 512 px,
row band by row band (memory flat). Then, in this process:

- ``open``: find the scene and load the page's layers (what `basiss view` does first);
- ``first tile (whole scene)``: the first tile at the zoom that shows the whole scene;
- ``first tile (native)``: the first tile at the native zoom, at the scene's centre;
- ``tiles/s``: PNG tiles rendered per second, one thread, at the native zoom and at
  the zoom two levels up, over random tiles inside the scene;
- ``tiles/s (HTTP)``: the same through the loopback server, 2 client threads.

Full run (20,000 x 20,000; writing the raster takes a few minutes):
    .venv/bin/python benchmarks/view_tiles.py
Smoke run (2,000 x 2,000):
    .venv/bin/python benchmarks/view_tiles.py --quick --no-record
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, print_table, record  # noqa: E402

BAND = 1024  # rows written at a time


def prob_rows(r0: int, h: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Rows ``r0 .. r0 + h`` of the synthetic probability (uint8 0..255)."""
    y, x = np.mgrid[r0 : r0 + h, 0:width].astype(np.float32)
    d = np.minimum(np.abs((x % 700) - 350), np.abs((y % 900) - 450))
    p = np.clip(1.0 - (d - 6.0) / 4.0, 0.0, 1.0) * 230 + rng.normal(0, 8, d.shape)
    return np.clip(p, 0, 255).astype(np.uint8)


def write_prediction(path: Path, size: int) -> None:
    """The synthetic ``size`` x ``size`` prediction with overviews, band by band."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    profile = dict(
        driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:32611",
        transform=from_origin(500000.0, 4000000.0, 0.3, 0.3), tiled=True,
        blockxsize=512, blockysize=512, compress="deflate", BIGTIFF="IF_SAFER",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        for r0 in range(0, size, BAND):
            h = min(BAND, size - r0)
            win = rasterio.windows.Window(0, r0, size, h)
            ds.write(prob_rows(r0, h, size, rng), 1, window=win)
    factors = []
    while size // 2 ** len(factors) > 512:
        factors.append(2 ** (len(factors) + 1))
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews(factors, Resampling.average)


def random_tiles(layer, zoom: int, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``n`` random tiles at ``zoom`` wholly inside the layer's bounds (or any inside)."""
    from basiss.view.tiles import tiles_covering

    tiles = tiles_covering(layer.bounds, zoom)
    inner = [t for t in tiles if t[0] not in (tiles[0][0], tiles[-1][0])] or tiles
    return [inner[i] for i in rng.integers(0, len(inner), n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="scene width = height (px)")
    parser.add_argument("--tiles", type=int, default=200, help="tiles per rate measurement")
    parser.add_argument("--quick", action="store_true", help="2,000 px scene, 50 tiles")
    add_record_args(parser)
    args = parser.parse_args()
    size, n = (2_000, 50) if args.quick else (args.size, args.tiles)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from basiss.view.page import load
    from basiss.view.scenes import find_scenes
    from basiss.view.server import ViewServer
    from basiss.view.tiles import TMS, TileSource

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene_prob.tif"
        t0 = time.perf_counter()
        write_prediction(path, size)
        t_write = time.perf_counter() - t0

        t0 = time.perf_counter()
        page = load(find_scenes([path]))
        t_open = time.perf_counter() - t0
        layer = page.rasters[0]
        source = TileSource([layer])
        w, s, e, nn = layer.bounds
        t0 = time.perf_counter()
        source.tile_png(
            layer.id,
            layer.minzoom,
            *random_tiles(layer, layer.minzoom, 1, np.random.default_rng(1))[0],
        )
        t_first_low = time.perf_counter() - t0
        centre = TMS.tile((w + e) / 2, (s + nn) / 2, layer.maxzoom)
        t0 = time.perf_counter()
        source.tile_png(layer.id, layer.maxzoom, centre.x, centre.y)
        t_first_native = time.perf_counter() - t0

        rates = {}
        rng = np.random.default_rng(2)
        for zoom in (layer.maxzoom, layer.maxzoom - 2):
            tiles = random_tiles(layer, zoom, n, rng)
            t0 = time.perf_counter()
            for x, y in tiles:
                source.tile_png(layer.id, zoom, x, y)
            rates[zoom] = n / (time.perf_counter() - t0)

        tiles = random_tiles(layer, layer.maxzoom, n, rng)
        with ViewServer(page) as server:
            urls = [f"{server.url}tiles/{layer.id}/{layer.maxzoom}/{x}/{y}.png" for x, y in tiles]

            def fetch(url: str) -> int:
                with urllib.request.urlopen(url, timeout=30) as r:
                    return len(r.read())

            t0 = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(fetch, urls))
            rate_http = n / (time.perf_counter() - t0)

    rows = [
        ("write raster (s)", t_write),
        ("open: find + load layers (ms)", 1e3 * t_open),
        (f"first tile, whole scene z{layer.minzoom} (ms)", 1e3 * t_first_low),
        (f"first tile, native z{layer.maxzoom} (ms)", 1e3 * t_first_native),
        (f"tiles/s at z{layer.maxzoom}", rates[layer.maxzoom]),
        (f"tiles/s at z{layer.maxzoom - 2}", rates[layer.maxzoom - 2]),
        (f"tiles/s HTTP z{layer.maxzoom} (2 clients)", rate_http),
    ]
    print(f"view tiles: {size} x {size} uint8 probability, {n} tiles per rate")
    print_table(["measure", "value"], rows, ["<40", ">10.1f"])
    if not args.no_record:
        summary = f"{size}x{size}: " + ", ".join(f"{k} {v:.1f}" for k, v in rows)
        record("view_tiles", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
