"""Ground sample distance: the demo's model on its broad scene at 0.3, 0.6 and 1.0 m.

The demo (``basiss demo``) trains a model on 0.3 m chips of the synthetic sample; its
checkpoint records that GSD. This benchmark resamples the sample's broad scene to
coarser pixels (GDAL average, as a coarser sensor integrates the ground), predicts each
with ``basiss predict``'s ``--gsd auto`` (resampled to the model's 0.3 m window by window,
the prediction put back on the coarse grid) and ``--gsd off`` (predicted as it is),
and scores pixel F1 against the same road centerlines rasterised on each grid (2 m
each side, the demo's truth). Target: ``auto`` within 0.05 of the native F1 at 0.6 and
1.0 m, and ``off`` much lower.

    .venv/bin/python benchmarks/gsd.py                     # runs the demo first (~5 min)
    .venv/bin/python benchmarks/gsd.py --demo demo_out     # reuse a finished demo

Appends one line to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import rasterio
from rasterio.enums import Resampling

from basiss.demo import DemoConfig, run_demo
from basiss.evaluation.score import evaluate
from basiss.inference.options import PredictOptions
from basiss.inference.predict import predict_image
from basiss.synthetic.layout import SampleLayout
from basiss.training.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, print_table, record  # noqa: E402

#: Coarser pixel sizes the broad scene is resampled to (metres).
GSDS = (0.6, 1.0)
#: ``auto`` must come this close to the native F1.
TOLERANCE = 0.05


def coarsen(src: Path, gsd: float, out: Path) -> Path:
    """``src`` resampled (average) to ``gsd`` metres, same CRS and origin, as a GeoTIFF."""
    with rasterio.open(src) as ds:
        native = abs(ds.transform.a)
        f = native / gsd if ds.crs.is_projected else None
        if f is None:  # degrees: scale the pixel by the GSD ratio measured on the ground
            from basiss.geo import ground_sample_distance

            f = ground_sample_distance(ds.transform, ds.crs, ds.width, ds.height) / gsd
        w, h = round(ds.width * f), round(ds.height * f)
        arr = ds.read(out_shape=(ds.count, h, w), resampling=Resampling.average)
        t = ds.transform * ds.transform.scale(ds.width / w, ds.height / h)
        profile = dict(ds.profile, width=w, height=h, transform=t, tiled=True, compress="deflate")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(arr)
    return out


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--demo", type=Path, default=None, help="a finished `basiss demo --out` folder")
    p.add_argument("--out", type=Path, default=Path("/tmp/gsd_bench"), help="work folder")
    p.add_argument("--threads", type=int, default=2, help="CPU threads")
    add_record_args(p)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    demo = args.demo
    if demo is None or load_checkpoint(demo / "run" / "best.pt")[1].gsd is None:
        if demo is not None:
            print(f"{demo}: its model records no training GSD (an older basiss); a fresh demo")
        demo = args.out / "demo"
        run_demo(DemoConfig(out=demo, threads=args.threads))
    layout = SampleLayout.at(demo / "sample")
    ckpt = demo / "run" / "best.pt"
    _, spec = load_checkpoint(ckpt)
    scenes = {"native": layout.broad_image}
    for g in GSDS:
        scenes[f"{g:g} m"] = coarsen(layout.broad_image, g, args.out / f"broad_{g:g}m.tif")
    rows, f1 = [], {}
    for name, image in scenes.items():
        for mode in ("auto", "off") if name != "native" else ("auto",):
            opts = PredictOptions(gsd=mode, threads=args.threads)
            out = predict_image(image, ckpt, args.out / f"{name.replace(' ', '')}_{mode}", opts)
            rep = evaluate(out.prob_path, layout.broad_labels)
            f1[(name, mode)] = rep.micro.f1
            rows.append((name, mode, out.chips_total, out.seconds, rep.micro.precision,
                         rep.micro.recall, rep.micro.f1))  # fmt: skip
    print()
    print_table(
        ["scene", "--gsd", "chips", "s", "P", "R", "F1"],
        rows,
        ["<8", "<5", ">6d", ">7.1f", ">6.3f", ">6.3f", ">6.3f"],
    )
    native = f1[("native", "auto")]
    ok = all(abs(f1[(f"{g:g} m", "auto")] - native) <= TOLERANCE for g in GSDS)
    if not args.no_record:
        parts = ", ".join(
            f"{g:g} m auto {f1[(f'{g:g} m', 'auto')]:.4f} / off {f1[(f'{g:g} m', 'off')]:.4f}"
            for g in GSDS
        )
        record(
            "gsd",
            f"demo model ({spec.arch}, trained at {spec.gsd:g} m) on the broad scene: native "
            f"F1 {native:.4f}; {parts} (target: auto within {TOLERANCE} of native: "
            f"{'PASS' if ok else 'FAIL'})",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
