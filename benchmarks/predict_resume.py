"""Kill and resume: a broad-area predict killed (SIGKILL) at ~50%, then re-run.

A synthetic 3-band uint8 scene (``_common.write_scene``) and a random checkpoint
(``--arch``: the seed's ``unet`` by default, the reference model of
``predict_engines.py``) are written to a temporary folder. For each case a full run is timed, then
a second run on a fresh output folder is killed (SIGKILL to its whole process group)
once half of its chip-row block files exist, and re-run; the re-run's time is compared
with the full run's (target: < 60%), its outputs with the full run's (pixel for pixel),
and the output folder is checked for leftovers. Cases:

- ``single``: one process (:func:`basiss.inference.predict.predict_image`), 1 thread;
- ``dask-2``: a 2-worker ``local:2`` cluster (:func:`predict_distributed`), 1 thread each.

Times are of whole processes (Python, torch import, model load, cluster start, the
COG assembly), as a user sees them. Those fixed costs (about 13 s for the Dask case on
this machine) do not shrink on a re-run, so the ratio depends on how heavy the model
is: with ``--arch unet-small`` (4.4 chips/s per thread against the seed U-Net's 1.2)
they are a fifth of the Dask run.

Full run (6000x6000, 400/300 chips, seed U-Net: about 20 minutes of 2-core CPU):
    .venv/bin/python benchmarks/predict_resume.py
Smoke run (under two minutes):
    .venv/bin/python benchmarks/predict_resume.py --quick --no-record
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, print_table, record, write_checkpoint, write_scene  # noqa: E402

RUN = """
import sys
from basiss.inference.predict import PredictOptions, predict_image
from basiss.inference.distributed import predict_distributed
image, ckpt, out, mode = sys.argv[1:5]
opts = PredictOptions(threads=1, show_progress=False)
if mode == "single":
    predict_image(image, ckpt, out, opts)
else:
    predict_distributed([image], ckpt, out, opts, scheduler="local:2", timeout=3600)
"""


def run(image: Path, ckpt: Path, out: Path, mode: str, kill_at: int | None) -> float:
    """Run one predict process; with ``kill_at``, SIGKILL it once that many block files exist.

    Returns:
        Wall seconds (to the kill, or to the end).
    """
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [sys.executable, "-c", RUN, str(image), str(ckpt), str(out), mode]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    if kill_at is None:
        if proc.wait() != 0:
            raise SystemExit(f"{mode} run failed")
        return time.perf_counter() - t0
    while proc.poll() is None:
        if len(list(out.glob(f".{image.stem}.blocks-*/rows*_prob.tif"))) >= kill_at:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    return time.perf_counter() - t0


def n_blocks(image: Path, ckpt: Path, mode: str) -> int:
    """Blocks the run plans for ``image`` (single process: resume plan; Dask: 2 workers)."""
    from basiss.inference.plan import plan_blocks
    from basiss.inference.predictor import load_predictor
    from basiss.inference.resume import resume_plan
    from basiss.inference.scene import scene_info
    from basiss.io.raster import open_raster

    pred = load_predictor(ckpt)
    with open_raster(image) as ds:
        rows = len(scene_info(ds, image, pred.spec, pred.chip, pred.stride).grid.rows)
    return len(resume_plan(rows) if mode == "single" else plan_blocks([rows], 2)[0])


def same(a: Path, b: Path) -> bool:
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        return np.array_equal(x.read(), y.read()) and np.array_equal(
            x.dataset_mask(), y.dataset_mask()
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 1500 px scene, small model")
    ap.add_argument("--size", type=int, default=None, help="scene side in pixels")
    ap.add_argument(
        "--arch", default=None, help="architecture (default: unet; --quick: unet-small)"
    )
    add_record_args(ap)
    args = ap.parse_args()
    size = args.size or (1500 if args.quick else 6000)
    base = 4 if args.quick else None
    arch = args.arch or ("unet-small" if args.quick else "unet")
    slice_, stride = (128, 96) if args.quick else (400, 300)
    rows = []
    with tempfile.TemporaryDirectory(prefix="basiss-resume-") as tmp:
        d = Path(tmp)
        image = write_scene(d / "scene.tif", size, size)
        ckpt = write_checkpoint(d / "ck.pt", arch, base, slice_, stride, vivid=True)
        for mode in ("single", "dask-2"):
            blocks = n_blocks(image, ckpt, mode)
            full = run(image, ckpt, d / f"full-{mode}", mode, None)
            out = d / f"resumed-{mode}"
            killed = run(image, ckpt, out, mode, max(1, blocks // 2))
            rerun = run(image, ckpt, out, mode, None)
            equal = all(
                same(d / f"full-{mode}" / f"scene{s}", out / f"scene{s}")
                for s in ("_prob.tif", "_mask.tif")
            )
            left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
            rows.append((mode, blocks, full, killed, rerun, rerun / full, str(equal), len(left)))
    print_table(
        ["case", "blocks", "full s", "killed at s", "re-run s", "re-run/full", "equal", "temps"],
        rows,
        ["<8", ">6", ">7.1f", ">11.1f", ">8.1f", ">11.2f", ">6", ">5"],
        note=f"{arch}, {size}x{size} px, {slice_}/{stride} chips, SIGKILL at half the blocks",
    )
    if not args.no_record:
        summary = "; ".join(
            f"{r[0]}: full {r[2]:.1f} s, re-run {r[4]:.1f} s = {r[5]:.3f} of full, equal {r[6]}, "
            f"temps left {r[7]}"
            for r in rows
        )
        record("predict_resume", f"{arch}, {size} px {slice_}/{stride}: {summary}")
    return 0 if all(r[6] == "True" and r[7] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
