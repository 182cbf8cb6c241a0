"""`basiss evaluate`: score road predictions against the truth (precision, recall, F1, IoU)."""

from __future__ import annotations

import argparse
import sys

from basiss.cli._common import fraction, non_negative_int, positive

HELP = "score predictions against truth masks or centerlines (F1, IoU, relaxed F1)"

DESCRIPTION = """\
Score road predictions against the truth, per image and over all images.

PRED and TRUTH are files or folders; files pair up by image id (the name
without known prefixes/suffixes such as RGB-PanSharpen_, spacenetroads_,
_prob, _mask; else the trailing img<digits>). Predictions are probability
rasters (uint8 0..255 or float 0..1) or 0/1 masks; truth is a mask raster
(0/1, or 0/255 thresholded at 127) or centerline GeoJSON, buffered by
--buffer-meters and rasterized on the prediction's grid.

Writes REPORT.json (micro, macro, per image, best threshold, relaxed) and
REPORT.csv beside it (one row per image), and prints a table."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `basiss evaluate`."""
    parser.add_argument("--pred", required=True, help="prediction raster or folder of them")
    parser.add_argument(
        "--truth", required=True, help="truth mask raster / centerline GeoJSON, or a folder"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="report JSON to write, with a CSV of the same stem beside it (omit: print only)",
    )
    parser.add_argument(
        "--threshold",
        type=fraction,
        default=0.5,
        help="probability at or above which a pixel is road",
    )
    parser.add_argument(
        "--relax-px",
        "--relax_px",
        dest="relax_px",
        type=non_negative_int,
        default=None,
        help="also report relaxed precision/recall/F1 with this tolerance in pixels "
        "(Mnih & Hinton 2010)",
    )
    parser.add_argument(
        "--buffer-meters",
        "--buffer_meters",
        dest="buffer_meters",
        type=positive,
        default=2.0,
        help="buffer each side of a GeoJSON centerline, in metres (as `basiss masks`)",
    )
    parser.add_argument(
        "--align",
        action="store_true",
        help="resample predictions onto the truth grid when size/transform/CRS differ "
        "(else that is an error)",
    )
    parser.add_argument(
        "--plots", default=None, metavar="DIR", help="write one figure per image in DIR"
    )
    parser.add_argument(
        "--image",
        default=None,
        help="imagery (file or folder, matched by id) drawn under the figures; "
        "its all-zero pixels are left out of the counts",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and say where the report went."""
    from basiss.evaluation.score import evaluate, format_table

    report = evaluate(
        args.pred,
        args.truth,
        out_json=args.out,
        threshold=args.threshold,
        relax_px=args.relax_px,
        buffer_meters=args.buffer_meters,
        align=args.align,
        plots_dir=args.plots,
        image=args.image,
    )
    print(format_table(report))
    plain = report.to_json() if hasattr(report, "to_json") else report
    for side in ("pred", "truth"):
        missed = plain["unmatched"][side]
        if missed:
            print(
                f"basiss evaluate: warning: {len(missed)} {side} file(s) without a match: "
                + ", ".join(missed[:5])
                + (" ..." if len(missed) > 5 else ""),
                file=sys.stderr,
            )
    if args.out:
        print(f"report: {args.out}")
    if args.plots:
        print(f"figures: {args.plots}")
    return 0
