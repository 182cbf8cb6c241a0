"""Resumable prediction: a run killed with SIGKILL half-way is finished by the next run
from its block files, pixel for pixel as an uninterrupted run; keys are checked; leftovers
of dead runs are removed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from basiss.grid import chip_grid
from basiss.inference.blocks import block_paths
from basiss.inference.predict import PredictOptions, load_predictor, predict_image
from basiss.inference.resume import (
    KEY_FILE,
    block_dir,
    finished_blocks,
    open_block_dir,
    resume_plan,
    run_key,
)
from basiss.inference.scene import scene_info
from basiss.io.raster import open_raster
from helpers import random_checkpoint

SLICE, STRIDE = (64, 64), (48, 48)
OPTS = dict(blend="cosine", threads=1, show_progress=False, batch_size=2)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", SLICE, STRIDE)


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _image(seed: int, h: int, w: int) -> np.ndarray:
    small = np.random.default_rng(seed).integers(1, 255, (3, h // 8 + 1, w // 8 + 1))
    return np.kron(small, np.ones((1, 8, 8), dtype=np.int64))[:, :h, :w].astype(np.uint8)


def _same(a: Path, b: Path) -> None:
    with rasterio.open(a) as x, rasterio.open(b) as y:
        assert np.array_equal(x.read(), y.read())
        assert np.array_equal(x.dataset_mask(), y.dataset_mask())
        assert (x.transform, x.crs) == (y.transform, y.crs)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from basiss.inference.predict import PredictOptions, load_predictor, predict_image
    image, ckpt, out = sys.argv[1:4]
    pred = load_predictor(ckpt, PredictOptions(**{opts!r}))
    real = pred.engine
    def slow(x):
        time.sleep(0.15)
        return real(x)
    pred.engine = slow
    predict_image(image, pred, out)
    """
)


def test_sigkill_half_way_then_rerun_equals_uninterrupted(ckpt, make_raster, tmp_path):
    img = make_raster(_image(1, 700, 300))
    grid = chip_grid(300, 700, *SLICE, *STRIDE)
    n, cols = len(grid.rows), len(grid.cols)
    assert len(resume_plan(n)) == n == 15  # blocks of one chip row
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".image_prob.part-{_dead_pid()}.tif"  # litter of an older dead run
    stale.write_bytes(b"half")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    script = KILLED_RUN.format(opts=OPTS)
    proc = subprocess.Popen([sys.executable, "-c", script, str(img), str(ckpt), str(out)], env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(out.glob(".image.blocks-*/rows*_prob.tif"))) >= n // 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "image_prob.tif").exists()
    done = len(list(out.glob(".image.blocks-*/rows*_prob.tif")))
    assert n // 2 <= done < n

    resumed = predict_image(img, ckpt, out, PredictOptions(**OPTS))
    full = predict_image(img, ckpt, tmp_path / "full", PredictOptions(**OPTS))
    _same(resumed.prob_path, full.prob_path)
    _same(resumed.mask_path, full.mask_path)
    assert full.chips == full.chips_total
    # the re-run ran the missing rows and one halo row, no more
    assert resumed.chips <= (n - done + 1) * cols < full.chips
    names = sorted(p.name for p in out.iterdir())
    assert names == ["image_item.json", "image_mask.tif", "image_prob.tif"]


def test_blocks_of_another_key_or_broken_files_are_not_reused(ckpt, make_raster, tmp_path):
    img = make_raster(_image(2, 400, 200))
    pred = load_predictor(ckpt, PredictOptions(**OPTS))
    with open_raster(img) as ds:
        scene = scene_info(ds, img, pred.spec, pred.chip, pred.stride)
    plan = resume_plan(len(scene.grid.rows))
    key = run_key(pred.digest, pred.options, pred.chip, pred.stride, img)
    other = run_key(pred.digest, PredictOptions(**dict(OPTS, blend="mean")), SLICE, STRIDE, img)
    assert key != other and len(plan) == len(scene.grid.rows) == 8
    folder = open_block_dir(block_dir(tmp_path, "image", key), key)
    predict_image(img, pred, tmp_path / "full")
    # fill the folder as a run would, then break one block and plant a temp file
    from basiss.inference.blocks import predict_block

    for first, stop in plan[:3]:
        predict_block(pred, scene, first, stop, *block_paths(folder, first, stop))
    broken = block_paths(folder, *plan[1])[0]
    broken.write_bytes(broken.read_bytes()[:100])
    (folder / ".rows000003-000004_prob.part-1.tif").write_bytes(b"x")
    assert sorted(finished_blocks(folder, scene, plan)) == [plan[0], plan[2]]
    # the same folder under another key is emptied, never trusted
    (folder / KEY_FILE).write_text(other)
    open_block_dir(folder, key)
    assert finished_blocks(folder, scene, plan) == {}
    assert sorted(p.name for p in folder.iterdir()) == [KEY_FILE]


def test_rerun_with_a_changed_image_recomputes(ckpt, make_raster, tmp_path):
    img = make_raster(_image(3, 400, 200))
    pred = load_predictor(ckpt, PredictOptions(**OPTS))
    k1 = run_key(pred.digest, pred.options, pred.chip, pred.stride, img)
    time.sleep(0.01)
    img.write_bytes(make_raster(_image(4, 400, 200), name="other.tif").read_bytes())
    assert run_key(pred.digest, pred.options, pred.chip, pred.stride, img) != k1
    # show_progress changes no pixel: same key
    quiet = PredictOptions(**dict(OPTS, show_progress=True))
    assert run_key(pred.digest, quiet, pred.chip, pred.stride, img) == run_key(
        pred.digest, pred.options, pred.chip, pred.stride, img
    )


def test_progress_never_exceeds_total_on_a_resumed_run(ckpt, make_raster, tmp_path, monkeypatch):
    img = make_raster(_image(5, 500, 200))
    pred = load_predictor(ckpt, PredictOptions(**OPTS))
    with open_raster(img) as ds:
        scene = scene_info(ds, img, pred.spec, pred.chip, pred.stride)
    plan = resume_plan(len(scene.grid.rows))
    key = run_key(pred.digest, pred.options, pred.chip, pred.stride, img)
    folder = open_block_dir(block_dir(tmp_path / "o", "image", key), key)
    from basiss.inference.blocks import predict_block

    for first, stop in plan[2:5]:  # an interrupted run finished blocks in the middle
        predict_block(pred, scene, first, stop, *block_paths(folder, first, stop))
    seen = {}
    import basiss.inference.predict as predict_mod

    real = predict_mod.progress

    def spy(**kw):
        bar = real(**dict(kw, disable=False, file=io.StringIO()))
        seen["bar"] = bar
        return bar

    monkeypatch.setattr(predict_mod, "progress", spy)
    out = predict_image(img, pred, tmp_path / "o")
    assert seen["bar"].n == seen["bar"].total == out.chips_total
    assert out.chips < out.chips_total
