"""`basiss sample`: write the synthetic SpaceNet-3-like dataset (and a preview)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from basiss.cli._common import non_negative_int, positive_int
from basiss.errors import file_error

HELP = "write a synthetic SpaceNet-3-like road dataset (the embedded default)"

DESCRIPTION = """\
Write a synthetic suburb shaped exactly like SpaceNet 3 road data, deterministic
from --seed: OUT_DIR/AOI_9_Sample_Train and _Test (RGB-PanSharpen 3-band and
MUL-PanSharpen 8-band uint16 11-bit chips at 0.3 m in EPSG:4326, with
geojson/spacenetroads centerlines) and OUT_DIR/broad_area (one large RGB scene
in the local UTM zone with its own centerlines), for inference at scale."""


def _size(text: str) -> int:
    value = positive_int(text)
    if value < 32:
        raise argparse.ArgumentTypeError(f"must be >= 32 pixels, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``basiss sample``."""
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write into")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="random seed; same seed, same bytes"
    )
    parser.add_argument(
        "--n-chips",
        "--n_chips",
        "--n-train",
        dest="n_chips",
        type=positive_int,
        default=8,
        help="number of training chips",
    )
    parser.add_argument(
        "--n-test", "--n_test", type=non_negative_int, default=2, help="number of test chips"
    )
    parser.add_argument(
        "--chip-size",
        "--chip_size",
        type=_size,
        default=1300,
        help="chip side in pixels (SpaceNet 3: 1300)",
    )
    parser.add_argument(
        "--broad-size",
        "--broad_size",
        type=_size,
        default=6000,
        help="side of the broad-area scene in pixels (0.3 m each)",
    )
    parser.add_argument(
        "--preview",
        type=Path,
        default=None,
        metavar="PNG",
        help="also write a PNG preview: one chip and the broad scene with labels overlaid",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into OUT_DIR even when it already holds files",
    )


def _count_features(path: Path) -> int:
    return len(json.loads(path.read_text(encoding="utf-8"))["features"])


def _mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def run(args: argparse.Namespace) -> int:
    from basiss.synthetic import (
        DEG_PER_PX,
        PLACE,
        UTM_EPSG,
        image_ids,
        labels_path,
        write_sample,
    )
    from basiss.viz.sample import write_preview

    out: Path = args.out_dir
    if out.exists() and not out.is_dir():
        raise file_error(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise file_error(out, "already holds files; pass --overwrite to write into it anyway")
    start = time.perf_counter()
    layout = write_sample(
        out,
        seed=args.seed,
        n_train=args.n_chips,
        n_test=args.n_test,
        chip_size=args.chip_size,
        broad_size=args.broad_size,
    )
    seconds = time.perf_counter() - start
    size = args.chip_size
    print(
        f"basiss sample: synthetic suburb near {PLACE}, seed {args.seed}, "
        f"written in {seconds:.1f} s"
    )
    total = 0.0
    for name, folder in (("train", layout.train_dir), ("test", layout.test_dir)):
        ids = image_ids(folder)
        files = [p for p in folder.rglob("*") if p.is_file()]
        total += _mb(files)
        n_lines = sum(_count_features(labels_path(folder, i)) for i in ids)
        shown = ", ".join(f"img{i}" for i in ids) or "none"
        print(
            f"  {name:5s} {folder}: {len(ids)} chips ({shown}), {size}x{size} px, "
            f"EPSG:4326 at {DEG_PER_PX:g} deg/px (0.3 m); RGB-PanSharpen 3-band + "
            f"MUL-PanSharpen 8-band uint16 (11-bit); {n_lines} centerlines; {_mb(files):.0f} MB"
        )
    broad = [layout.broad_image, layout.broad_labels]
    total += _mb(broad)
    bsize = args.broad_size
    print(
        f"  broad {layout.broad_image}: {bsize}x{bsize} px, EPSG:{UTM_EPSG} at 0.3 m "
        f"({bsize * 0.3 / 1000:.2f} km square), 3-band uint16; "
        f"{_count_features(layout.broad_labels)} centerlines in {layout.broad_labels.name}; "
        f"{_mb(broad):.0f} MB"
    )
    print(f"  total {total:.0f} MB")
    if args.preview is not None:
        png = write_preview(layout, args.preview)
        print(f"  preview {png}")
    print("next steps:")
    print(
        f"  basiss masks --path-data {layout.train_dir} --output-csv {out / 'train.csv'}"
        "   # centerlines -> road masks + file list"
    )
    print("  basiss demo   # the whole pipeline on this sample")
    return 0
