"""Benchmark APLS and TOPO: seconds for a ~1000-node road network against a perturbed copy.

The truth is a street grid (cut at every crossing, so each crossing is a junction) in UTM
metres; the proposal is the same grid with every vertex jittered by up to 1.5 m and a
tenth of its segments removed (seeded). Timed: ``basiss.evaluation.apls.apls`` under both
presets and ``basiss.evaluation.topo.topo``.

    .venv/bin/python benchmarks/apls.py            # 32 x 32 grid: 1024 nodes
    .venv/bin/python benchmarks/apls.py --quick    # smoke run: 12 x 12 grid

Prints a table and appends one line to benchmarks/RESULTS.md (unless ``--no-record``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from shapely.geometry import LineString  # noqa: E402

from basiss.evaluation.apls import AplsParams, apls  # noqa: E402
from basiss.evaluation.topo import topo  # noqa: E402
from basiss.graph.from_lines import network_from_lines  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, print_table, record  # noqa: E402

UTM = "EPSG:32611"


def grid_lines(n: int, step: float, jitter: float, drop: float, seed: int) -> list[LineString]:
    """Segments of an n x n grid (spacing ``step`` m), vertices jittered, a share dropped."""
    rng = np.random.default_rng(seed)
    xy = np.stack(np.meshgrid(np.arange(n) * step, np.arange(n) * step), -1).astype(float)
    xy += rng.uniform(-jitter, jitter, xy.shape)
    segs = []
    for i in range(n):
        for j in range(n - 1):
            segs.append(LineString([xy[i, j], xy[i, j + 1]]))
            segs.append(LineString([xy[j, i], xy[j + 1, i]]))
    keep = rng.random(len(segs)) >= drop
    return [s for s, k in zip(segs, keep, strict=True) if k]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, append to RESULTS.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, default=32, help="grid side (nodes = side^2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 12 x 12 grid")
    add_record_args(p)
    args = p.parse_args(argv)
    if args.quick:
        args.grid = 12
    truth = network_from_lines(grid_lines(args.grid, 80.0, 0.0, 0.0, 0), UTM)
    prop = network_from_lines(grid_lines(args.grid, 80.0, 1.5, 0.1, 1), UTM)
    rows = []
    for name in ("spacenet3", "apls_head"):
        t0 = time.perf_counter()
        res = apls(truth, prop, AplsParams.preset(name), seed=0)
        rows.append((f"apls {name}", time.perf_counter() - t0, res.apls, res.n_truth_control))
    t0 = time.perf_counter()
    tres = topo(truth, prop, seed=0)
    rows.append(("topo", time.perf_counter() - t0, tres.f1, tres.n_starts))
    note = f"truth {truth.number_of_nodes()} nodes / {truth.number_of_edges()} edges"
    print_table(
        ["metric", "seconds", "score", "ctrl/starts"],
        rows,
        ["<16", ">8.2f", ">7.4f", ">11d"],
        note=note,
    )
    if not args.no_record:
        summary = f"{note}; " + ", ".join(f"{r[0]} {r[1]:.2f} s (score {r[2]:.3f})" for r in rows)
        record("apls", summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
