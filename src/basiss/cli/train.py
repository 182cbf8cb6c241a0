"""`basiss train`: train a road-segmentation model on image/mask pairs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from basiss.cli._common import add_device_arguments, fraction, non_negative, positive, positive_int
from basiss.data.augment import Augment
from basiss.data.normalize import NORM_KINDS
from basiss.errors import BasissError
from basiss.models import model_names
from basiss.training.loop import MONITORS, OPTIMIZERS, SCHEDULES, TrainConfig, train
from basiss.training.losses import LOSSES

HELP = "train a road-segmentation model on chips of image/mask pairs"
DESCRIPTION = """\
Train a road-segmentation net on chips cut from image/mask pairs. Sources are
file-list CSVs (name, im_file, im_vis_file, mask_file, mask_vis_file) or folders
holding images/ and groundtruth/ (or masks/) files of the same name. Whole
images are held out for validation, per source; with several sources the log
has each source's validation F1 (val_f1_<source>) and --source-weights sets each
source's share of the training samples. Augmentation imitates imagery from other
sources (zoom, gain, contrast, gamma, colour, blur, noise); each part has an
option below (0, or 1 1 for ranges, switches it off). Writes OUT/best.pt (best
validation loss, or F1 with --monitor), OUT/last.pt (resumable) and OUT/log.csv."""


def add_augment_arguments(p: argparse.ArgumentParser) -> None:
    """The augmentation options; defaults are :meth:`basiss.data.augment.Augment.sources`."""
    d = Augment.sources()
    g = p.add_argument_group("augmentation (training chips only)")
    g.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="switch off all augmentation (geometric and photometric)",
    )
    g.add_argument(
        "--aug-photometric",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="photometric changes imitating other sources (the --aug-* values below)",
    )
    g.add_argument(
        "--aug-scale",
        type=positive,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=list(d.scale),
        help="zoom range (log-uniform) of image and mask; 1 1 = off",
    )
    g.add_argument(
        "--aug-rotate",
        type=non_negative,
        default=d.rotate,
        metavar="DEGREES",
        help="max rotation by any angle of image and mask (with the 90-degree turns, 45 "
        "covers every direction; a city's road grid otherwise teaches one orientation); 0 = off",
    )
    g.add_argument(
        "--aug-gain",
        type=positive,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=list(d.gain),
        help="multiplicative brightness range (log-uniform); 1 1 = off",
    )
    g.add_argument(
        "--aug-brightness",
        type=non_negative,
        default=d.brightness,
        help="max additive brightness shift, fraction of 255",
    )
    g.add_argument(
        "--aug-contrast",
        type=non_negative,
        default=d.contrast,
        help="max relative contrast change",
    )
    g.add_argument(
        "--aug-gamma",
        type=non_negative,
        default=d.gamma,
        help="gamma drawn in [1/(1+G), 1+G]",
    )
    g.add_argument(
        "--aug-band-gain",
        type=non_negative,
        default=d.band_gain,
        help="max relative gain per band (colour balance)",
    )
    g.add_argument(
        "--aug-saturation",
        type=non_negative,
        default=d.saturation,
        help="max relative saturation change (3-band images)",
    )
    g.add_argument(
        "--aug-hue", type=non_negative, default=d.hue, help="max hue rotation in turns (3 bands)"
    )
    g.add_argument(
        "--aug-blur", type=non_negative, default=d.blur, help="max Gaussian blur sigma in pixels"
    )
    g.add_argument(
        "--aug-noise",
        type=non_negative,
        default=d.noise,
        help="max std of Gaussian sensor noise (0..255 scale)",
    )
    g.add_argument(
        "--aug-p",
        type=fraction,
        default=d.p,
        help="probability of each of gain, gamma, band gain, saturation, hue, blur, noise, zoom, "
        "rotation",
    )


def augment_from_args(args: argparse.Namespace) -> Augment:
    """The :class:`Augment` the parsed options describe (a bad range is a one-line error)."""
    try:
        aug = Augment(
            brightness=args.aug_brightness,
            contrast=args.aug_contrast,
            gain=(min(args.aug_gain), max(args.aug_gain)),
            gamma=args.aug_gamma,
            band_gain=args.aug_band_gain,
            saturation=args.aug_saturation,
            hue=args.aug_hue,
            blur=args.aug_blur,
            noise=args.aug_noise,
            scale=(min(args.aug_scale), max(args.aug_scale)),
            rotate=args.aug_rotate,
            p=args.aug_p,
        )
    except ValueError as err:
        raise BasissError(f"augmentation: {err}") from None
    return aug if args.aug_photometric else aug.without_photometric()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `basiss train` (seed spellings accepted as aliases)."""
    p = parser
    p.add_argument(
        "--file-list",
        "--file_list",
        dest="file_lists",
        action="append",
        type=Path,
        required=True,
        metavar="CSV_OR_FOLDER",
        help="file-list CSV or folder of image/mask pairs; repeat for several sources",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and log")
    p.add_argument("--arch", choices=model_names(), default="unet-small", help="architecture")
    p.add_argument(
        "--arch-kwargs",
        type=json.loads,
        default={},
        help="JSON keyword arguments of the architecture, e.g. '{\"base\": 24}'",
    )
    p.add_argument(
        "--n-bands",
        "--n_bands",
        type=positive_int,
        default=3,
        help="image bands the model reads (the first N; RGBA with alpha reads as RGB)",
    )
    p.add_argument(
        "--n-classes",
        "--n_classes",
        type=positive_int,
        default=1,
        help="1 = sigmoid road; 2 = the seed's softmax background + road",
    )
    p.add_argument("--slice", type=positive_int, default=400, help="chip size in pixels (x and y)")
    p.add_argument(
        "--slice_x", "--slice-x", type=positive_int, help="chip width (overrides --slice)"
    )
    p.add_argument(
        "--slice_y", "--slice-y", type=positive_int, help="chip height (overrides --slice)"
    )
    p.add_argument(
        "--stride",
        type=positive_int,
        default=None,
        help="chip step in pixels, x and y (default: 3/4 of the chip, the seed's 300 for 400)",
    )
    p.add_argument(
        "--stride_x", "--stride-x", type=positive_int, help="step in x (overrides --stride)"
    )
    p.add_argument(
        "--stride_y", "--stride-y", type=positive_int, help="step in y (overrides --stride)"
    )
    p.add_argument(
        "--batch-size", "--batchsize", type=positive_int, default=4, help="chips per step"
    )
    p.add_argument("--epochs", type=positive_int, default=50, help="maximum epochs")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument(
        "--weight-decay",
        type=float,
        default=None,
        help="weight decay (default: 1e-2 adamw, else 0)",
    )
    p.add_argument("--loss", choices=LOSSES, default="bce", help="training loss")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="cosine",
        help="cosine over the run (epochs or --max-minutes) or halve on plateau",
    )
    p.add_argument(
        "--validation-split",
        "--validation_split",
        type=fraction,
        default=0.1,
        help="fraction of images (per source) held out for validation",
    )
    p.add_argument(
        "--early-stopping-patience",
        "--early_stopping_patience",
        type=positive_int,
        default=4,
        help="stop after this many epochs without improvement",
    )
    p.add_argument(
        "--monitor", choices=MONITORS, default="val_loss", help="score for best.pt and early stop"
    )
    p.add_argument(
        "--random-crop",
        action="store_true",
        help="sample a random window of each chip's image instead of the grid window",
    )
    p.add_argument(
        "--mask-threshold",
        "--mask_threshold",
        type=float,
        default=0.0,
        help="mask values above this are road (CIL anti-aliased masks: 127)",
    )
    p.add_argument(
        "--norm",
        choices=NORM_KINDS,
        default="image",
        help="input normalisation: image = each chip standardised per band (robust to another "
        "source's brightness and contrast), fixed = x/255, dataset = training-set statistics",
    )
    p.add_argument(
        "--source-weights",
        type=non_negative,
        nargs="+",
        default=None,
        metavar="W",
        help="sampling weight of each --file-list, in order (a source's share of the training "
        "samples, drawn with replacement); default: every chip once per epoch",
    )
    p.add_argument(
        "--max-minutes", type=float, default=None, help="wall-clock budget; stops cleanly"
    )
    p.add_argument(
        "--max-chips-per-epoch",
        type=positive_int,
        default=None,
        help="cap each epoch at this many randomly chosen chips",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument(
        "--workers", type=int, default=0, help="data-loader worker processes (0 = in process)"
    )
    p.add_argument(
        "--no-channels-last",
        dest="channels_last",
        action="store_false",
        help="keep the default memory format (channels-last is faster for BatchNorm nets on CPU)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of split, weights and augmentation")
    add_device_arguments(p)
    add_augment_arguments(p)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed options describe."""
    sx = args.slice_x or args.slice
    sy = args.slice_y or args.slice
    tx = args.stride_x or args.stride or max(1, round(0.75 * sx))
    ty = args.stride_y or args.stride or max(1, round(0.75 * sy))
    return TrainConfig(
        file_lists=list(args.file_lists),
        out=args.out,
        arch=args.arch,
        arch_kwargs=dict(args.arch_kwargs),
        n_bands=args.n_bands,
        n_classes=args.n_classes,
        slice=(sx, sy),
        stride=(tx, ty),
        batch_size=args.batch_size,
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        loss=args.loss,
        optimizer=args.optimizer,
        schedule=args.schedule,
        validation_split=args.validation_split,
        early_stopping_patience=args.early_stopping_patience,
        monitor=args.monitor,
        augment=args.augment,
        augmentation=augment_from_args(args),
        source_weights=list(args.source_weights) if args.source_weights else None,
        random_crop=args.random_crop,
        mask_threshold=args.mask_threshold,
        norm=args.norm,
        max_minutes=args.max_minutes,
        max_chips_per_epoch=args.max_chips_per_epoch,
        resume=args.resume,
        device=args.device,
        threads=args.threads,
        workers=args.workers,
        channels_last=args.channels_last,
        seed=args.seed,
    )


def _print_row(row: dict[str, float]) -> None:
    per_source = [k for k in row if k.startswith("val_f1_")]
    sources = ""
    if len(per_source) > 1:
        sources = " [" + ", ".join(f"{k[7:]} {row[k]:.4f}" for k in per_source) + "]"
    print(
        f"epoch {int(row['epoch'])}: train_loss {row['train_loss']:.4f} "
        f"val_loss {row['val_loss']:.4f} val_f1 {row['val_f1']:.4f}{sources} "
        f"val_iou {row['val_iou']:.4f} ({row['seconds']:.0f} s, {row['chips_per_s']:.2f} chips/s)",
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    """Train, print one line per epoch and a summary."""
    result = train(config_from_args(args), on_epoch=_print_row)
    m = result.val_metrics
    print(
        f"best epoch {result.best_epoch} ({result.stopped}, {result.epochs_run} epochs, "
        f"{result.seconds / 60:.1f} min): val_loss {result.best_val_loss:.4f} "
        f"precision {m['precision']:.4f} recall {m['recall']:.4f} f1 {m['f1']:.4f} "
        f"iou {m['iou']:.4f}\ncheckpoint: {result.best_path}"
    )
    return 0
