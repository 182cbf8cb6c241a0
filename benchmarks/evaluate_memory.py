"""Peak memory of `basiss evaluate` vs scene height: streamed by row bands, and in one band.

Each case runs :func:`basiss.evaluation.evaluate` in its own subprocess (so peaks do not
mix) and reports the process's peak RSS (``ru_maxrss``) and its RSS once basiss is
imported (the baseline). The pair is synthetic and written here block by block: a
uint8 probability ``*_prob.tif`` (tiled, deflate, with an internal nodata mask over a
corner, as ``basiss predict`` writes it) and a 0/1 truth mask on the same grid, scored
with the threshold sweep and relaxed scores (``--relax-px``).

Cases:
- ``stream`` on W x H and on W x (8 H) (tall): the tall one should stay within +10% of
  the square one, since memory depends on the width only;
- ``one band`` (the whole square scene read at once, as evaluation did before it
  streamed), for comparison.

Full run (4000 x 4000 and 4000 x 32000, about 2-3 minutes of 2-core CPU):
    .venv/bin/python benchmarks/evaluate_memory.py
Smoke run:
    .venv/bin/python benchmarks/evaluate_memory.py --quick --no-record
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


def write_pair(folder: Path, width: int, height: int, block: int = 512, seed: int = 0) -> None:
    """``x_prob.tif`` and ``x.tif`` (truth) of ``width x height``, written by row blocks.

    The truth is a grid of 6 px roads (every 700 columns, every 900 rows) plus a
    diagonal; the probability is the truth smoothed by noise (uint8), nodata over the
    first 300 x 300 pixels.
    """
    import rasterio
    from rasterio.windows import Window

    from basiss.io.raster import geotiff_profile

    rng = np.random.default_rng(seed)
    grid = ("EPSG:32611", rasterio.Affine(0.3, 0, 500000.0, 0, -0.3, 4000000.0))
    prof = geotiff_profile(width, height, 1, "uint8", *grid)
    cols = np.arange(width)
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(folder / "x_prob.tif", "w", **prof) as pred,
        rasterio.open(folder / "x.tif", "w", **prof) as truth,
    ):
        for r in range(0, height, block):
            h = min(block, height - r)
            rows = np.arange(r, r + h)[:, None]
            road = ((cols % 700) < 6) | ((rows % 900) < 6) | (np.abs(cols - rows % width) < 3)
            noise = rng.integers(0, 150, (h, width), dtype=np.uint8)
            prob = np.where(road, 255 - noise, noise).astype(np.uint8)
            win = Window(0, r, width, h)
            truth.write(road.astype(np.uint8), 1, window=win)
            pred.write(prob, 1, window=win)
            mask = np.full((h, width), 255, np.uint8)
            mask[(rows[:, 0] < 300), :300] = 0
            pred.write_mask(mask, window=win)


def child(folder: str, relax_px: int, one_band: bool) -> dict:
    """Evaluate the pair in ``folder`` (streamed, or in one band of all rows)."""
    import rasterio

    from basiss.evaluation import metrics
    from basiss.evaluation.score import ScoreOptions, evaluate, evaluate_with

    d = Path(folder)
    base = rss_now_mb()
    t0 = time.perf_counter()
    if one_band:
        with rasterio.open(d / "x.tif") as ds:
            height = ds.height
        thresholds = tuple(sorted(set(metrics.DEFAULT_THRESHOLDS) | {0.5}))
        opts = ScoreOptions(0.5, relax_px, sweep_thresholds=thresholds, band_rows=height)
        rep = evaluate_with(d / "x_prob.tif", d / "x.tif", opts)
    else:
        rep = evaluate(d / "x_prob.tif", d / "x.tif", relax_px=relax_px)
    return {
        "baseline_mb": base,
        "seconds": time.perf_counter() - t0,
        "f1": rep.micro.f1,
        "relaxed_f1": rep.relaxed.f1 if rep.relaxed is not None else None,
    }


def _run(args: list[str]) -> str:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{res.stderr}")
    return res.stdout


def run_case(folder: Path, relax_px: int, one_band: bool) -> dict:
    """Run one case in a fresh interpreter; returns its JSON report.

    This process stays small (it writes no raster itself): Linux carries the parent's
    RSS at the fork into the child's ``ru_maxrss``.
    """
    args = ["--child", str(folder), "--relax-px", str(relax_px)]
    out = _run(args + (["--one-band"] if one_band else []))
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1000 x 1000 and 1000 x 8000 (smoke)")
    ap.add_argument("--width", type=int, default=4000, help="scene width")
    ap.add_argument("--height", type=int, default=4000, help="square scene height")
    ap.add_argument("--tall-factor", type=int, default=8, help="tall scene = height x this")
    ap.add_argument("--relax-px", type=int, default=3, help="relaxed-score tolerance (pixels)")
    add_record_args(ap)
    ap.add_argument("--child", metavar="FOLDER", help=argparse.SUPPRESS)
    ap.add_argument("--one-band", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--write", nargs=3, metavar=("FOLDER", "W", "H"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.write:
        write_pair(Path(args.write[0]), int(args.write[1]), int(args.write[2]))
        return 0
    if args.child:
        report = child(args.child, args.relax_px, args.one_band)
        report["peak_mb"] = peak_rss_mb()
        print(json.dumps(report))
        return 0
    if args.quick:
        args.width, args.height = 1000, 1000

    w, h, tall_h = args.width, args.height, args.height * args.tall_factor
    rows = []
    with tempfile.TemporaryDirectory(prefix="basiss-evalmem-") as tmp:
        for name, height, one_band in (
            ("stream", h, False),
            ("stream", tall_h, False),
            ("one band", h, True),
        ):
            folder = Path(tmp) / f"{w}x{height}"
            if not folder.exists():
                folder.mkdir()
                _run(["--write", str(folder), str(w), str(height)])
            rep = run_case(folder, args.relax_px, one_band)
            rows.append((name, f"{w}x{height}", rep))
    print_table(
        ("case", "scene", "peak MB", "baseline MB", "above MB", "seconds", "Mpx/s", "f1"),
        [
            (
                name,
                scene,
                r["peak_mb"],
                r["baseline_mb"],
                r["peak_mb"] - r["baseline_mb"],
                r["seconds"],
                np.prod([int(v) for v in scene.split("x")]) / 1e6 / r["seconds"],
                r["f1"],
            )
            for name, scene, r in rows
        ],
        ("<9", "<12", ">8.1f", ">12.1f", ">9.1f", ">8.1f", ">6.1f", ">7.4f"),
    )
    sq, tall, whole = (r[2] for r in rows)
    ratio = tall["peak_mb"] / sq["peak_mb"]
    verdict = "PASS" if ratio <= 1.10 else "FAIL"
    same = sq["f1"] == whole["f1"] and sq["relaxed_f1"] == whole["relaxed_f1"]
    print(f"tall/square peak RSS {ratio:.3f} ({verdict}: <= 1.10)")
    print(f"one band (whole image) / streamed peak RSS {whole['peak_mb'] / sq['peak_mb']:.2f}")
    print(f"streamed scores == one-band scores: {same}")
    if not args.no_record:
        record(
            "evaluate_memory",
            f"relax {args.relax_px} px, sweep 99 thresholds: stream {w}x{h} peak "
            f"{sq['peak_mb']:.0f} MB ({sq['seconds']:.1f} s), {w}x{tall_h} peak "
            f"{tall['peak_mb']:.0f} MB ({tall['seconds']:.1f} s) (x{ratio:.3f}, {verdict}); "
            f"one band {w}x{h} peak {whole['peak_mb']:.0f} MB "
            f"(baseline after import ~{sq['baseline_mb']:.0f} MB); scores equal: {same}",
        )
    return 0 if verdict == "PASS" and same else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
