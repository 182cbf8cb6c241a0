"""Road-network extraction: speed (Mpx/s) and peak memory vs scene height.

Each case runs :func:`basiss.graph.extract_network` in its own subprocess (so peaks do
not mix) on a synthetic uint8 probability GeoTIFF (UTM, 0.3 m) written block by block:
a street grid (avenues every 700 px, streets every 900 rows), diagonals every 1500 px,
roads ~13 px (4 m) wide with soft 4 px edges and noise, so the skeleton, the tracing and
the cleaning all have work to do.

Cases:
- ``speed``: a 6000 x 6000 scene (36 Mpx); extraction Mpx/s, and its share of the time
  prediction takes for the same scene at the GUIDE's best rate (8000 x 8000 in ~270 s:
  target <= 25%);
- ``memory``: W x H and W x (8 H) (tall, default 4000 x 4000 and 4000 x 32000): the
  tall scene's peak RSS should stay within +10% of the square one's, since memory
  depends on the width only.

Full run (a few minutes on 2 cores):
    .venv/bin/python benchmarks/graph.py
Smoke run:
    .venv/bin/python benchmarks/graph.py --quick --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, peak_rss_mb, print_table, record, rss_now_mb  # noqa: E402

#: Prediction rate of the GUIDE's best backend (8000 x 8000 in ~270 s), Mpx/s.
PREDICT_MPX_S = 64.0 / 270.0


def road_block(r0: int, h: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Rows ``r0 .. r0 + h`` of the synthetic probability scene (uint8 0..255)."""
    y, x = np.mgrid[r0 : r0 + h, 0:width].astype(np.float32)
    d_avenue = np.abs((x - 100 + 350) % 700 - 350)
    d_street = np.abs((y + 450) % 900 - 450)
    d_diag = np.abs((x - y + 750) % 1500 - 750) / np.float32(np.sqrt(2))
    dist = np.minimum(np.minimum(d_avenue, d_street), d_diag)
    prob = np.clip(1.0 - (dist - 6.5) / 4.0, 0.0, 1.0)
    prob += rng.normal(0, 0.08, prob.shape).astype(np.float32)
    return np.clip(prob * 255, 0, 255).astype(np.uint8)


def write_prob(path: Path, width: int, height: int, block: int = 512) -> Path:
    """Write the synthetic probability GeoTIFF block by block (memory ~ width)."""
    import rasterio

    from basiss.io.raster import geotiff_profile

    rng = np.random.default_rng(0)
    transform = rasterio.Affine(0.3, 0, 500000.0, 0, -0.3, 4000000.0)
    profile = geotiff_profile(width, height, 1, "uint8", "EPSG:32611", transform)
    with rasterio.open(path, "w", **profile) as dst:
        for r in range(0, height, block):
            h = min(block, height - r)
            dst.write(
                road_block(r, h, width, rng), 1, window=rasterio.windows.Window(0, r, width, h)
            )
    return path


def child(image: str, band_rows: int | None) -> dict:
    """Extract the network of ``image``; report time, sizes and memory."""
    from basiss.graph import extract_network

    base = rss_now_mb()
    t0 = time.perf_counter()
    g = extract_network(image, band_rows=band_rows)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "baseline_mb": base,
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "km": sum(d["length_m"] for *_, d in g.edges(data=True)) / 1000,
    }


def run_case(image: Path, band_rows: int | None) -> dict:
    """Run one case in a fresh interpreter; returns its JSON report."""
    cmd = [sys.executable, __file__, "--child", str(image)]
    if band_rows:
        cmd += ["--band-rows", str(band_rows)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{image.name} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small scenes (smoke test)")
    ap.add_argument("--speed-size", type=int, default=6000, help="side of the speed scene")
    ap.add_argument("--width", type=int, default=4000, help="memory scenes' width")
    ap.add_argument("--height", type=int, default=4000, help="square memory scene's height")
    ap.add_argument("--tall-factor", type=int, default=8, help="tall scene = height x this")
    ap.add_argument(
        "--band-rows", type=int, default=None, help="rows per band (default: automatic)"
    )
    add_record_args(ap)
    ap.add_argument("--child", metavar="IMAGE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        report = child(args.child, args.band_rows)
        report["peak_mb"] = peak_rss_mb()
        print(json.dumps(report))
        return 0
    if args.quick:
        args.speed_size, args.width, args.height = 1500, 1000, 1000
        args.band_rows = args.band_rows or 250  # several bands in the square scene too
    cases = [
        ("speed", args.speed_size, args.speed_size),
        ("memory", args.width, args.height),
        ("memory tall", args.width, args.height * args.tall_factor),
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="basiss-graph-") as tmp:
        for name, w, h in cases:
            img = write_prob(Path(tmp) / f"scene_{w}x{h}_prob.tif", w, h)
            rep = run_case(img, args.band_rows)
            rep["mpx_s"] = w * h / 1e6 / rep["seconds"]
            rows.append((name, f"{w}x{h}", rep))
            img.unlink()
    print_table(
        ["case", "size", "s", "Mpx/s", "nodes", "edges", "km", "peak MB", "base MB"],
        [
            (
                n,
                s,
                r["seconds"],
                r["mpx_s"],
                r["nodes"],
                r["edges"],
                r["km"],
                r["peak_mb"],
                r["baseline_mb"],
            )
            for n, s, r in rows
        ],
        ["<12", "<12", ">7.1f", ">7.2f", ">6d", ">6d", ">7.1f", ">8.0f", ">8.0f"],
    )
    speed, sq, tall = (r[2] for r in rows)
    share = PREDICT_MPX_S / speed["mpx_s"]
    ratio = tall["peak_mb"] / sq["peak_mb"]
    verdict = "PASS" if ratio <= 1.10 else "FAIL"
    print(
        f"extraction / prediction time: {share:.1%} (target <= 25%, prediction at "
        f"{PREDICT_MPX_S:.3f} Mpx/s)"
    )
    print(f"tall/square peak RSS {ratio:.3f} ({verdict}: <= 1.10)")
    if not args.no_record:
        record(
            "graph",
            f"speed {rows[0][1]}: {speed['seconds']:.1f} s, {speed['mpx_s']:.2f} Mpx/s "
            f"({share:.0%} of prediction time); peak RSS {rows[1][1]} {sq['peak_mb']:.0f} MB, "
            f"{rows[2][1]} {tall['peak_mb']:.0f} MB (x{ratio:.3f}, {verdict})",
        )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
