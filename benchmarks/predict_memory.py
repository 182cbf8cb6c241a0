"""Peak memory of streaming prediction vs scene height, and vs the seed's in-memory method.

Each case runs in its own subprocess (so peaks do not mix) and reports the
process's peak RSS (``ru_maxrss``) and its RSS once the model is loaded (the
baseline: interpreter + torch + weights). Scenes are synthetic 3-band uint8
GeoTIFFs written block by block in a temporary folder; the model is a
randomly initialised ``unet-small`` (default width) saved as a checkpoint.

Cases:
- ``stream`` on W x H and on W x (8 H) (tall): the tall one should stay
  within +10% of the square one, since memory depends on width only;
- ``seed`` (all chips and all predictions in RAM, then stitched, as the seed
  did) on a larger square, for comparison.

Full run (about 2,400 chips of 400 px: 15-30 minutes of 2-core CPU):
    .venv/bin/python benchmarks/predict_memory.py
Smoke run:
    .venv/bin/python benchmarks/predict_memory.py --quick
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
from _common import add_record_args, peak_rss_mb, record, rss_now_mb, write_checkpoint, write_scene  # noqa: E402


def child_stream(image: str, ckpt: str, out: str, batch: int, threads: int) -> dict:
    """Streaming prediction with :func:`basiss.inference.predict.predict_image`."""
    import torch

    from basiss.inference.predict import PredictOptions, load_predictor, predict_image

    torch.set_num_threads(threads)
    pred = load_predictor(ckpt, PredictOptions(batch_size=batch, device="cpu", show_progress=False))
    base = rss_now_mb()
    t0 = time.perf_counter()
    res = predict_image(image, pred, out)
    return {"baseline_mb": base, "seconds": time.perf_counter() - t0, "chips": res.chips}


def child_seed(image: str, ckpt: str, out: str, batch: int, threads: int) -> dict:
    """The seed's method: every chip and every prediction held in RAM, then stitched."""
    import rasterio
    import torch

    from basiss.grid import chip_grid
    from basiss.io.raster import read_window, write_geotiff
    from basiss.models import road_probability
    from basiss.training.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    model, spec = load_checkpoint(ckpt)
    base = rss_now_mb()
    t0 = time.perf_counter()
    sx, sy = spec.slice
    with rasterio.open(image) as ds:
        grid = chip_grid(ds.width, ds.height, sx, sy, *spec.stride)
        wins = grid.windows()
        chips = spec.normalisation.apply(np.stack([read_window(ds, w, spec.bands) for w in wins]))
        crs, transform, width, height = ds.crs, ds.transform, ds.width, ds.height
    preds = []
    with torch.inference_mode():
        for i in range(0, len(chips), batch):
            x = torch.from_numpy(chips[i : i + batch])
            preds.append(road_probability(model(x), spec.n_classes)[:, 0].numpy())
    pred = np.concatenate(preds)
    ph, pw = max(height, grid.rows[-1] + sy), max(width, grid.cols[-1] + sx)
    total = np.zeros((ph, pw), np.float32)
    cover = np.zeros((ph, pw), np.float32)
    for w, p in zip(wins, pred, strict=True):
        total[w.row_off : w.row_off + sy, w.col_off : w.col_off + sx] += p
        cover[w.row_off : w.row_off + sy, w.col_off : w.col_off + sx] += 1
    prob = (total / np.maximum(cover, 1))[:height, :width]
    write_geotiff(Path(out) / "seed_prob.tif", np.rint(prob * 255).astype(np.uint8), crs, transform)
    return {"baseline_mb": base, "seconds": time.perf_counter() - t0, "chips": len(wins)}


