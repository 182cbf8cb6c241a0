"""Does a road model depend on the direction roads run? F1 on images turned by an angle.

Road grids of one city run mostly one way (cil2016's Chicago streets are
nearly all along the image axes). A net trained on them can learn that
orientation and miss the diagonal roads of another city. This scores a
checkpoint on the same images turned by 0, 30 and 45 degrees: one centred
chip per image (the largest multiple of 16 that a 45-degree turn keeps inside
the image; 272 px for 400 px images), turned with the training code's own
resampling (bilinear image, nearest mask, :func:`basiss.data.augment.warp_pair`).
A model that does not care about orientation scores about the same at every
angle.

    .venv/bin/python benchmarks/orientation.py best.pt
    .venv/bin/python benchmarks/orientation.py best.pt --source ../shared/data/cil2022_train

By default the images are the checkpoint's own validation images of cil2016
(``val_images`` in the checkpoint); ``--source`` scores every image of
another folder. Appends one line to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from basiss.data.dataset import Chip, ChipDataset, discover_pairs, image_info, source_name
from basiss.training.checkpoint import load_checkpoint
from basiss.training.losses import make_loss
from basiss.training.validation import validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, add_record_args, print_table, record  # noqa: E402


def inscribed_chip(width: int, height: int) -> int:
    """Side of the largest square chip (a multiple of 16) whose 45-degree turn fits the image."""
    side = int(min(width, height) / math.sqrt(2.0))
    return max(16, side // 16 * 16)


class Turned(Dataset):
    """One centred chip per image, turned by a fixed angle, normalised as the checkpoint says."""

    def __init__(self, base: ChipDataset, angle: float) -> None:
        self.base, self.angle = base, angle

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.base.read(i, None, 1.0, self.angle)
        x = self.base.norm.apply(image.astype(np.float32))
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(mask)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("weights", type=Path, help="a basiss checkpoint (best.pt)")
    p.add_argument(
        "--source",
        type=Path,
        default=None,
        help="score every image of this folder (default: the checkpoint's cil2016 validation "
        "images)",
    )
    p.add_argument("--angles", type=float, nargs="+", default=[0.0, 30.0, 45.0], help="degrees")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    add_record_args(p)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model, spec = load_checkpoint(args.weights)
    source = args.source or DATA / "cil2016"
    pairs = discover_pairs(source)
    if args.source is None:
        names = set(spec.extra.get("val_images", []))
        chosen = [i for i, pr in enumerate(pairs) if pr.name in names]
    else:
        chosen = list(range(len(pairs)))
    if not chosen:
        raise SystemExit(f"{source}: no images to score")
    infos = [image_info(pr, spec.in_channels) for pr in pairs]
    side = min(inscribed_chip(infos[i].width, infos[i].height) for i in chosen)
    chips = [Chip(i, (infos[i].width - side) // 2, (infos[i].height - side) // 2) for i in chosen]
    base = ChipDataset(
        pairs, infos, chips, (side, side), spec.normalisation, spec.mask_threshold, spec.n_classes
    )
    rows = []
    for angle in args.angles:
        loader = DataLoader(Turned(base, angle), batch_size=4)
        v = validate(model, loader, make_loss("bce"), spec.n_classes, torch.device("cpu"))
        m = v.metrics()
        rows.append((angle, m["precision"], m["recall"], m["f1"]))
    base.close()
    label = f"{source_name(source)} {'val' if args.source is None else 'all'}"
    print_table(
        ["angle", "P", "R", "F1"],
        rows,
        [">6.1f", ">6.3f", ">6.3f", ">6.3f"],
        note=f"{label}: {len(chosen)} images, {side} px centred chips; {args.weights}",
    )
    if not args.no_record:
        f1s = ", ".join(f"{a:g} deg F1 {f1:.4f}" for a, _, _, f1 in rows)
        record("orientation", f"{spec.arch} on {label} ({len(chosen)} images, {side} px): {f1s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
