"""`basiss masks`: road masks from centerlines (a SpaceNet AOI folder or one image)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from basiss.cli._common import default_workers, percentile, positive, positive_int
from basiss.labels.widths import DEFAULT_LANES, METERS_PER_LANE

HELP = "road masks (and 8-bit images, file list) from centerline labels"

DESCRIPTION = """\
Make training masks from road centerlines: each centerline is buffered
--buffer-meters on each side in the image's local UTM zone and burnt onto the
image's exact grid (uint8 GeoTIFF, 0 background, 1 road). Folder mode
(--path-data AOI_2_Vegas_Train --output-csv file_locs.csv) processes a
SpaceNet AOI folder: 8-bit images into RGB-PanSharpen_8bit/ (MUL-PanSharpen_8bit/
with --n-bands 8), masks into masks_2m/ (named after the buffer), figures with
--make-plots, and the file-list CSV. Single-image mode (--image IMG --labels
GEOJSON --out MASK.tif) writes one mask. Warnings and per-image errors are
printed one per line on stderr; the exit status is non-zero when any image failed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of both modes."""
    folder = parser.add_argument_group("SpaceNet folder mode")
    folder.add_argument(
        "--path-data",
        "--path_data",
        type=Path,
        help="AOI folder with RGB-PanSharpen/ or MUL-PanSharpen/ and geojson/spacenetroads/",
    )
    folder.add_argument(
        "--output-csv",
        "--output_df_path",
        type=Path,
        help="file-list CSV to write; unset: PATH_DATA/file_locs.csv",
    )
    folder.add_argument(
        "--n-bands",
        "--n_bands",
        type=int,
        choices=(3, 8),
        default=3,
        help="3: RGB-PanSharpen, 8: MUL-PanSharpen",
    )
    folder.add_argument(
        "--make-plots",
        "--make_plots",
        action="store_true",
        help="also write a 4-panel figure per image (centerlines, image, mask, overlay)",
    )
    folder.add_argument(
        "--overwrite",
        "--overwrite_ims",
        action="store_true",
        help="redo outputs that already exist (else they are kept)",
    )
    folder.add_argument(
        "--workers",
        type=positive_int,
        default=default_workers(),
        help="processes working on images in parallel",
    )
    folder.add_argument(
        "--percentiles",
        type=percentile,
        nargs=2,
        default=(2.0, 98.0),
        metavar=("LOW", "HIGH"),
        help="per-band percentiles of the 16->8 bit stretch",
    )
    single = parser.add_argument_group("single image mode")
    single.add_argument("--image", type=Path, help="reference image (the mask takes its grid)")
    single.add_argument("--labels", type=Path, help="road centerlines (GeoJSON, any CRS)")
    single.add_argument("--out", type=Path, help="mask GeoTIFF to write")
    parser.add_argument(
        "--allow-empty",
        "--allow_empty",
        action="store_true",
        help="keep an all-zero mask when every road of an image misses it (by default that "
        "image fails, likely a CRS mistake, and is left out of the file list)",
    )
    _add_width_arguments(parser.add_argument_group("road width"))


def _add_width_arguments(width: argparse._ArgumentGroup) -> None:
    """How wide a road is burnt: a buffer in metres, or lanes times a lane width."""
    width.add_argument(
        "--buffer-meters",
        "--buffer_meters",
        type=positive,
        default=2.0,
        help="buffer on each side of a centerline, metres (a road is twice as wide)",
    )
    width.add_argument(
        "--width-from-lanes",
        action="store_true",
        help="width of each road = lane_number x --meters-per-lane (ignores --buffer-meters)",
    )
    width.add_argument(
        "--meters-per-lane", type=positive, default=METERS_PER_LANE, help="lane width, metres"
    )
    width.add_argument(
        "--default-lanes",
        type=positive_int,
        default=DEFAULT_LANES,
        metavar="N",
        help="lanes of a road without a valid lane_number",
    )


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(f"basiss masks: {line}", file=sys.stderr)


def _run_single(args: argparse.Namespace) -> int:
    from basiss.labels.centerlines import LabelWarning, write_road_mask

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LabelWarning)
        out = write_road_mask(
            args.labels,
            args.image,
            args.out,
            args.buffer_meters,
            width_from_lanes=args.width_from_lanes,
            meters_per_lane=args.meters_per_lane,
            default_lanes=args.default_lanes,
            allow_empty=args.allow_empty,
        )
    _print_lines([f"warning: {w.message}" for w in caught if issubclass(w.category, LabelWarning)])
    print(f"mask: {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the folder or the single-image mode."""
    single = (args.image, args.labels, args.out)
    if args.path_data is not None:
        if any(v is not None for v in single):
            print(
                "basiss masks: error: give --path-data or --image/--labels/--out, not both",
                file=sys.stderr,
            )
            return 2
        from basiss.labels.spacenet import prepare_spacenet

        report = prepare_spacenet(
            args.path_data,
            args.output_csv or args.path_data / "file_locs.csv",
            n_bands=args.n_bands,
            buffer_meters=args.buffer_meters,
            make_plots=args.make_plots,
            overwrite=args.overwrite,
            workers=args.workers,
            width_from_lanes=args.width_from_lanes,
            meters_per_lane=args.meters_per_lane,
            default_lanes=args.default_lanes,
            lower=args.percentiles[0],
            upper=args.percentiles[1],
            allow_empty=args.allow_empty,
        )
        _print_lines(report.messages)
        print(f"masks: {report.summary()}")
        return 0 if report.ok and report.pairs else 1
    if all(v is not None for v in single):
        return _run_single(args)
    print(
        "basiss masks: error: give --path-data DIR, or all of --image, --labels and --out",
        file=sys.stderr,
    )
    return 2
