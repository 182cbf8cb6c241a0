"""What every benchmark shares: the results file, the machine and command line, tables.

Benchmarks are run as scripts (``python benchmarks/X.py``), so they import this
module after putting their own folder on ``sys.path``::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import add_record_args, record  # noqa: E402

Also here: the synthetic scene and random checkpoint the prediction benchmarks
(predict_memory, predict_throughput, predict_dask, seams) run on, and the
model presets and whole-image scoring of the accuracy benchmarks (train_cil,
sources). Heavy imports (torch, rasterio, basiss) stay inside the functions
that need them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
DATA = ROOT.parent / "shared" / "data"  # cil2016/, cil2022_train/, ... (see its README.md)
HEADER = "# Benchmark results\n\nOne line per run, appended.\n\n"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """The machine a figure was measured on, e.g. ``"2 cores, AMD EPYC"``."""
    return f"{cores()} cores, {cpu_model()}"


def command(argv: Sequence[str] | None = None) -> str:
    """The command line that ran this benchmark, shell-quoted, e.g. ``python benchmarks/x.py -q``.

    Args:
        argv: the arguments after the script (default: ``sys.argv[1:]``).

    Returns:
        ``python``, the script's path relative to the repository (absolute when
        outside it) and the arguments, joined with :func:`shlex.join`.
    """
    script = Path(sys.argv[0]).resolve()
    try:
        shown = script.relative_to(ROOT).as_posix()
    except ValueError:
        shown = str(script)
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", shown, *args])


def results_line(name: str, summary: str, argv: Sequence[str] | None = None) -> str:
    """One RESULTS.md line: ``- YYYY-MM-DD name | machine | `command` | summary``."""
    return f"- {dt.date.today().isoformat()} {name} | {machine()} | `{command(argv)}` | {summary}\n"


def record(name: str, summary: str, argv: Sequence[str] | None = None) -> None:
    """Append one line to benchmarks/RESULTS.md (created with its header if missing).

    Args:
        name: the benchmark (and case), e.g. ``"masks"`` or ``"sources cross"``.
        summary: the settings and figures, one line.
        argv: the arguments after the script, when not ``sys.argv[1:]``.
    """
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    with RESULTS.open("a") as fh:
        fh.write(results_line(name, summary, argv))


def add_record_args(parser: argparse.ArgumentParser, no_results_alias: bool = False) -> None:
    """Add ``--no-record`` (``args.no_record``): do not append to RESULTS.md.

    Args:
        parser: the benchmark's parser.
        no_results_alias: also accept ``--no-results`` (the older name some scripts had).
    """
    names = ["--no-record", "--no-results"] if no_results_alias else ["--no-record"]
    parser.add_argument(
        *names, dest="no_record", action="store_true", help="do not append to RESULTS.md"
    )


def _head_spec(spec: str) -> str:
    """The alignment and width of a format spec (``">8.2f"`` -> ``">8"``), for its header."""
    match = re.match(r"[<>^]?\d*", spec)
    return match.group(0) if match else ""


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence | str],
    formats: Sequence[str],
    sep: str = " ",
    note: str = "",
) -> None:
    """Print a fixed-width table: a header line, then one line per row.

    Args:
        headers: column titles.
        rows: one sequence of values per line; a ``str`` row is printed as it is.
        formats: one format spec per column, with its alignment and width (``"<14"``,
            ``">8.2f"``); a header takes the alignment and width of its column.
        sep: between columns.
        note: appended to the header line after two spaces (when not empty).
    """
    head = sep.join(format(h, _head_spec(f)) for h, f in zip(headers, formats, strict=True))
    print(f"{head}  {note}" if note else head)
    for row in rows:
        if isinstance(row, str):
            print(row)
        else:
            print(sep.join(format(v, f) for v, f in zip(row, formats, strict=True)))


def write_scene(path: Path, width: int, height: int, seed: int = 0, block: int = 512) -> Path:
    """A synthetic 3-band uint8 GeoTIFF (UTM), written in row blocks (memory ~ width).

    Blocky noise plus a few bright (250) straight 'roads', nodata-free.
    """
    import rasterio

    from basiss.io.raster import geotiff_profile

    rng = np.random.default_rng(seed)
    profile = geotiff_profile(
        width,
        height,
        3,
        "uint8",
        "EPSG:32611",
        rasterio.Affine(0.3, 0, 500000.0, 0, -0.3, 4000000.0),
    )
    with rasterio.open(path, "w", **profile) as dst:
        for r in range(0, height, block):
            h = min(block, height - r)
            small = rng.integers(40, 200, (3, h // 8 + 1, width // 8 + 1), dtype=np.uint8)
            arr = np.repeat(np.repeat(small, 8, axis=1), 8, axis=2)[:, :h, :width]
            arr[:, :, 100::700] = 250  # vertical roads
            rows = np.arange(r, r + h)
            arr[:, (rows % 900) < 8, :] = 250  # horizontal roads
            dst.write(np.ascontiguousarray(arr), window=rasterio.windows.Window(0, r, width, h))
    return path


def write_checkpoint(
    path: Path, arch: str, base: int | None, slice_: int, stride: int, vivid: bool = False
) -> Path:
    """A randomly initialised 3-band, 1-class checkpoint (seeded).

    ``vivid``: shrink BatchNorm running variances so the random net's output
    varies across pixels (instead of sitting near 0.5 everywhere).
    """
    import torch

    from basiss.training.checkpoint import ModelSpec, save_checkpoint

    torch.manual_seed(0)
    spec = ModelSpec(
        arch=arch,
        in_channels=3,
        n_classes=1,
        bands=[1, 2, 3],
        arch_kwargs={"base": base} if base else {},
        slice=(slice_, slice_),
        stride=(stride, stride),
    )
    model = spec.build().eval()
    if vivid:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.fill_(0.05)
    return save_checkpoint(path, model, spec)


def score_whole_images(
    best: Path, source: Path, names: set[str] | None = None, limit: int | None = None
) -> dict[str, float]:
    """Pixel metrics of checkpoint ``best`` on the images of ``source``, each read whole.

    One chip per image (the nets are fully convolutional), sized to the largest image
    at the model's zoom rounded up to a multiple of 16; the probability (bilinear) back
    at the images' own resolution, so a model trained with ``--zoom`` is scored against
    the full-resolution masks, as ``basiss predict`` would be; masks thresholded at the
    checkpoint's ``mask_threshold``; probability 0.5; micro-averaged.

    Args:
        best: a checkpoint.
        source: a folder of image/mask pairs.
        names: only these image names (None: all).
        limit: only the first ``limit`` of them (smoke runs).

    Returns:
        :meth:`basiss.training.validation.Validation.metrics` (without ``loss``) plus
        ``images`` (how many).
    """
    import torch
    import torch.nn.functional as F

    from basiss.data.augment import window_size
    from basiss.data.dataset import ChipDataset, chip_index, discover_pairs, image_info
    from basiss.evaluation.metrics import Counts
    from basiss.training.checkpoint import load_checkpoint
    from basiss.training.validation import Validation, batch_counts

    model, spec = load_checkpoint(best)
    pairs = discover_pairs(source)
    infos = [image_info(p, spec.in_channels) for p in pairs]
    chosen = [i for i, p in enumerate(pairs) if names is None or p.name in names][:limit]
    largest = (max(infos[i].width for i in chosen), max(infos[i].height for i in chosen))
    size = window_size(largest, 1.0 / spec.zoom, 0.0)
    size = (-(-size[0] // 16) * 16, -(-size[1] // 16) * 16)  # the nets halve 4 times
    extent = window_size(size, spec.zoom, 0.0)  # the chip's footprint in image pixels
    chips = chip_index(pairs, infos, chosen, extent, extent)
    ds = ChipDataset(pairs, infos, chips, size, spec.normalisation, spec.mask_threshold,
                     spec.n_classes, zoom=spec.zoom)  # fmt: skip
    truth = ChipDataset(pairs, infos, chips, extent, spec.normalisation, spec.mask_threshold,
                        spec.n_classes)  # fmt: skip  # the masks at full resolution
    counts = Counts(0, 0, 0, 0)
    with torch.no_grad():
        for k in range(len(chips)):
            y = torch.from_numpy(truth.read(k)[1])[None]
            logits = model(ds[k][0][None])
            if spec.zoom != 1.0:
                logits = F.interpolate(logits, size=y.shape[-2:], mode="bilinear")
            counts = counts + batch_counts(logits, y, spec.n_classes)
    ds.close()
    truth.close()
    out = Validation(0.0, counts.tp + counts.fp + counts.fn + counts.tn, counts).metrics()
    del out["loss"]
    out["images"] = float(len(chosen))
    return out


def rss_now_mb() -> float:
    """Current resident set size (MB) from /proc."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB; ru_maxrss is KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
