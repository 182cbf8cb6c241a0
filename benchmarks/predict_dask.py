"""Scenes per hour on a local Dask cluster with 1 and with 2 workers (1 thread each).

Synthetic 3-band uint8 scenes (``predict_memory.write_scene``) and a randomly
initialised ``unet-small`` checkpoint are written to a temporary folder. Cases:

- ``single``: :func:`basiss.inference.predict.predict_many` in this process, 1 torch thread
  (the per-worker speed);
- ``dask-1`` / ``dask-2``: :func:`basiss.inference.distributed.predict_distributed` on a
  ``LocalCluster`` of 1 / 2 worker processes, 1 thread each, many scenes;
- ``dask-2 blocks``: one tall scene (the same pixels as all the scenes
  together) split into chip-row blocks over 2 workers: the block path's
  halo and assembly cost.

Each cluster is started and warmed (workers import torch and load the model
on a one-chip image) before the timed run; start-up time is reported
separately. Every output is checked against the single-process one (equal
within 1/255).

Full run (8 scenes of 1500x1500, 400/300 chips, default unet-small: about
10 minutes of 2-core CPU):
    .venv/bin/python benchmarks/predict_dask.py
Smoke run (under a minute):
    .venv/bin/python benchmarks/predict_dask.py --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_record_args,
    print_table,
    record,
    write_checkpoint,
    write_scene,
)


def max_diff(a: Path, b: Path) -> int:
    """Largest per-pixel difference between two uint8 rasters."""
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        return int(np.abs(x.read().astype(int) - y.read().astype(int)).max())


def warm_up(ckpt: str, opts) -> str:
    """On a worker: import torch and load the model into the worker's cache."""
    from basiss.inference.worker import worker_predictor

    return worker_predictor(ckpt, opts).engine.name


def main() -> int:
    import torch

    from basiss.inference.cluster import connect
    from basiss.inference.distributed import predict_distributed
    from basiss.inference.predict import PredictOptions, predict_many

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny scenes and model (smoke test)")
    ap.add_argument("--scenes", type=int, default=8, help="number of scenes")
    ap.add_argument("--size", type=int, default=1500, help="scene side (pixels)")
    ap.add_argument("--base", type=int, default=None, help="unet-small width (default: its own)")
    ap.add_argument("--slice", type=int, default=400, help="chip size")
    ap.add_argument("--stride", type=int, default=300, help="chip stride")
    ap.add_argument("--batch-size", type=int, default=4, help="chips per model call")
    add_record_args(ap, no_results_alias=True)
    args = ap.parse_args()
    if args.quick:
        args.scenes, args.size, args.base, args.slice, args.stride = 4, 600, 8, 200, 150
    torch.set_num_threads(1)
    opts = PredictOptions(batch_size=args.batch_size, threads=1, show_progress=False)

    rows: list[tuple[str, float, float, int]] = []  # case, seconds, start-up, max diff
    with tempfile.TemporaryDirectory(prefix="basiss-dask-bench-") as tmp:
        d = Path(tmp)
        ckpt = write_checkpoint(d / "m.pt", "unet-small", args.base, args.slice, args.stride)
        scenes = [
            write_scene(d / f"scene{i}.tif", args.size, args.size, seed=i)
            for i in range(args.scenes)
        ]
        tall = write_scene(d / "tall.tif", args.size, args.size * args.scenes, seed=99)
        warm = write_scene(d / "warm.tif", args.slice, args.slice, seed=7)

        t0 = time.perf_counter()
        ref = predict_many(scenes, ckpt, d / "single", opts)
        rows.append(("single", time.perf_counter() - t0, 0.0, 0))
        ref_tall = predict_many([tall], ckpt, d / "single_tall", opts)[0]

        for n in (1, 2):
            t0 = time.perf_counter()
            with connect(f"local:{n}") as client:  # n one-thread worker processes, loopback
                predict_distributed([warm], ckpt, d / "warm", opts, scheduler=client)
                client.run(warm_up, str(ckpt.resolve()), opts)  # every worker, not just one
                start = time.perf_counter() - t0
                t1 = time.perf_counter()
                outs = predict_distributed(scenes, ckpt, d / f"dask{n}", opts, scheduler=client)
                secs = time.perf_counter() - t1
                diff = max(
                    max_diff(a.prob_path, b.prob_path) for a, b in zip(ref, outs, strict=True)
                )
                rows.append((f"dask-{n}", secs, start, diff))
                if n == 2:
                    t1 = time.perf_counter()
                    out = predict_distributed([tall], ckpt, d / "tall", opts, scheduler=client)[0]
                    secs = time.perf_counter() - t1
                    rows.append(
                        ("dask-2 blocks", secs, 0.0, max_diff(ref_tall.prob_path, out.prob_path))
                    )

    px = args.scenes * args.size * args.size
    model = f"unet-small base={args.base or 'default'}, slice {args.slice}/{args.stride}"
    print(f"{args.scenes} scenes of {args.size}x{args.size}, {model}, batch {args.batch_size}, "
          "1 thread per worker")  # fmt: skip
    base_s = rows[0][1]
    print_table(
        ["case", "seconds", "scenes/h", "Mpx/s", "vs single", "start-up s", "max diff"],
        [
            (case, secs, args.scenes * 3600 / secs, px / 1e6 / secs, base_s / secs, start, diff)
            for case, secs, start, diff in rows
        ],
        ["<14", ">8.2f", ">9.0f", ">7.3f", ">9.2f", ">10.1f", ">8d"],
    )
    if not args.no_record:
        parts = "; ".join(
            f"{case} {args.scenes * 3600 / secs:.0f} scenes/h ({base_s / secs:.2f}x, diff {diff})"
            for case, secs, _, diff in rows
        )
        record(
            "predict_dask",
            f"{args.scenes} scenes {args.size}x{args.size}, {model}, 1 thread per worker: "
            f"{parts}; 'dask-2 blocks' = one {args.size}x{args.size * args.scenes} scene in "
            f"chip-row blocks; load average at the end {os.getloadavg()[0]:.1f}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
