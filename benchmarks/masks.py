"""Benchmark `basiss masks`: SpaceNet-size chips per second, 1 worker vs all workers.

Each chip costs what a training-data run costs: the 16->8 bit stretch and
write of the image, the centerline buffering in UTM, the rasterized mask and
its write (no figures). Data is made in a temporary folder: ``basiss.synthetic.sample``
when it is installed, else synthetic 16-bit chips with a road grid.

    .venv/bin/python benchmarks/masks.py                 # 24 chips of 1300x1300, 3 bands
    .venv/bin/python benchmarks/masks.py --quick         # smoke run: 6 chips of 650x650

Prints a table and appends one line to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from basiss.labels.spacenet import BAND_FOLDERS, prepare_spacenet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, cores, cpu_model, print_table, record  # noqa: E402

DEG = 2.7e-6  # SpaceNet 3 pixel (0.3 m), degrees


def synthetic_aoi(root: Path, n_chips: int, size: int, n_bands: int, seed: int = 0) -> Path:
    """A SpaceNet-layout AOI of uint16 chips (smooth fields + noise) and a road grid each.

    Every chip has 6 roads (3 east-west, 3 north-south, 2 lanes), about what a
    SpaceNet 3 Vegas chip holds.
    """
    rng = np.random.default_rng(seed)
    aoi = root / "AOI_0_Bench_Train"
    folder = BAND_FOLDERS[n_bands]
    (aoi / folder).mkdir(parents=True)
    (aoi / "geojson" / "spacenetroads").mkdir(parents=True)
    cell = 20
    for i in range(n_chips):
        lon0, lat0 = -115.3 + i * 0.005, 36.2
        coarse = rng.integers(200, 1800, (n_bands, size // cell + 1, size // cell + 1))
        smooth = np.repeat(np.repeat(coarse, cell, axis=1), cell, axis=2)[:, :size, :size]
        arr = (smooth + rng.integers(0, 60, smooth.shape)).astype(np.uint16)
        name = f"AOI_0_Bench_img{i + 1}"
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": n_bands,
            "dtype": "uint16",
            "crs": "EPSG:4326",
            "transform": from_origin(lon0, lat0, DEG, DEG),
        }
        with rasterio.open(aoi / folder / f"{folder}_{name}.tif", "w", **profile) as dst:
            dst.write(arr)
        features = []
        for k in (0.25, 0.5, 0.75):
            lat = lat0 - k * size * DEG
            lon = lon0 + k * size * DEG
            for coords in (
                [[lon0 - DEG, lat], [lon0 + (size + 1) * DEG, lat]],
                [[lon, lat0 + DEG], [lon, lat0 - (size + 1) * DEG]],
            ):
                features.append(
                    {
                        "type": "Feature",
                        "properties": {"lane_number": "2"},
                        "geometry": {"type": "LineString", "coordinates": coords},
                    }
                )
        fc = {"type": "FeatureCollection", "features": features}
        label = aoi / "geojson" / "spacenetroads" / f"spacenetroads_{name}.geojson"
        label.write_text(json.dumps(fc))
    return aoi


def make_data(root: Path, n_chips: int, size: int, n_bands: int) -> tuple[Path, str]:
    """The AOI to benchmark on and where it came from."""
    try:
        from basiss.synthetic import write_sample  # type: ignore[import-not-found]
    except ImportError:
        return synthetic_aoi(root, n_chips, size, n_bands), "synthetic"
    layout = write_sample(root, seed=0, n_train=n_chips, n_test=1, chip_size=size, broad_size=size)
    return Path(layout.train_dir), "basiss.synthetic.sample"


def timed_run(aoi: Path, workers: int, n_bands: int, csv_path: Path) -> tuple[float, int]:
    """Seconds for a full (overwrite) run and the number of chips done."""
    t0 = time.perf_counter()
    report = prepare_spacenet(aoi, csv_path, n_bands=n_bands, overwrite=True, workers=workers)
    seconds = time.perf_counter() - t0
    if report.failed:
        raise SystemExit("benchmark run had failures:\n" + "\n".join(report.messages))
    return seconds, report.done


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, append to RESULTS.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=int, default=24, help="chips per run")
    p.add_argument("--chip-size", type=int, default=1300, help="chip side, pixels")
    p.add_argument("--n-bands", type=int, choices=(3, 8), default=3, help="bands per chip")
    p.add_argument("--quick", action="store_true", help="smoke run: 6 chips of 650x650")
    add_record_args(p)
    args = p.parse_args(argv)
    if args.quick:
        args.chips, args.chip_size = 6, 650

    n_cores = cores()
    rows = []
    with tempfile.TemporaryDirectory(prefix="basiss-bench-masks-") as tmp:
        aoi, source = make_data(Path(tmp), args.chips, args.chip_size, args.n_bands)
        prepare_spacenet(aoi, Path(tmp) / "warm.csv", n_bands=args.n_bands, workers=1)  # warm
        for workers in sorted({1, n_cores}):
            seconds, done = timed_run(aoi, workers, args.n_bands, Path(tmp) / "f.csv")
            rows.append((workers, done, seconds, done / seconds, done / seconds / workers))

    size = f"{args.chip_size}x{args.chip_size}x{args.n_bands}"
    print(f"basiss masks benchmark: {size} uint16 chips ({source}), {cpu_model()}, {n_cores} cores")
    print_table(
        ["workers", "chips", "seconds", "chips/s", "chips/s/core"],
        rows,
        [">7", ">6", ">8.2f", ">8.2f", ">13.2f"],
    )
    if len(rows) == 2:
        print(f"speed-up with {rows[1][0]} workers: {rows[1][3] / rows[0][3]:.2f}x")
    print("target: >= 5 chips/s per core")

    if not args.no_record:
        figures = "; ".join(f"{w} worker(s): {rate:.2f} chips/s" for w, _, _, rate, _ in rows)
        record("masks", f"{size} ({source}), {figures}", argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
