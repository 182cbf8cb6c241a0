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

Appends one line to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from basiss.augment import Augment
from basiss.checkpoint import load_checkpoint
from basiss.data import ChipDataset, chip_index, discover_pairs, image_info
from basiss.losses import make_loss
from basiss.train import TrainConfig, evaluate_loader, train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cil2016"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

#: Per-model defaults: (arch_kwargs, slice, batch, lr).
PRESETS: dict[str, tuple[dict, int, int, float]] = {
    "unet-small": ({"base": 16}, 256, 8, 2e-3),
    "unet": ({}, 256, 4, 5e-4),
    "resunet34": ({"base": 32}, 256, 8, 1e-3),
    "dlinknet34": ({"base": 32}, 256, 8, 1e-3),
}


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def score_whole_images(best: Path, data: Path) -> dict[str, float]:
    """Pixel metrics of ``best`` on its validation images, each read whole (400 px)."""
    model, spec = load_checkpoint(best)
    pairs = discover_pairs(data)
    infos = [image_info(p, spec.in_channels) for p in pairs]
    val = [i for i, p in enumerate(pairs) if p.name in spec.extra["val_images"]]
    size = (max(infos[i].width for i in val), max(infos[i].height for i in val))
    chips = chip_index(pairs, infos, val, size, size)
    ds = ChipDataset(
        pairs, infos, chips, size, spec.normalisation, spec.mask_threshold, spec.n_classes
    )
    loader = DataLoader(ds, batch_size=2)
    return evaluate_loader(model, loader, make_loss("bce"), spec.n_classes, torch.device("cpu"))


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
    p.add_argument("--data", type=Path, default=DATA, help="cil2016 folder")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a temp dir)")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"{args.data}: absent; nothing to benchmark", file=sys.stderr)
        return 2
    kw, size, batch, lr = PRESETS[args.model]
    kw = args.arch_kwargs if args.arch_kwargs is not None else kw
    size = args.slice or size
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
    whole = score_whole_images(res.best_path, args.data)
    minutes = res.seconds / 60
    print(
        f"\n{args.model}: {res.epochs_run} epochs in {minutes:.1f} min, best epoch "
        f"{res.best_epoch}; validation (10 whole images): precision {whole['precision']:.4f} "
        f"recall {whole['recall']:.4f} F1 {whole['f1']:.4f} IoU {whole['iou']:.4f}\n"
        f"run folder: {out}"
    )
    if not args.no_record:
        cmd = "python benchmarks/train_cil.py " + shlex.join(sys.argv[1:])
        line = (
            f"- {dt.date.today()} train_cil | {os.cpu_count()} cores, {cpu_model()} | "
            f"`{cmd.strip()}` | {args.model} {kw} slice {size} batch {cfg.batch_size} "
            f"lr {cfg.lr} {cfg.loss}: {res.epochs_run} epochs, {minutes:.1f} min, "
            f"val F1 {whole['f1']:.4f} (P {whole['precision']:.3f} R {whole['recall']:.3f}, "
            f"IoU {whole['iou']:.4f})\n"
        )
        with RESULTS.open("a") as fh:
            fh.write(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
