"""Accuracy benchmark: train on ../shared/data/cil2016 within a time budget, report val F1.

90 images train, 10 validation (split by image, seeded), masks thresholded at
127. After training, ``best.pt`` is scored on the 10 validation images whole
(one 400x400 chip each, the model is fully convolutional): pixel precision,
recall, F1 and IoU at probability 0.5, micro-averaged.

Defaults (per model, see PRESETS) are chosen for 30 minutes on 2 CPU cores:
random 256 px crops of the 400 px images (more, cheaper steps of the same
pixels; flips/rotations/brightness on), batch 8, Adam with a cosine over the
time budget, bce+dice (roads are ~1/5 of the pixels: Dice pulls F1 at 0.5 up),
best.pt by validation F1, no early stop (the budget decides).

    .venv/bin/python benchmarks/train_cil.py --model unet-small --minutes 30
    .venv/bin/python benchmarks/train_cil.py --model resunet34 --minutes 30
    .venv/bin/python benchmarks/train_cil.py --model dlinknet34 --minutes 30
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

from basiss.data.augment import Augment
from basiss.training.checkpoint import load_checkpoint
from basiss.training.loop import TrainConfig, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, PRESETS, add_record_args, record, score_whole_images  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="unet-small", choices=sorted(PRESETS), help="architecture")
    p.add_argument("--minutes", type=float, default=30.0, help="training budget")
    p.add_argument("--arch-kwargs", type=json.loads, default=None, help="override preset")
    p.add_argument("--slice", type=int, default=None, help="training chip size (preset)")
    p.add_argument("--batch", type=int, default=None, help="batch size (preset)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (preset)")
    p.add_argument("--loss", default="bce+dice", help="training loss")
    p.add_argument("--norm", default="fixed", help="fixed|image|dataset")
    p.add_argument(
        "--source-augment",
        action="store_true",
        help="the other-source augmentation (zoom, gamma, colour, blur, noise); "
        "default: flips, rotations, mild brightness/contrast only",
    )
    p.add_argument("--no-random-crop", action="store_true", help="grid chips, not random crops")
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
    kw, size, batch, lr = PRESETS[args.model]
    kw = args.arch_kwargs if args.arch_kwargs is not None else kw
    size = args.slice or size
    if args.quick:
        kw = {"base": 8} if args.arch_kwargs is None else kw
        size, args.minutes = 128, min(args.minutes, 1.5)
    stride = size if size < 400 else 300
    out = args.out or Path(tempfile.mkdtemp(prefix=f"train_cil_{args.model}_"))
    cfg = TrainConfig(
        file_lists=[args.data],
        out=out,
        arch=args.model,
        arch_kwargs=kw,
        slice=(size, size),
        stride=(stride, stride),
        batch_size=args.batch or batch,
        epochs=10_000,
        lr=args.lr or lr,
        loss=args.loss,
        validation_split=0.1,
        early_stopping_patience=10_000,
        monitor="val_f1",
        random_crop=not args.no_random_crop,
        augmentation=Augment.sources() if args.source_augment else Augment(),
        mask_threshold=127,
        norm=args.norm,
        max_minutes=args.minutes,
        threads=args.threads,
        device="cpu",
        seed=args.seed,
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
        f"\n{args.model}: {res.epochs_run} epochs in {minutes:.1f} min, best epoch "
        f"{res.best_epoch}; validation (10 whole images): precision {whole['precision']:.4f} "
        f"recall {whole['recall']:.4f} F1 {whole['f1']:.4f} IoU {whole['iou']:.4f}\n"
        f"run folder: {out}"
    )
    if not args.no_record:
        record(
            "train_cil",
            f"{args.model} {kw} slice {size} batch {cfg.batch_size} lr {cfg.lr} {cfg.loss}: "
            f"{res.epochs_run} epochs, {minutes:.1f} min, val F1 {whole['f1']:.4f} "
            f"(P {whole['precision']:.3f} R {whole['recall']:.3f}, IoU {whole['iou']:.4f})",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
