"""The prediction writer: both COG outputs or neither, nothing left behind by a failed or
killed write, plain tiled block files for the intermediate steps, multi-class bands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from basiss.inference.stream import Rows
from basiss.inference.writer import write_rows
from basiss.io import cog
from basiss.io.raster import geotiff_profile

H, W = 600, 700


def _profile(count: int = 1) -> dict:
    t = from_origin(500000.0, 4000000.0, 0.5, 0.5)
    return geotiff_profile(W, H, count, "uint8", "EPSG:32611", t, None, 256)


def _rows(count: int = 1, fail_at: int | None = None, pause: float = 0.0) -> Iterator[Rows]:
    """Bands of 100 rows of a ramp; raise at row ``fail_at``; sleep ``pause`` s per band."""
    ramp = (np.arange(W) % 256).astype(np.uint8)
    for r in range(0, H, 100):
        if fail_at is not None and r >= fail_at:
            raise RuntimeError("killed")
        time.sleep(pause)
        prob = np.broadcast_to(ramp, (count, 100, W)).copy()
        yield Rows(r, prob, (prob[0] > 127).astype(np.uint8), np.ones((100, W), bool), 1)


def _write(out: Path, **kw) -> int:
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        return write_rows(_rows(**kw), out / "a_prob.tif", out / "a_mask.tif", _profile())


def test_failed_stream_leaves_no_file_and_keeps_the_old_outputs(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="killed"):
        _write(tmp_path, fail_at=300)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary, no streamed file
    assert _write(tmp_path) == 6
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["a_mask.tif", "a_prob.tif"]
    with pytest.raises(RuntimeError, match="killed"):
        _write(tmp_path, fail_at=300)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_failed_cog_copy_of_one_file_gives_neither(tmp_path, monkeypatch) -> None:
    """The mask's copy succeeds, the probability's fails: neither final file appears."""
    real = cog.cog_copy

    def flaky(src: Path, dst: Path, blocksize: int = 256) -> None:
        if "_prob" in dst.name:
            raise OSError("disk full")
        real(src, dst, blocksize)

    monkeypatch.setattr(cog, "cog_copy", flaky)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_killed_process_leaves_no_final_file(tmp_path) -> None:
    """SIGKILL half-way: no final output; only hidden temporaries named with the dead pid."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "import test_writer as t\n"
        f"t._write(Path({str(tmp_path)!r}), pause=0.5)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    deadline = time.time() + 60
    while not list(tmp_path.glob(".*stream*")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    names = [p.name for p in tmp_path.iterdir()]
    assert names and not [n for n in names if not n.startswith(".")]
    assert all(f".part-{proc.pid}." in n for n in names), names  # clean_leftovers finds them


def test_block_files_are_plain_tiled(tmp_path) -> None:
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_rows(_rows(), tmp_path / "b_prob.tif", tmp_path / "b_mask.tif", _profile(), cog=False)
    with rasterio.open(tmp_path / "b_prob.tif") as ds:
        assert ds.overviews(1) == [] and "LAYOUT" not in ds.tags(ns="IMAGE_STRUCTURE")
        assert ds.descriptions == ("road probability",)


def test_multiclass_bands(tmp_path) -> None:
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_rows(_rows(2), tmp_path / "c_prob.tif", tmp_path / "c_mask.tif", _profile(2))
    with rasterio.open(tmp_path / "c_prob.tif") as p, rasterio.open(tmp_path / "c_mask.tif") as m:
        assert p.descriptions == ("class 1 probability", "class 2 probability")
        assert p.scales == (pytest.approx(1 / 255),) * 2
        assert m.descriptions == ("class index",) and p.overviews(2) == [2]
