"""Accuracy benchmark: train on ../shared/data/cil2016 within a time budget, report val F1.

90 images train, 10 validation (split by image, seeded), masks thresholded at
127. After training, ``best.pt`` is scored on the 10 validation images whole
(one 400x400 chip each, the model is fully convolutional): pixel precision,
recall, F1 and IoU at probability 0.5, micro-averaged.

The recipe is a training preset (``--preset``, default: ``basiss train``'s own
default, see ``basiss.training.presets``), with the budget decided by
``--minutes``; ``--arch``/``--arch-kwargs``/``--norm``/``--loss`` override it.

    .venv/bin/python benchmarks/train_cil.py --minutes 30            # the default recipe
    .venv/bin/python benchmarks/train_cil.py --preset cpu-fast --minutes 12
    .venv/bin/python benchmarks/train_cil.py --quick   # ~1.5 min smoke: small net, 128 px

Appends one line to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from basiss.training.checkpoint import load_checkpoint
from basiss.training.loop import TrainConfig, train
from basiss.training.presets import DEFAULT, PRESETS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, add_record_args, record, score_whole_images  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", default=DEFAULT, choices=sorted(PRESETS), help="training recipe")
    p.add_argument("--minutes", type=float, default=30.0, help="training budget")
    p.add_argument("--arch", default=None, help="override the preset's architecture")
    p.add_argument("--arch-kwargs", type=json.loads, default=None, help="override the preset")
    p.add_argument("--loss", default=None, help="override the preset's loss")
    p.add_argument("--norm", default=None, help="fixed|image|dataset (default: the preset's)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0, help="split/weights/augmentation seed")
    p.add_argument("--data", type=Path, default=DATA / "cil2016", help="cil2016 folder")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a temp dir)")
    p.add_argument("--quick", action="store_true", help="smoke: 1.5 min, base-8 net, 128 px crops")
    add_record_args(p)
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"{args.data}: absent; nothing to benchmark", file=sys.stderr)
        return 2
    given = {
        k: v
        for k, v in (
            ("arch", args.arch), ("arch_kwargs", args.arch_kwargs), ("loss", args.loss),
            ("norm", args.norm),
        )
        if v is not None
    }  # fmt: skip
    if args.quick:
        given.update(arch_kwargs={"base": 8}, slice=(128, 128))
        args.minutes = min(args.minutes, 1.5)
    out = args.out or Path(tempfile.mkdtemp(prefix=f"train_cil_{args.preset}_"))
    cfg = TrainConfig.from_preset(
        args.preset,
        file_lists=[args.data],
        out=out,
        mask_threshold=127,
        max_minutes=args.minutes,
        threads=args.threads,
        device="cpu",
        seed=args.seed,
        **given,
    )
    t = time.monotonic()

    def show(row: dict[str, float]) -> None:
        print(
            f"epoch {int(row['epoch']):3d} {(time.monotonic() - t) / 60:5.1f} min  "
            f"train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  "
            f"F1 {row['val_f1']:.4f}  IoU {row['val_iou']:.4f}  {row['chips_per_s']:.2f} chips/s",
            flush=True,
        )

    res = train(cfg, on_epoch=show)
    _, spec = load_checkpoint(res.best_path)
    whole = score_whole_images(res.best_path, args.data, set(spec.extra["val_images"]))
    minutes = res.seconds / 60
    print(
        f"\n{args.preset} ({cfg.arch}): {res.epochs_run} epochs in {minutes:.1f} min, best epoch "
        f"{res.best_epoch}; validation (10 whole images): precision {whole['precision']:.4f} "
        f"recall {whole['recall']:.4f} F1 {whole['f1']:.4f} IoU {whole['iou']:.4f}\n"
        f"run folder: {out}"
    )
    if not args.no_record:
        record(
            "train_cil",
            f"preset {args.preset}: {cfg.arch} {cfg.arch_kwargs} slice {cfg.slice[0]} batch "
            f"{cfg.batch_size} lr {cfg.lr} {cfg.loss} norm {cfg.norm}, seed {args.seed}: "
            f"{res.epochs_run} epochs, {minutes:.1f} min, val F1 {whole['f1']:.4f} "
            f"(P {whole['precision']:.3f} R {whole['recall']:.3f}, IoU {whole['iou']:.4f})",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
