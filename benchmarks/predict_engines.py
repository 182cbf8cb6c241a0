"""Prediction engines end to end: torch eager, torch channels-last, onnx fp32, onnx int8, seed.

One synthetic scene and one checkpoint (the seed ``unet``, random weights: speed does
not depend on them), predicted end to end (read, normalise, model, blend, write) by
each engine, every case in its own subprocess so the peak RSS figures do not mix:

- ``torch-eager``: torch, contiguous NCHW memory (the old default);
- ``torch-cl``: torch, channels-last (``--engine torch``);
- ``onnx-fp32``: onnxruntime on the cached export (``--engine auto`` on CPU: the default);
- ``onnx-int8``: onnxruntime on the cached int8 model (``--precision int8``), calibrated
  on the scene;
- ``seed``: the seed's own method (every chip and prediction of the scene in RAM,
  eager torch, then stitched; :func:`predict_memory.child_seed`).

A first subprocess fills an empty ONNX cache (the fp32 export, then the int8 model)
and reports what that costs once per machine; the cases then load from the cache.
Ratios: to onnx fp32, and to the machine's sgemm bound (fp32 GFLOP/s of a torch
matmul, :func:`train_throughput.sgemm_gflops`, over the net's GFLOP per chip counted
from its convolutions).

``--f1-checkpoint CKPT``: pixel F1 of int8 against fp32 with a trained checkpoint on
``../shared/data/cil2016`` validation images (the checkpoint's own ``val_images`` when
it records them, else the last 10), int8 calibrated on those images.

``--repeats N``: N end-to-end runs per case in its process, each followed by a bare-model
reading, medians reported (all readings of the default case in the RESULTS line). One
run is what a single ``basiss predict`` pays (its first batch warms onnxruntime's arena,
~0.2 s); the rate of this shared machine wanders by +-5% from minute to minute, and
the median of alternating readings is what two settings should be compared by.

Full run (the seed U-Net, 2500 x 2500, 400/300 chips, 2 threads: about 5 minutes; 18
with ``--repeats 3``):
    .venv/bin/python benchmarks/predict_engines.py --repeats 3
Smoke run:
    .venv/bin/python benchmarks/predict_engines.py --quick --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DATA,
    add_record_args,
    print_table,
    record,
    write_checkpoint,
    write_scene,
)
from predict_memory import child_seed, peak_rss_mb, rss_now_mb  # noqa: E402

CASES = ("torch-eager", "torch-cl", "onnx-fp32", "onnx-int8", "seed")
#: (engine, precision) of the cases run through ``predict_image``.
SETTINGS = {
    "torch-eager": ("torch", "fp32"),
    "torch-cl": ("torch", "fp32"),
    "onnx-fp32": ("auto", "fp32"),
    "onnx-int8": ("auto", "int8"),
}
#: Images of the F1 check when the checkpoint records no validation split.
LAST_IMAGES = 10
#: The largest |F1(int8) - F1(fp32)| the issue accepts.
F1_TOLERANCE = 0.005


def conv_gflop(arch: str, base: int | None, chip: int) -> float:
    """Forward GFLOP of one ``chip x chip`` 3-band chip, from the convolutions (2 FLOP/MAC)."""
    import torch

    from basiss.models import create_model

    model = create_model(arch, 3, 1, **({"base": base} if base else {})).eval()
    total = [0.0]

    def hook(mod, inp, out) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        if isinstance(mod, torch.nn.ConvTranspose2d):  # each input pixel feeds k x out
            macs = inp[0].numel() * mod.out_channels * k / mod.in_channels
        else:
            macs = out.numel() * k
        total[0] += 2 * macs

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            m.register_forward_hook(hook)
    with torch.inference_mode():
        model(torch.zeros(1, 3, chip, chip))
    return total[0] / 1e9


def _options(case: str, batch: int, threads: int):
    from basiss.inference.options import PredictOptions

    engine, precision = SETTINGS[case]
    return PredictOptions(
        engine=engine,
        precision=precision,
        device="cpu",
        threads=threads,
        batch_size=batch,
        show_progress=False,
    )


def child_prepare(image: str, ckpt: str, batch: int, threads: int) -> dict:
    """Fill the (empty) ONNX cache: the fp32 export, then the int8 model; time each."""
    from basiss.inference.onnx_cache import cache_root
    from basiss.inference.predictor import load_predictor

    t0 = time.perf_counter()
    load_predictor(ckpt, _options("onnx-fp32", batch, threads))
    t1 = time.perf_counter()
    load_predictor(ckpt, _options("onnx-int8", batch, threads), images=[image])
    t2 = time.perf_counter()
    info = {}
    for side in cache_root().glob("*.json"):
        meta = json.loads(side.read_text())
        if meta["key"]["kind"] == "int8":
            info = meta["info"]
    return {"export_s": t1 - t0, "int8_s": t2 - t1, **info}


def child_case(
    case: str, image: str, ckpt: str, out: str, batch: int, threads: int, repeats: int = 1
) -> dict:
    """One case on the scene, the model loaded (and cached export read) first: ``repeats``
    end-to-end runs, each followed by a bare-model reading (:func:`bare_rate`); the
    medians are reported, the readings too."""
    import torch

    torch.set_num_threads(threads)
    if case == "seed":
        runs = [
            child_seed(image, ckpt, str(_rep_dir(out, i)), batch, threads) for i in range(repeats)
        ]
        return {**runs[0], "seconds": float(np.median([r["seconds"] for r in runs])),
                "readings": [r["seconds"] for r in runs]}  # fmt: skip
    from basiss.inference.engines import TorchEngine
    from basiss.inference.predict import predict_image
    from basiss.inference.predictor import load_predictor

    t0 = time.perf_counter()
    pred = load_predictor(ckpt, _options(case, batch, threads), images=[image])
    if case == "torch-eager":  # the same net, back to contiguous memory
        model = pred.engine.net.model
        pred.engine = TorchEngine(model, pred.spec.n_classes, "cpu", threads, channels_last=False)
    load_s = time.perf_counter() - t0
    base = rss_now_mb()
    shape = (pred.spec.in_channels, *pred.chip[::-1])
    seconds, bare = [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        res = predict_image(image, pred, _rep_dir(out, i))
        seconds.append(time.perf_counter() - t0)
        bare.append(bare_rate(pred.engine, res.chips, batch, shape))
    return {
        "baseline_mb": base,
        "seconds": float(np.median(seconds)),
        "chips": res.chips,
        "load_s": load_s,
        "bare": float(np.median(bare)),
        "readings": [
            [round(res.chips / s, 3), round(b, 3)] for s, b in zip(seconds, bare, strict=True)
        ],
    }


def _rep_dir(out: str, i: int) -> Path:
    """The output folder of repeat ``i`` (the first is ``out`` itself)."""
    d = Path(out) / f"repeat{i}" if i else Path(out)
    d.mkdir(parents=True, exist_ok=True)
    return d


def bare_rate(engine, chips: int, batch: int, shape: tuple[int, int, int]) -> float:
    """Chips/s of the engine alone: as many chips as the scene, in batches of random
    input, nothing read, blended or written (what the end-to-end rate is compared with)."""
    x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
    engine(x)  # warm
    t0 = time.perf_counter()
    done = 0
    while done < chips:
        engine(x)
        done += batch
    return done / (time.perf_counter() - t0)


def run_child(args: list[str], env: dict[str, str]) -> dict:
    """Run this script as a child (``--child ...``) in a fresh interpreter; its JSON report."""
    cmd = [sys.executable, __file__, "--child", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def validation_pairs(ckpt: Path, source: Path, limit: int | None) -> list:
    """The checkpoint's validation images of ``source`` (``extra['val_images']``), else the
    last :data:`LAST_IMAGES`; at most ``limit``."""
    from basiss.data.dataset import discover_pairs
    from basiss.training.checkpoint import load_checkpoint

    _, spec = load_checkpoint(ckpt)
    pairs = discover_pairs(source)
    names = set(spec.extra.get("val_images") or ())
    chosen = [p for p in pairs if p.name in names] or pairs[-LAST_IMAGES:]
    return chosen[:limit]


def _counts(mask_path: Path, truth: np.ndarray) -> np.ndarray:
    """``[tp, fp, fn]`` of a predicted 0/1 mask file against a boolean truth."""
    import rasterio

    with rasterio.open(mask_path) as ds:
        pred = ds.read(1) > 0
    return np.array([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()])


def f1_check(ckpt: Path, threads: int, limit: int | None, work: Path) -> dict:
    """Pixel F1 (micro) of fp32 and int8 on the CIL validation images (see module doc)."""
    import rasterio

    from basiss.inference.predict import predict_image
    from basiss.inference.predictor import load_predictor
    from basiss.training.checkpoint import load_checkpoint

    pairs = validation_pairs(ckpt, DATA / "cil2016", limit)
    images = [p.im_file for p in pairs]
    _, spec = load_checkpoint(ckpt)
    scores = {}
    for case in ("onnx-fp32", "onnx-int8"):
        pred = load_predictor(ckpt, _options(case, 4, threads), images=images)
        counts = np.zeros(3)
        for pair in pairs:
            with warnings.catch_warnings():  # the PNGs have no CRS
                warnings.simplefilter("ignore")
                out = predict_image(pair.im_file, pred, work / case)
            with rasterio.open(pair.mask_file) as ds:
                truth = ds.read(1) > spec.mask_threshold
            counts += _counts(out.mask_path, truth)
        tp, fp, fn = counts
        scores[case] = 2 * tp / max(2 * tp + fp + fn, 1)
    return {"images": len(pairs), **scores}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small scene, 128 px chips (smoke)")
    ap.add_argument("--size", type=int, default=2500, help="scene side (pixels)")
    ap.add_argument("--arch", default="unet", help="model architecture (the seed's unet)")
    ap.add_argument("--base", type=int, default=None, help="width of the net (default: its own)")
    ap.add_argument("--slice", type=int, default=400, help="chip size")
    ap.add_argument("--stride", type=int, default=300, help="chip stride")
    ap.add_argument("--batch-size", type=int, default=4, help="chips per model call")
    ap.add_argument("--threads", type=int, default=2, help="engine threads")
    ap.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases to run")
    ap.add_argument(
        "--repeats", type=int, default=1,
        help="end-to-end runs per case, each followed by a bare-model reading; medians "
        "reported (this shared machine's rate wanders by +-5%% within minutes)",
    )  # fmt: skip
    ap.add_argument(
        "--f1-checkpoint", type=Path, default=None, metavar="CKPT",
        help="also: pixel F1 of int8 vs fp32 with this trained checkpoint on cil2016",
    )  # fmt: skip
    add_record_args(ap)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return ap


def _child_main(args: argparse.Namespace) -> int:
    """The ``--child`` side: run one case or the preparation, print its JSON report."""
    what, *rest = args.child
    if what == "prepare":
        report = child_prepare(rest[0], rest[1], args.batch_size, args.threads)
    else:
        report = child_case(what, *rest, args.batch_size, args.threads, args.repeats)
    report["peak_mb"] = peak_rss_mb()
    print(json.dumps(report))
    return 0


def _report(args, rows: dict, prep: dict, gflop: float, sgemm: float, f1: dict | None) -> None:
    """Print the table and (unless ``--no-record``) append the RESULTS.md line."""
    bound = sgemm / gflop
    ref = rows.get("onnx-fp32", {}).get("rate", float("nan"))
    print(
        f"{args.size}x{args.size}, {args.arch} base={args.base or 'default'}, slice "
        f"{args.slice}/{args.stride}, batch {args.batch_size}, {args.threads} threads; "
        f"{gflop:.1f} GFLOP/chip; sgemm {sgemm:.0f} GFLOP/s -> bound {bound:.2f} chips/s"
    )
    print(
        f"cache fill (once per machine): export {prep['export_s']:.1f} s, int8 calibration + "
        f"quantization {prep['int8_s']:.1f} s (peak {prep['peak_mb']:.0f} MB); int8 vs fp32 on "
        f"{prep.get('chips', 0):.0f} chips: max |dp| {prep.get('max_abs', float('nan')):.4f}, "
        f"mean {prep.get('mean_abs', float('nan')):.5f}"
    )
    nan = float("nan")
    table = [
        (c, r["chips"], r["seconds"], r["rate"], r.get("bare", nan),
         r["rate"] / r.get("bare", nan), r["rate"] / ref, r["rate"] / bound,
         r["peak_mb"], r.get("load_s", nan))
        for c, r in rows.items()
    ]  # fmt: skip
    print_table(
        [
            "case",
            "chips",
            "seconds",
            "chips/s",
            "bare",
            "/bare",
            "/onnx32",
            "/bound",
            "peak MB",
            "load s",
        ],
        table,
        ["<12", ">6d", ">9.1f", ">9.3f", ">7.3f", ">7.3f", ">9.2f", ">8.0%", ">9.0f", ">8.1f"],
        note="(onnx-fp32 is the CPU default: --engine auto)",
    )
    if f1:
        d = f1["onnx-int8"] - f1["onnx-fp32"]
        verdict = "PASS" if abs(d) <= F1_TOLERANCE else "FAIL"
        print(
            f"F1 on {f1['images']} cil2016 validation images: fp32 {f1['onnx-fp32']:.4f}, "
            f"int8 {f1['onnx-int8']:.4f} ({d:+.4f}; {verdict}: within {F1_TOLERANCE})"
        )
    if not args.no_record:
        figures = "; ".join(
            f"{c} {r['rate']:.2f} chips/s (x{r['rate'] / ref:.2f}, {r['rate'] / bound:.0%} of "
            f"bound, {r['peak_mb']:.0f} MB"
            + (
                f", bare model {r['bare']:.2f}: end to end {r['rate'] / r['bare']:.1%})"
                if "bare" in r
                else ")"
            )
            for c, r in rows.items()
        )
        extra = "" if not f1 else f"; F1 fp32 {f1['onnx-fp32']:.4f} int8 {f1['onnx-int8']:.4f}"
        record(
            "predict_engines",
            f"{args.size}x{args.size}, {args.arch}, slice {args.slice}/{args.stride}, batch "
            f"{args.batch_size}, {args.threads} threads, "
            + (f"median of {args.repeats} runs per case, " if args.repeats > 1 else "")
            + f"sgemm {sgemm:.0f} GFLOP/s (bound "
            f"{bound:.2f} chips/s): {figures}; export {prep['export_s']:.1f} s, int8 build "
            f"{prep['int8_s']:.1f} s, int8 max |dp| {prep.get('max_abs', float('nan')):.3f}"
            + extra
            + _readings(rows, args.repeats),
        )


def _readings(rows: dict, repeats: int) -> str:
    """The default case's (end to end, bare) readings when there were repeats."""
    r = rows.get("onnx-fp32", {})
    if repeats < 2 or "readings" not in r:
        return ""
    pairs = ", ".join(f"{e:.2f}/{b:.2f}" for e, b in r["readings"])
    return f"; onnx-fp32 readings (end to end/bare chips/s): {pairs}"