def run_case(method: str, image: Path, ckpt: Path, out: Path, batch: int, threads: int) -> dict:
    """Run one case in a fresh interpreter; returns its JSON report."""
    cmd = [sys.executable, __file__, "--child", method, str(image), str(ckpt), str(out)]
    cmd += ["--batch-size", str(batch), "--threads", str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and model (smoke test)")
    ap.add_argument("--width", type=int, default=4000, help="scene width")
    ap.add_argument("--height", type=int, default=4000, help="square scene height")
    ap.add_argument("--tall-factor", type=int, default=8, help="tall scene = height x this")
    ap.add_argument("--seed-size", type=int, default=8000, help="side of the seed-method scene")
    ap.add_argument("--arch", default="unet-small", help="model architecture")
    ap.add_argument("--base", type=int, default=None, help="unet-small width (default: its own)")
    ap.add_argument("--slice", type=int, default=400, help="chip size")
    ap.add_argument("--stride", type=int, default=300, help="chip stride")
    ap.add_argument("--batch-size", type=int, default=4, help="chips per model call")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    add_record_args(ap, no_results_alias=True)
    ap.add_argument(
        "--child", nargs=4, metavar=("METHOD", "IMAGE", "CKPT", "OUT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()

    if args.child:
        method, image, ckpt, out = args.child
        fn = child_stream if method == "stream" else child_seed
        report = fn(image, ckpt, out, args.batch_size, args.threads)
        report["peak_mb"] = peak_rss_mb()
        print(json.dumps(report))
        return 0

    if args.quick:
        args.width, args.height, args.seed_size = 800, 800, 1600
        args.base = args.base or 4
        args.slice, args.stride = 200, 150

    with tempfile.TemporaryDirectory(prefix="basiss-mem-") as tmp:
        d = Path(tmp)
        ckpt = write_checkpoint(d / "model.pt", args.arch, args.base, args.slice, args.stride)
        cases = [
            ("stream", args.width, args.height),
            ("stream", args.width, args.height * args.tall_factor),
            ("seed", args.seed_size, args.seed_size),
        ]
        rows = []
        for method, w, h in cases:
            img = write_scene(d / f"scene_{w}x{h}.tif", w, h)
            out = d / f"out_{method}_{w}x{h}"
            out.mkdir()
            rep = run_case(method, img, ckpt, out, args.batch_size, args.threads)
            rows.append((method, w, h, rep))
            print(
                f"{method:6s} {w:>6d}x{h:<6d} peak {rep['peak_mb']:8.1f} MB  "
                f"baseline {rep['baseline_mb']:7.1f} MB  "
                f"above {rep['peak_mb'] - rep['baseline_mb']:7.1f} MB  "
                f"{rep['chips']} chips  {rep['seconds']:.1f} s",
                flush=True,
            )
            img.unlink()
    sq, tall, seed = (r[3] for r in rows)
    ratio = tall["peak_mb"] / sq["peak_mb"]
    above = (tall["peak_mb"] - tall["baseline_mb"]) / max(1e-9, sq["peak_mb"] - sq["baseline_mb"])
    verdict = "PASS" if ratio <= 1.10 else "FAIL"
    print(
        f"tall/square peak RSS {ratio:.3f} ({verdict}: <= 1.10); above-baseline ratio {above:.3f}"
    )
    print(f"seed method {rows[2][1]}x{rows[2][2]}: peak {seed['peak_mb']:.0f} MB")
    if not args.no_record:
        record(
            "predict_memory",
            f"{args.arch} base={args.base or 'default'}, slice {args.slice}/{args.stride}, "
            f"batch {args.batch_size}, {args.threads} threads: "
            f"stream {args.width}x{args.height} peak {sq['peak_mb']:.0f} MB, "
            f"{args.width}x{args.height * args.tall_factor} peak {tall['peak_mb']:.0f} MB "
            f"(x{ratio:.3f}, {verdict}); seed in-memory {args.seed_size}x{args.seed_size} "
            f"peak {seed['peak_mb']:.0f} MB "
            f"(baseline after model load ~{sq['baseline_mb']:.0f} MB)",
        )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
