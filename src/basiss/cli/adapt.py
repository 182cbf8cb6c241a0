"""`basiss adapt`: fit a trained model's BatchNorm statistics to unlabelled imagery."""

from __future__ import annotations

import argparse
from pathlib import Path

from basiss.training.options import COUNT, DEVICE

HELP = "adapt a model to unlabelled imagery of the area to be mapped (no labels needed)"
DESCRIPTION = """\
Re-estimate every BatchNorm layer's running mean and variance on random chips
of the target imagery (AdaBN): a model trained on one source then sees another
source's activations centred as it learnt them. No weight is trained and no
label is read; the result is a new checkpoint for `basiss predict`. TARGET is
a folder of images (or a training folder with images/), a file-list CSV (its
images) or one image.

example:
  basiss adapt RUN/best.pt new_city/images --out RUN/best_new_city.pt"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `basiss adapt`."""
    parser.add_argument("checkpoint", type=Path, help="the trained model (.pt)")
    parser.add_argument("target", type=Path, help="folder, file-list CSV or image to adapt to")
    parser.add_argument("--out", type=Path, required=True, help="adapted checkpoint to write")
    parser.add_argument(
        "--chips", type=COUNT, default=256, metavar="N",
        help="random chips (the training chip size) to estimate the statistics on",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=COUNT, default=8, metavar="N", help="chips per pass")
    parser.add_argument("--seed", type=int, default=0, help="seed of the chip positions")
    parser.add_argument(*DEVICE.flags, **DEVICE.argparse_kwargs(), default="auto")


def run(args: argparse.Namespace) -> int:
    """Adapt, then print what changed."""
    from basiss.training.adapt import adapt_batchnorm

    r = adapt_batchnorm(
        args.checkpoint, args.target, args.out, chips=args.chips,
        batch_size=args.batch_size, seed=args.seed, device=args.device,
    )  # fmt: skip
    print(
        f"{r.layers} BatchNorm layers re-estimated on {r.chips} chips of {r.images} images "
        f"(mean shift {r.mean_shift:.3f} standard deviations)\ncheckpoint: {r.path}"
    )
    return 0
