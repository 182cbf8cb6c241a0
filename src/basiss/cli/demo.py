"""`basiss demo`: the whole pipeline on the embedded sample, end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

from basiss.cli._common import add_device_arguments, non_negative_int, positive, positive_int

HELP = "run the whole pipeline end to end on the embedded synthetic sample"
DESCRIPTION = """\
The main job: write the synthetic SpaceNet-like sample, make masks (with
figures), train a light U-Net for a few minutes, predict the broad-area scene
(streaming, cosine blend) and the test chips, evaluate (strict and relaxed F1)
and write OUT/report.md and OUT/report.json. About five minutes on a 2-core CPU."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``basiss demo``."""
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of sample, split and training"
    )
    parser.add_argument(
        "--train-minutes", type=positive, default=3.0, help="training budget in minutes"
    )
    parser.add_argument(
        "--broad-size", type=positive_int, default=6000, help="broad-area scene side (pixels)"
    )
    parser.add_argument(
        "--chip-size", type=positive_int, default=1300, help="training chip side (pixels)"
    )
    parser.add_argument("--n-train", type=positive_int, default=8, help="training chips")
    add_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from basiss.demo import DemoConfig, run_demo

    config = DemoConfig(
        out=args.out,
        seed=args.seed,
        n_train=args.n_train,
        chip_size=args.chip_size,
        broad_size=args.broad_size,
        train_minutes=args.train_minutes,
        threads=args.threads,
        device=args.device,
    )
    result = run_demo(config, log=lambda line: print(line, flush=True))
    s = result.summary
    print()
    net = s["network"]
    print(
        f"broad scene: F1 {s['f1']:.3f} (strict), relaxed F1 {s['relaxed_f1']:.3f} "
        f"at {s['relax_px']} px; road network APLS {net['apls']:.3f} (SpaceNet 3), "
        f"TOPO F1 {net['topo_f1']:.3f}; total {s['seconds']['total']:.0f} s"
    )
    print(f"report: {result.report_md}  (and {result.report_json.name}, figures/ beside it)")
    print(f"map (static, opens from disk): {result.report_md.parent / 'view' / 'index.html'}")
    print(f"map (live, any zoom):  {s['view_command']}")
    return 0
