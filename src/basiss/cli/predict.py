"""`basiss predict`: road probability and mask GeoTIFFs for images of any size."""

from __future__ import annotations

import argparse
from dataclasses import replace

from basiss.cli._common import (
    add_batch_argument,
    add_chip_arguments,
    add_device_arguments,
    chip_pair,
    fraction,
    non_negative_int,
    positive,
    positive_int,
)
from basiss.cli.graph import add_graph_options, options_from_args

HELP = "predict road maps for images of any size (streaming sliding window)"
DESCRIPTION = """\
Run a trained checkpoint over whole images with the training chip grid,
blend the overlapping chips and stream DIR/<stem>_prob.tif (uint8 probability
0..255, one band per road class) and DIR/<stem>_mask.tif (0/1 at --threshold)
on the input's exact grid. Memory depends on image width, not height.
Inputs: image files, folders (their *.tif) or file-list CSVs (im_file column).
With --scheduler the images (and large images cut into blocks of chip rows)
are spread over Dask workers; the outputs are the same, bit for bit.
With --graph the road network of each probability is written beside it
(DIR/<stem>_graph.gpkg, .geojson, .graphml, .csv; see 'basiss graph --help'
for the extraction options, which apply here too; its threshold is
--threshold), on the Dask workers too."""


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--device``, ``--threads``, ``--precision`` and the int8 calibration."""
    eng = parser.add_argument_group("engine")
    eng.add_argument(
        "--engine",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="auto: onnx on CPU, torch on CUDA (the choice is said once); torch; onnx "
        "(onnxruntime on CPU, the export cached in $BASISS_CACHE_DIR/onnx or "
        "~/.cache/basiss/onnx)",
    )
    add_device_arguments(eng)
    eng.add_argument(
        "--precision",
        choices=("fp32", "fp16", "int8"),
        default="fp32",
        help="fp16: torch autocast, CUDA only; int8: onnxruntime static quantization "
        "(CPU; 1.3-1.8x fp32 measured on 2 AVX2 cores), calibrated on chips of the images "
        "predicted or of --calibration; its probability error against fp32 is printed",
    )
    eng.add_argument(
        "--calibration",
        nargs="+",
        default=None,
        metavar="FILE_LIST_OR_IMAGE",
        help="int8: images, folders or file-list CSVs to calibrate on; unset: the images "
        "being predicted",
    )
    eng.add_argument(
        "--calibration-chips",
        "--calibration_chips",
        type=positive_int,
        default=16,
        metavar="N",
        help="int8: non-empty chips of the calibration sample (seeded)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``basiss predict``."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="images, folders or CSVs")
    parser.add_argument(
        "--weights",
        "--model_weights",
        required=True,
        metavar="CKPT",
        help="checkpoint file (e.g. RUN_DIR/best.pt)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_chip_arguments(
        parser,
        slice_help="; unset: the checkpoint's",
        stride_help="; unset: the checkpoint's (scaled to --slice when that is given)",
    )
    add_batch_argument(parser, default=4)
    parser.add_argument(
        "--blend",
        choices=("cosine", "mean"),
        default="cosine",
        help="cosine: tapered weights, no seams; mean: the seed's plain average",
    )
    parser.add_argument(
        "--threshold", type=fraction, default=0.5, help="mask = probability >= threshold"
    )
    parser.add_argument("--tta", action="store_true", help="average the four flips (4x time)")
    scale = parser.add_argument_group("ground sample distance (GSD)")
    scale.add_argument(
        "--gsd",
        choices=("auto", "off"),
        default="auto",
        help="auto: when the checkpoint records its training GSD and the input's is known, "
        "resample each input to the model's GSD on the fly (window by window) and put the "
        "prediction back on the input's grid; when a GSD is unknown, resample by the "
        "model's training zoom (basiss train --zoom; 1 for most models); off: predict the "
        "input as it is",
    )
    scale.add_argument(
        "--input-gsd",
        type=positive,
        default=None,
        metavar="METRES",
        help="the inputs' GSD, for rasters without a CRS (PNG/JPEG); unset: from each CRS",
    )
    _add_engine_arguments(parser)
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="run on Dask: local:N (N worker processes on this machine) or tcp://HOST:PORT "
        "(a running 'dask scheduler'; paths must be the same on every machine); "
        "unset: this process only",
    )
    parser.add_argument(
        "--block-rows",
        "--block_rows",
        type=positive_int,
        default=None,
        help="with --scheduler: chip rows per block of a large scene; unset: automatic",
    )
    parser.add_argument(
        "--retries",
        type=non_negative_int,
        default=2,
        help="with --scheduler: re-runs of a failed task before giving up",
    )
    net = parser.add_argument_group("road network (--graph; lengths in metres)")
    net.add_argument("--graph", action="store_true", help="also write each scene's road network")
    add_graph_options(net, skip=("threshold",))


def run(args: argparse.Namespace) -> int:
    """Predict every input; print one line per image."""
    from basiss.inference.predict import PredictOptions, predict_many
    from basiss.inference.predictor import with_calibration

    options = PredictOptions(
        slice=chip_pair(args, "slice"),
        stride=chip_pair(args, "stride"),
        batch_size=args.batch_size,
        blend=args.blend,
        threshold=args.threshold,
        tta=args.tta,
        engine=args.engine,
        device=args.device,
        threads=args.threads,
        precision=args.precision,
        calibration=args.calibration,
        calibration_chips=args.calibration_chips,
        gsd=args.gsd,
        input_gsd=args.input_gsd,
    )
    # int8 calibrates on the images predicted, the same set in one process or on Dask.
    options = with_calibration(options, args.images)
    graph = None
    if args.graph:
        graph = replace(options_from_args(args), threshold=args.threshold)
    if args.scheduler is None:
        outputs = predict_many(args.images, args.weights, args.out, options, graph=graph)
    else:
        from basiss.inference.distributed import predict_distributed

        outputs = predict_distributed(
            args.images,
            args.weights,
            args.out,
            options,
            scheduler=args.scheduler,
            block_rows=args.block_rows,
            retries=args.retries,
            graph=graph,
        )
    for out in outputs:
        print(
            f"{out.prob_path}  {out.mask_path}  {out.chips}/{out.chips_total} chips  "
            f"{out.seconds:.1f} s  {out.mpx_per_s:.2f} Mpx/s"
        )
        if out.graph_paths:
            print(f"  road network: {', '.join(str(p) for p in out.graph_paths.values())}")
    return 0
