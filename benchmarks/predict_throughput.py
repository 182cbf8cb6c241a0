"""End-to-end prediction speed vs the bare model on the same chips.

``predict_image`` (read, stretch/normalise, model, blend, write) is timed on
a synthetic scene; then the same engine runs alone on the same number of
chips, batched the same way (one chip row at a time, ``--batch-size``
chips per call). The difference is the cost of reading, stitching and
writing: target <= 10% of the model's time.

Full run (about 5 minutes of 2-core CPU):
    .venv/bin/python benchmarks/predict_throughput.py
Smoke run:
    .venv/bin/python benchmarks/predict_throughput.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, record, write_checkpoint, write_scene  # noqa: E402


def bare_model_seconds(pred, grid, batch_size: int, seed: int = 0) -> float:
    """Time the engine alone on the grid's chips (random inputs, same batching)."""
    sx, sy = pred.chip
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, pred.spec.in_channels, sy, sx), dtype=np.float32)
    n_cols = len(grid.cols)
    t0 = time.perf_counter()
    for _ in grid.rows:
        for i in range(0, n_cols, batch_size):
            pred.engine(x[: min(batch_size, n_cols - i)])
    return time.perf_counter() - t0


def main() -> int:
    import torch

    from basiss.grid import chip_grid
    from basiss.inference.predict import PredictOptions, load_predictor, predict_image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small scene and model (smoke test)")
    ap.add_argument("--size", type=int, default=3000, help="scene side (pixels)")
    ap.add_argument("--arch", default="unet-small", help="model architecture")
    ap.add_argument("--base", type=int, default=None, help="unet-small width (default: its own)")
    ap.add_argument("--slice", type=int, default=400, help="chip size")
    ap.add_argument("--stride", type=int, default=300, help="chip stride")
    ap.add_argument("--batch-size", type=int, default=4, help="chips per model call")
    ap.add_argument("--engine", choices=("torch", "onnx"), default="torch", help="back end")
    ap.add_argument("--blend", choices=("cosine", "mean"), default="cosine", help="blending")
    ap.add_argument("--threads", type=int, default=2, help="engine threads")
    ap.add_argument("--repeats", type=int, default=2, help="alternating timed runs")
    add_record_args(ap, no_results_alias=True)
    args = ap.parse_args()
    if args.quick:
        args.size, args.base, args.slice, args.stride = 800, args.base or 8, 200, 150

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="basiss-tp-") as tmp:
        d = Path(tmp)
        img = write_scene(d / "scene.tif", args.size, args.size)
        ckpt = write_checkpoint(d / "model.pt", args.arch, args.base, args.slice, args.stride)
        opts = PredictOptions(
            batch_size=args.batch_size,
            blend=args.blend,
            engine=args.engine,
            device="cpu",
            threads=args.threads,
            show_progress=False,
        )
        pred = load_predictor(ckpt, opts)
        grid = chip_grid(args.size, args.size, args.slice, args.slice, args.stride, args.stride)
        bare_model_seconds(pred, chip_grid(1, 1, args.slice), args.batch_size)  # warm-up
        # The machine is shared: alternate the two measurements, keep each one's best.
        bares, ends = [], []
        for _ in range(args.repeats):
            bares.append(bare_model_seconds(pred, grid, args.batch_size))
            ends.append(predict_image(img, pred, d / "out").seconds)
        # The pipeline alone: a model that returns zeros at once.
        k = pred.n_out
        pred.engine = lambda x: np.zeros((x.shape[0], k, *x.shape[2:]), np.float32)
        pipeline = min(predict_image(img, pred, d / "null").seconds for _ in range(2))
    model_s, end_s = min(bares), min(ends)
    overhead = end_s / model_s - 1.0
    mpx = args.size * args.size / 1e6
    verdict = "PASS" if overhead <= 0.10 else "FAIL"
    print(
        f"{args.size}x{args.size}, {len(grid)} chips, {args.arch} base={args.base or 'default'}, "
        f"{args.engine}, {args.threads} threads"
    )
    runs = ", ".join(f"{b:.2f}/{e:.2f}" for b, e in zip(bares, ends, strict=True))
    print(f"end to end   {end_s:8.2f} s  {mpx / end_s:6.3f} Mpx/s")
    print(f"bare model   {model_s:8.2f} s  {mpx / model_s:6.3f} Mpx/s  (bare/e2e runs: {runs})")
    print(f"pipeline     {pipeline:8.2f} s  (read+normalise+blend+write with a null model)")
    print(f"overhead     {100 * overhead:+7.1f} %  ({verdict}: <= +10%)")
    if not args.no_record:
        record(
            "predict_throughput",
            f"{args.size}x{args.size}, {args.arch} base={args.base or 'default'}, "
            f"slice {args.slice}/{args.stride}, {args.engine}, {args.threads} threads: "
            f"end-to-end {mpx / end_s:.3f} Mpx/s vs bare model {mpx / model_s:.3f} Mpx/s, "
            f"overhead {100 * overhead:+.1f}% ({verdict}); pipeline alone (null model) "
            f"{pipeline:.2f} s = {100 * pipeline / model_s:.1f}% of model time",
        )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
