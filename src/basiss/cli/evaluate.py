"""`basiss evaluate`: score road predictions against the truth (precision, recall, F1, IoU)."""

from __future__ import annotations

import argparse
import sys

from basiss.cli._common import fraction, non_negative_int, positive

HELP = "score predictions against the truth: pixels (F1, IoU, relaxed F1), networks (APLS, TOPO)"

DESCRIPTION = """\
Score road predictions against the truth, per image and over all images.

PRED and TRUTH are files or folders; files pair up by image id (the name
without known prefixes/suffixes such as RGB-PanSharpen_, spacenetroads_,
_prob, _mask; else the trailing img<digits>). Predictions are probability
rasters (uint8 0..255 or float 0..1) or 0/1 masks; truth is a mask raster
(0/1, or 0/255 thresholded at 127) or centerline GeoJSON, buffered by
--buffer-meters and rasterized on the prediction's grid.

Road networks (basiss graph / predict --graph outputs: *_graph.gpkg, .graphml,
.geojson, a SpaceNet CSV) are scored against centerline GeoJSON (or networks)
with APLS (SpaceNet 3's metric: both directions and their harmonic mean) and
TOPO. A folder holding rasters and networks gets both scores.

Writes REPORT.json (micro, macro, per image, best threshold, relaxed) and
REPORT.csv beside it (one row per image), REPORT_network.json/.csv for the
network scores, and prints the tables."""


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
        "its all-zero pixels are left out of the counts; georeferences SpaceNet CSV networks",
    )
    net = parser.add_argument_group("road networks (APLS, TOPO)")
    net.add_argument(
        "--apls",
        choices=("spacenet3", "apls_head"),
        default="spacenet3",
        help="APLS parameters: spacenet3 (control points every 200 m on curved edges, 500 "
        "nodes) or apls_head (every 50 m on every edge, 1000 nodes); 4 m snapping",
    )
    net.add_argument("--no-topo", action="store_true", help="skip TOPO (holes and marbles)")
    net.add_argument("--seed", type=non_negative_int, default=0, help="seeds node sampling")


def run(args: argparse.Namespace) -> int:
    """Evaluate pixels and/or networks, print the tables and say where the reports went."""
    from basiss.evaluation.matching import prediction_kinds

    rasters, networks = prediction_kinds(args.pred)
    if rasters or not networks:
        _run_pixels(args)
    if networks:
        _run_networks(args)
    if args.plots:
        print(f"figures: {args.plots}")
    return 0


def _warn_unmatched(sides: dict[str, list[str]]) -> None:
    for side, missed in sides.items():
        if missed:
            shown = ", ".join(missed[:5]) + (" ..." if len(missed) > 5 else "")
            print(
                f"basiss evaluate: warning: {len(missed)} {side} file(s) without a match: {shown}",
                file=sys.stderr,
            )


def _run_pixels(args: argparse.Namespace) -> None:
    from basiss.evaluation import evaluate, format_table

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
    unmatched = report.unmatched
    _warn_unmatched({s: [str(p) for p in getattr(unmatched, s)] for s in ("pred", "truth")})
    for r in report.refused:
        print(f"basiss evaluate: warning: {r.path}: {r.reason}", file=sys.stderr)
    if args.out:
        print(f"report: {args.out}")


def _run_networks(args: argparse.Namespace) -> None:
    from pathlib import Path

    from basiss.evaluation.networks import (
        DEFAULT_TOPO,
        evaluate_networks,
        format_network_table,
    )

    out = None
    if args.out:
        o = Path(args.out)
        out = o.with_name(f"{o.stem}_network.json")
    report = evaluate_networks(
        args.pred,
        args.truth,
        out_json=out,
        params=args.apls,
        topo_params=None if args.no_topo else DEFAULT_TOPO,
        image=args.image,
        plots_dir=args.plots,
        seed=args.seed,
    )
    print(f"road networks, APLS ({report.preset}) and TOPO:")
    print(format_network_table(report))
    _warn_unmatched(
        {
            "network": [str(p) for p in report.unmatched_pred],
            "truth": [str(p) for p in report.unmatched_truth],
        }
    )
    if out is not None:
        print(f"network report: {out}")
