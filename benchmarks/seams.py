"""Seams: prediction quality near chip borders vs elsewhere, for mean vs cosine blending.

Predicts ``--image`` twice (``--blend mean`` and ``--blend cosine``) and, for
each, scores the 0/1 mask against ``--truth``:

- F1 on pixels within ``--band`` px of an internal chip border (a chip edge
  inside the image, where overlapping chips meet) vs F1 everywhere else;
- the seam step: the mean absolute probability change between neighbouring
  pixel columns/rows across a chip edge, divided by the same change between
  any other neighbours (1.0 = no visible seam).

Run with a trained model (e.g. on the sample's broad scene):
    .venv/bin/python benchmarks/seams.py --weights RUN/best.pt --image SCENE.tif \\
        --truth SCENE_mask.tif
Smoke run (random model, synthetic scene):
    .venv/bin/python benchmarks/seams.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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


def internal_edges(starts: tuple[int, ...], slice_: int, size: int) -> list[int]:
    """Chip edges strictly inside ``[0, size)``: an edge ``e`` lies between pixels e-1 and e."""
    edges = {s for s in starts if s > 0} | {s + slice_ for s in starts if s + slice_ < size}
    return sorted(edges)


def near_edges(edges: list[int], size: int, band: int) -> np.ndarray:
    """Boolean ``(size,)``: pixels within ``band`` px of any edge (``e - band <= x < e + band``)."""
    near = np.zeros(size, dtype=bool)
    for e in edges:
        near[max(0, e - band) : min(size, e + band)] = True
    return near


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    """F1 of boolean arrays (nan when both are empty)."""
    tp = np.count_nonzero(pred & truth)
    denom = np.count_nonzero(pred) + np.count_nonzero(truth)
    return 2 * tp / denom if denom else float("nan")


def seam_step(prob: np.ndarray, xs: list[int], ys: list[int]) -> float:
    """Mean |step| across chip edges divided by the mean |step| between other neighbours."""
    p = prob.astype(np.float32)
    dx = np.abs(np.diff(p, axis=1))  # dx[:, e-1] = step between columns e-1 and e
    dy = np.abs(np.diff(p, axis=0))
    ex = np.zeros(dx.shape[1], bool)
    ex[[e - 1 for e in xs]] = True
    ey = np.zeros(dy.shape[0], bool)
    ey[[e - 1 for e in ys]] = True
    at = np.concatenate([dx[:, ex].ravel(), dy[ey].ravel()])
    off = np.concatenate([dx[:, ~ex].ravel(), dy[~ey].ravel()])
    return float(at.mean() / max(off.mean(), 1e-9)) if at.size else float("nan")


def score(prob_path: Path, mask_path: Path, truth: np.ndarray, pred, band: int) -> dict[str, float]:
    """Edge-zone F1, elsewhere F1 and seam step of one prediction."""
    import rasterio

    from basiss.grid import chip_grid

    with rasterio.open(prob_path) as ds:
        prob = ds.read(1)
        valid = ds.dataset_mask() > 0
    with rasterio.open(mask_path) as ds:
        mask = ds.read(1) > 0
    h, w = mask.shape
    sx, sy = pred.chip
    grid = chip_grid(w, h, sx, sy, *pred.stride)
    xs, ys = internal_edges(grid.cols, sx, w), internal_edges(grid.rows, sy, h)
    zone = near_edges(xs, w, band)[np.newaxis, :] | near_edges(ys, h, band)[:, np.newaxis]
    return {
        "f1_edge": f1(mask & zone & valid, truth & zone & valid),
        "f1_rest": f1(mask & ~zone & valid, truth & ~zone & valid),
        "edge_frac": float(np.count_nonzero(zone & valid) / max(1, np.count_nonzero(valid))),
        "seam_step": seam_step(prob, xs, ys),
    }


def main() -> int:
    import rasterio

    from basiss.inference.predict import PredictOptions, load_predictor, predict_image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--weights", help="checkpoint (.pt)")
    ap.add_argument("--image", help="scene to predict")
    ap.add_argument("--truth", help="0/1 (or 0/255) road mask on the scene's grid")
    ap.add_argument("--band", type=int, default=10, help="edge zone half-width (px)")
    ap.add_argument("--slice", type=int, nargs=2, default=None, help="chip size X Y")
    ap.add_argument("--stride", type=int, nargs=2, default=None, help="chip stride X Y")
    ap.add_argument("--threshold", type=float, default=0.5, help="mask threshold")
    ap.add_argument("--engine", choices=("torch", "onnx"), default="torch", help="back end")
    ap.add_argument("--threads", type=int, default=2, help="engine threads")
    ap.add_argument("--quick", action="store_true", help="random model on a synthetic scene")
    add_record_args(ap, no_results_alias=True)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="basiss-seams-") as tmp:
        d = Path(tmp)
        if args.quick:
            image = write_scene(d / "scene.tif", 700, 500)
            with rasterio.open(image) as ds:
                roads = np.all(ds.read() == 250, axis=0).astype(np.uint8)
                profile = dict(ds.profile, count=1)
            truth_path = d / "truth.tif"
            with rasterio.open(truth_path, "w", **profile) as dst:
                dst.write(roads[np.newaxis])
            weights = write_checkpoint(d / "model.pt", "unet-small", 4, 128, 96, vivid=True)
        else:
            if not (args.weights and args.image and args.truth):
                ap.error("--weights, --image and --truth are required (or --quick)")
            image, truth_path, weights = Path(args.image), Path(args.truth), Path(args.weights)
        with rasterio.open(truth_path) as ds:
            truth = ds.read(1) > 0
        rows = {}
        for blend in ("mean", "cosine"):
            opts = PredictOptions(
                slice=tuple(args.slice) if args.slice else None,
                stride=tuple(args.stride) if args.stride else None,
                blend=blend,
                threshold=args.threshold,
                engine=args.engine,
                threads=args.threads,
                device="cpu",
                show_progress=False,
            )
            pred = load_predictor(weights, opts)
            out = predict_image(image, pred, d / blend)
            with rasterio.open(image) as ds:
                if truth.shape != (ds.height, ds.width):
                    raise SystemExit(f"{truth_path}: not on the grid of {image}")
            rows[blend] = score(out.prob_path, out.mask_path, truth, pred, args.band)
    print_table(
        ["blend", "F1 edge", "F1 rest", "seam step"],
        [(b, r["f1_edge"], r["f1_rest"], r["seam_step"]) for b, r in rows.items()],
        ["<8", ">8.4f", ">8.4f", ">10.3f"],
        note=f"(zone {args.band} px)",
    )
    print(f"edge zone covers {100 * rows['mean']['edge_frac']:.1f}% of valid pixels")
    if not args.no_record:
        what = "random model, synthetic scene" if args.quick else f"{image.name}, {weights}"
        parts = "; ".join(
            f"{b}: F1 edge {r['f1_edge']:.4f} / rest {r['f1_rest']:.4f}, "
            f"seam step {r['seam_step']:.3f}"
            for b, r in rows.items()
        )
        record("seams", f"{what}, band {args.band} px: {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
