"""`basiss adapt`: fit a trained model to unlabelled imagery (AdaBN, or pseudo-labels)."""

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

--pseudo-labels DIR instead writes the model's confident predictions on TARGET
as training masks (road where the probability is >= --confidence, background
where it is <= 1 - --background-confidence; the pixels between left
unlabelled: training ignores them) and a file list
DIR/pseudo_labels.csv, for self-training: a `basiss train --init-from` run on
that list (alone, or beside labelled sources).

examples:
  basiss adapt RUN/best.pt new_city/images --out RUN/best_new_city.pt
  basiss adapt RUN/best.pt new_city/images --pseudo-labels new_city/pseudo
  basiss train --file-list new_city/pseudo/pseudo_labels.csv \\
      --init-from RUN/best.pt --mask-threshold 127 --max-minutes 10 --out RUN_new_city"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `basiss adapt`."""
    parser.add_argument("checkpoint", type=Path, help="the trained model (.pt)")
    parser.add_argument("target", type=Path, help="folder, file-list CSV or image to adapt to")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", type=Path, help="AdaBN: the adapted checkpoint to write")
    what.add_argument(
        "--pseudo-labels", type=Path, metavar="DIR",
        help="self-training: write pseudo-label masks and their file list to DIR",
    )  # fmt: skip
    parser.add_argument(
        "--confidence", type=float, default=0.9, metavar="P",  # = pseudo.CONFIDENCE (tested)
        help="pseudo-labels: road at probability >= P",
    )  # fmt: skip
    parser.add_argument(
        "--background-confidence", type=float, default=0.98, metavar="P",
        help="pseudo-labels: background at probability <= 1 - P (stricter than for roads: "
        "a model on new imagery calls many roads background with confidence)",
    )  # fmt: skip
    parser.add_argument(
        "--chips", type=COUNT, default=256, metavar="N",
        help="random chips (the training chip size) to estimate the statistics on",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=COUNT, default=8, metavar="N", help="chips per pass")
    parser.add_argument("--seed", type=int, default=0, help="seed of the chip positions")
    parser.add_argument(*DEVICE.flags, **DEVICE.argparse_kwargs(), default="auto")


def run(args: argparse.Namespace) -> int:
    """Adapt (or write pseudo-labels), then print what was done."""
    from basiss.training.adapt import adapt_batchnorm, target_images

    if args.pseudo_labels is not None:
        from basiss.inference.options import PredictOptions
        from basiss.training.pseudo import write_pseudo_labels

        opts = PredictOptions(device=args.device)
        images = target_images(args.target)
        res = write_pseudo_labels(
            args.checkpoint, images, args.pseudo_labels, args.confidence, opts,
            args.background_confidence,
        )  # fmt: skip
        print(
            f"pseudo-labels of {len(res.masks)} images: {res.labelled:.1%} of the pixels "
            f"labelled, {res.road:.1%} of those road\nfile list: {res.file_list}"
        )
        return 0

    r = adapt_batchnorm(
        args.checkpoint, args.target, args.out, chips=args.chips,
        batch_size=args.batch_size, seed=args.seed, device=args.device,
    )  # fmt: skip
    print(
        f"{r.layers} BatchNorm layers re-estimated on {r.chips} chips of {r.images} images "
        f"(mean shift {r.mean_shift:.3f} standard deviations)\ncheckpoint: {r.path}"
    )
    return 0