def main() -> int:
    args = _parser().parse_args()
    if args.child:
        return _child_main(args)
    if args.quick:
        args.size, args.slice, args.stride = 500, 128, 96
    import torch

    from train_throughput import sgemm_gflops

    torch.set_num_threads(args.threads)
    sgemm = sgemm_gflops()
    gflop = conv_gflop(args.arch, args.base, args.slice)
    with tempfile.TemporaryDirectory(prefix="basiss-engines-") as tmp:
        d = Path(tmp)
        env = dict(os.environ, BASISS_CACHE_DIR=str(d / "cache"), OMP_NUM_THREADS=str(args.threads))
        img = write_scene(d / "scene.tif", args.size, args.size)
        ckpt = write_checkpoint(d / "model.pt", args.arch, args.base, args.slice, args.stride, True)
        common = ["--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        common += ["--repeats", str(args.repeats)]
        prep = run_child(["prepare", str(img), str(ckpt), *common], env)
        rows = {}
        for case in args.cases:
            out = d / f"out-{case}"
            out.mkdir()
            r = run_child([case, str(img), str(ckpt), str(out), *common], env)
            r["rate"] = r["chips"] / r["seconds"]
            rows[case] = r
            print(f"{case}: {r['rate']:.3f} chips/s, peak {r['peak_mb']:.0f} MB, readings "
                  f"{r.get('readings')}", flush=True)  # fmt: skip
        f1 = None
        if args.f1_checkpoint is not None:
            os.environ["BASISS_CACHE_DIR"] = env["BASISS_CACHE_DIR"]
            f1 = f1_check(args.f1_checkpoint, args.threads, 2 if args.quick else None, d)
    _report(args, rows, prep, gflop, sgemm, f1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
